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

Mbox files are streamed line by line, so only one message is held in memory at a time. A message
starts at a line beginning with ``From `` that follows an empty line (or starts the file), the
rule of mboxo/mboxrd writers, who quote ``From `` at the start of body lines as ``>From ``. On
reading, one ``>`` is removed from every line matching ``>+From `` (the mboxrd convention; for
mboxo files it restores the usual case, ``>From ``). Files with CRLF line ends work the same way.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator

from pixelwarden.mime import MAX_MESSAGE_BYTES, HtmlDocument
from pixelwarden.model import PixelWardenError

Raw = bytes | PixelWardenError

_HTML_SUFFIXES = (".html", ".htm")
_MESSAGE_SUFFIXES = (".eml",)
_MBOX_SUFFIXES = (".mbox", ".mbx")
_MBOX_MARK = b"From "
# Lines are read in pieces of at most this size, so a file without line breaks cannot make us
# read it whole.
_LINE_PIECE = 1024 * 1024
_QUOTED_FROM = re.compile(rb">+From ")
_PARTIAL_QUOTED_FROM = re.compile(rb">+(?:F(?:r(?:om?)?)?)?")
_BLANK_LINES = (b"\n", b"\r\n")


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
        yield from _iter_folder(path, set())
    elif stat.S_ISREG(info.st_mode):
        yield from _iter_file(path, info.st_size)
    else:
        yield path, PixelWardenError("unreadable", f"{path}: not a regular file or folder")


def _unreadable(path: str, exc: OSError) -> PixelWardenError:
    return PixelWardenError("unreadable", f"{path}: {exc.strerror or exc}")


def _too_large(source: str, size: int) -> PixelWardenError:
    limit = MAX_MESSAGE_BYTES // (1024 * 1024)
    return PixelWardenError(
        "too_large", f"{source}: {size} bytes, more than the {limit} MiB a message may have"
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
    a message over the size cap becomes a "too_large" error without being kept in memory."""
    lines: list[bytes] = []
    size = 0
    started = False
    line_start = True  # the current piece begins a line
    after_blank = True  # the previous line was empty (or there was none)

    def finish() -> Raw:
        if size > MAX_MESSAGE_BYTES:
            return _too_large(path, size)
        if lines and lines[-1] in _BLANK_LINES:  # the empty line before "From " separates
            lines.pop()
        return b"".join(lines)

    in_separator = False  # inside a separator line read in several pieces
    with open(path, "rb") as handle:
        while piece := handle.readline(_LINE_PIECE):
            begins_line = line_start
            line_start = piece.endswith(b"\n")
            if in_separator:
                in_separator = not line_start
                continue
            if begins_line and after_blank and piece.startswith(_MBOX_MARK):
                if started:
                    yield finish()
                started = True
                lines = []
                size = 0
                after_blank = False
                in_separator = not line_start
                continue
            if begins_line and piece.startswith(b">"):
                # A quoted line cut into pieces: read on until ">+From " is decided.
                while (
                    not line_start
                    and len(piece) < 4 * _LINE_PIECE
                    and _PARTIAL_QUOTED_FROM.fullmatch(piece)
                    and (more := handle.readline(_LINE_PIECE))
                ):
                    piece += more
                    line_start = piece.endswith(b"\n")
                if _QUOTED_FROM.match(piece):
                    piece = piece[1:]
            size += len(piece)
            if size <= MAX_MESSAGE_BYTES:
                lines.append(piece)
            elif lines:
                lines = []  # over the cap: stop keeping it, only count
            after_blank = begins_line and piece in _BLANK_LINES
    if started:
        yield finish()


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
