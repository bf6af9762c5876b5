"""Where messages come from on disk: single files, mbox files, Maildir folders, folders of files.

`iter_sources(paths)` yields ``(source, raw)`` for every message found, in a stable order:
``raw`` is the message's bytes, ready for `mime.parse_message`, or the `PixelWardenError` that
stopped us from reading it (the walk goes on after an error). ``source`` names the message:
the file's path, or ``path#N`` for the N-th message (1-based) of an mbox file.

Bare HTML documents (``.html``/``.htm``) are yielded as `mime.HtmlDocument`, a `bytes` subclass:
callers that only hand the bytes to `parse_message` need not care, and `parse_message` knows
from the type that there are no headers to read (rather than guessing from the file name).

What is read:
- a path to a file: an mbox if its first line starts with ``From ``, whatever its name; else an
  HTML document if it ends in ``.html``/``.htm``; else one message (``.eml`` or anything else).
  A ``.eml`` file that starts with an mbox ``From `` line but holds one message keeps the plain
  path as its source (some tools save single messages that way).
- a path to a folder, recursively in name order: Maildirs (``cur`` and ``new``; ``tmp`` holds
  messages still being delivered), Maildir++ sub-folders (``.Sent`` ...), ``.eml`` files,
  ``.html``/``.htm`` files, ``.mbox``/``.mbx`` files, and files without an extension that are mbox
  files (Thunderbird's own "Inbox", "Sent" ...). Other files (``.msf`` indexes ...) are skipped.
  A folder with nothing to read gives one "no_messages" error instead of silence.

Error codes: "not_found", "unreadable" (permissions, not a regular file, I/O error), "too_large"
(over `mime.MAX_MESSAGE_BYTES`, checked before reading), "no_messages".

Mbox files are streamed in 1 MiB blocks, so only one message is held in memory at a time (a
message over the size cap is counted, not kept). A message starts at a line beginning with
``From `` that follows an empty line (or starts the file), the rule of mboxo/mboxrd writers, who
quote ``From `` at the start of body lines as ``>From ``; the empty line belongs to the separator.
On reading, one ``>`` is removed from every line matching ``>+From `` (the mboxrd convention; for
mboxo files it restores the usual case, ``>From ``). Files with CRLF line ends work the same way.
A last ``From `` line with nothing after it starts no message.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator

from pixelwarden.mime import MAX_MESSAGE_BYTES, HtmlDocument
from pixelwarden.model import PixelWardenError

Raw = bytes | PixelWardenError

_HTML_SUFFIXES = (".html", ".htm")
_MESSAGE_SUFFIXES = (".eml",)
_MBOX_SUFFIXES = (".mbox", ".mbx")
_MBOX_MARK = b"From "
# Mbox files are read in blocks of this size.
_BLOCK = 1024 * 1024


def iter_sources(paths: Iterable[str]) -> Iterator[tuple[str, Raw]]:
    """Every message under ``paths``, as ``(source, bytes or error)``, in a stable order."""
    for path in paths:
        yield from _iter_path(os.fspath(path))


def _iter_path(path: str) -> Iterator[tuple[str, Raw]]:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        yield path, PixelWardenError("not_found", f"{path}: no such file or folder")
        return
    except OSError as exc:
        yield path, _unreadable(path, exc)
        return
    if stat.S_ISDIR(info.st_mode):
        found = False
        for item in _iter_folder(path, set()):
            found = True
            yield item
        if not found:  # say so rather than print nothing
            message = f"{path}: no .eml, .html, mbox file or Maildir in this folder"
            yield path, PixelWardenError("no_messages", message)
    elif stat.S_ISREG(info.st_mode):
        yield from _iter_file(path, info.st_size)
    else:
        yield (
            path,
            PixelWardenError("unreadable", f"{path}: not a regular file or folder"),
        )


def _unreadable(path: str, exc: OSError) -> PixelWardenError:
    return PixelWardenError("unreadable", f"{path}: {exc.strerror or exc}")


def _too_large(source: str, size: int) -> PixelWardenError:
    limit = MAX_MESSAGE_BYTES // (1024 * 1024)
    return PixelWardenError(
        "too_large",
        f"{source}: {size} bytes, more than the {limit} MiB a message may have",
    )


def _starts_like_mbox(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(_MBOX_MARK)) == _MBOX_MARK


def _iter_file(path: str, size: int, *, may_be_mbox: bool = True) -> Iterator[tuple[str, Raw]]:
    """One file given by the user (or found in a folder): mbox, HTML document or one message."""
    try:
        is_mbox = may_be_mbox and _starts_like_mbox(path)
    except OSError as exc:
        yield path, _unreadable(path, exc)
        return
    if is_mbox:
        yield from _iter_mbox(path, single_keeps_path=path.lower().endswith(_MESSAGE_SUFFIXES))
        return
    if size > MAX_MESSAGE_BYTES:
        yield path, _too_large(path, size)
        return
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MESSAGE_BYTES + 1)
    except OSError as exc:
        yield path, _unreadable(path, exc)
        return
    if len(data) > MAX_MESSAGE_BYTES:  # the file grew since stat()
        yield path, _too_large(path, len(data))
    elif path.lower().endswith(_HTML_SUFFIXES):
        yield path, HtmlDocument(data)
    else:
        yield path, data


def _iter_mbox(path: str, *, single_keeps_path: bool = False) -> Iterator[tuple[str, Raw]]:
    """The messages of an mbox file, streamed. The first message is held back until the second
    one starts, so that a one-message ``.eml`` file can keep its plain path as its source."""
    held: Raw | None = None
    count = 0
    try:
        for raw in _split_mbox(path):
            count += 1
            if held is not None:
                yield f"{path}#{count - 1}", held
            held = raw
    except OSError as exc:
        if held is not None:
            yield f"{path}#{count}", held
        yield (f"{path}#{count + 1}" if count else path), _unreadable(path, exc)
        return
    if held is not None:
        yield (path if count == 1 and single_keeps_path else f"{path}#{count}"), held


def _split_mbox(path: str) -> Iterator[Raw]:
    """The raw messages of an mbox file, with separator lines removed and ``>From `` unquoted;
    a message over the size cap becomes a "too_large" error without being kept in memory.

    The file is read in blocks; ``pending`` holds the current message, from the line break that
    ends its separator line, and is searched for the next separator with `bytes.find`, so the
    cost per byte is C code, not a Python loop per line.
    """
    # A pretend empty line before the file, so that the first "From " line is a separator too.
    pending = bytearray(b"\n\n")
    search_from = 0
    dropped = 0  # bytes of the current message not kept because it is over the cap
    started = False
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_BLOCK)
            pending += block
            while True:
                start = _find_separator(pending, search_from)
                if start is None:  # a separator may still begin on the last line break
                    search_from = max(0, pending.rfind(b"\n"))
                    break
                line_end = pending.find(b"\n", start)
                if line_end < 0 and block:  # the separator line goes on in the next block
                    search_from = start - 1
                    break
                if started:
                    yield _finish(path, bytes(pending[1:start]), dropped)
                dropped = 0
                if line_end < 0:  # a last separator without a line break: no message after it
                    started = False
                    break
                started = True
                del pending[:line_end]  # keep the separator's line break as pending[0]
                search_from = 0
            if not block:
                break
            # Over the cap (in complete lines, or in one endless line): count the rest without
            # keeping it, but keep an unfinished last line of sensible length (it may be the
            # next separator).
            last_break = pending.rfind(b"\n")
            unfinished = len(pending) - last_break - 1
            if max(last_break, unfinished) > MAX_MESSAGE_BYTES + 2:
                keep_from = last_break - 2 if unfinished <= _BLOCK else len(pending) - 3
                dropped += keep_from
                del pending[:keep_from]
                search_from = max(0, search_from - keep_from)
    if started:
        yield _finish(path, bytes(pending[1:]), dropped)


def _find_separator(pending: bytearray, position: int) -> int | None:
    """Where the next separator line ("From " right after an empty line) starts, if any."""
    while (hit := pending.find(b"\nFrom ", position)) != -1:
        if hit >= 1 and (
            pending[hit - 1] == 0x0A
            or (hit >= 2 and pending[hit - 2] == 0x0A and pending[hit - 1] == 0x0D)
        ):
            return hit + 1
        position = hit + 1
    return None


def _finish(path: str, content: bytes, dropped: int) -> Raw:
    """One message of an mbox; the size cap applies to it as stored in the file."""
    # The empty line before the next separator belongs to the separator.
    if content.endswith(b"\r\n") and (len(content) == 2 or content[-3] == 0x0A):
        content = content[:-2]
    elif content.endswith(b"\n") and (len(content) == 1 or content[-2] == 0x0A):
        content = content[:-1]
    if dropped or len(content) > MAX_MESSAGE_BYTES:
        return _too_large(path, dropped + len(content))
    return _unquote_from_lines(content)


def _unquote_from_lines(content: bytes) -> bytes:
    """Remove one ">" from every line matching ">+From " (mboxrd), visiting only the hits."""
    pieces: list[bytes] = []
    copied = 0
    position = 0
    while (hit := content.find(b">From ", position)) != -1:
        start = hit
        while start > 0 and content[start - 1] == 0x3E:  # more ">" before it
            start -= 1
        if start == 0 or content[start - 1] == 0x0A:  # the ">"s open the line
            pieces.append(content[copied:start])
            copied = start + 1
        position = hit + 6
    if not pieces:
        return content
    pieces.append(content[copied:])
    return b"".join(pieces)


def _is_maildir(folder: str) -> bool:
    return os.path.isdir(os.path.join(folder, "cur")) and os.path.isdir(os.path.join(folder, "new"))


def _sorted_entries(folder: str) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _iter_folder(folder: str, visited: set[str]) -> Iterator[tuple[str, Raw]]:
    real = os.path.realpath(folder)
    if real in visited:  # a symbolic link back up the tree
        return
    visited.add(real)
    maildir = _is_maildir(folder)
    try:
        entries = _sorted_entries(folder)
    except OSError as exc:
        yield folder, _unreadable(folder, exc)
        return
    if maildir:
        for sub in ("cur", "new"):
            yield from _iter_maildir_messages(os.path.join(folder, sub))
    for entry in entries:
        path = os.path.join(folder, entry.name)
        try:
            is_dir = entry.is_dir()
            is_file = entry.is_file()
        except OSError as exc:
            yield path, _unreadable(path, exc)
            continue
        if is_dir:
            if maildir and entry.name in ("cur", "new", "tmp"):
                continue
            # Hidden folders are Maildir++ sub-folders inside a Maildir, clutter elsewhere.
            if entry.name.startswith(".") and not maildir:
                continue
            yield from _iter_folder(path, visited)
        elif is_file and not entry.name.startswith("."):
            yield from _iter_folder_file(path, entry)


def _iter_maildir_messages(folder: str) -> Iterator[tuple[str, Raw]]:
    try:
        entries = _sorted_entries(folder)
    except OSError as exc:
        yield folder, _unreadable(folder, exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = os.path.join(folder, entry.name)
        try:
            if not entry.is_file():
                continue
            size = entry.stat().st_size
        except OSError as exc:
            yield path, _unreadable(path, exc)
            continue
        # One file, one message (a leading "From " line is the envelope, which the parser skips).
        yield from _iter_file(path, size, may_be_mbox=False)


def _iter_folder_file(path: str, entry: os.DirEntry[str]) -> Iterator[tuple[str, Raw]]:
    """A file met while walking a folder: read only the kinds of file that hold mail."""
    name = entry.name.lower()
    wanted = name.endswith(_MESSAGE_SUFFIXES + _HTML_SUFFIXES + _MBOX_SUFFIXES)
    try:
        if not wanted and "." not in name:
            wanted = _starts_like_mbox(path)  # Thunderbird's mbox files have no extension
        if not wanted:
            return
        size = entry.stat().st_size
    except OSError as exc:
        yield path, _unreadable(path, exc)
        return
    yield from _iter_file(path, size)
