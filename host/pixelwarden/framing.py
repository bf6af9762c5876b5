"""Native-messaging framing: a 4-byte native-endian length, then that many bytes of UTF-8 JSON.

Byte-exact on purpose: the JSON text is encoded to UTF-8 *before* it is measured, because the
length counts bytes, not characters. Nothing here knows about request types (see protocol.py).

Resynchronisation after an oversized frame (declared length above ``MAX_REQUEST_BYTES``): the
only writer on the other end is Thunderbird, which always writes the whole body it declared, so
the reader reports the frame once and then reads and discards exactly the declared number of
bytes in small chunks; the next 4 bytes are the next frame's header again. Memory stays bounded
whatever the declared size. If input ends while discarding, that is a normal end of input.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

# "=" is native byte order with the standard 4-byte size: exactly what Thunderbird writes.
HEADER = struct.Struct("=I")
# Requests above this are refused (Thunderbird itself allows up to 4 GiB towards the host).
MAX_REQUEST_BYTES = 64 * 1024 * 1024
# Thunderbird drops any host reply above 1 MiB and closes the port; stay safely below.
MAX_REPLY_BYTES = 1_000_000
DISCARD_CHUNK = 64 * 1024

# A request's id written first, as the add-on does: lets an oversized frame be answered by id.
_LEADING_ID = re.compile(rb'\A\s*\{\s*"id"\s*:\s*(-?\d{1,15}|"[^"\\]{0,256}")\s*[,}]')


@dataclass(frozen=True, slots=True)
class FrameError:
    """A frame that could not be read; ``request_id`` is known only if it could be salvaged."""

    code: str  # "frame_too_large" | "truncated_frame"
    message: str
    request_id: int | str | None = None


def encode(reply: dict[str, object]) -> bytes:
    """One frame: compact JSON, UTF-8, length prefix counted in bytes."""
    text = json.dumps(reply, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        payload = text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate that arrived as a JSON escape cannot be UTF-8: escape it back.
        payload = json.dumps(reply, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return HEADER.pack(len(payload)) + payload


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes; fewer only at end of input."""
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _salvage_id(head: bytes) -> int | str | None:
    match = _LEADING_ID.match(head)
    if match is None:
        return None
    value: object = json.loads(match.group(1))
    return value if isinstance(value, int | str) else None


def iter_frames(stream: BinaryIO) -> Iterator[bytes | FrameError]:
    """Every frame's payload, or a FrameError where one could not be read; stops at end of input.

    A clean end of input (between frames) ends the iteration; end of input inside a frame yields
    one ``truncated_frame`` error first.
    """
    while True:
        header = _read_exact(stream, HEADER.size)
        if not header:
            return
        if len(header) < HEADER.size:
            yield FrameError(
                "truncated_frame", f"input ended inside a frame header ({len(header)} of 4 bytes)"
            )
            return
        (length,) = HEADER.unpack(header)
        if length > MAX_REQUEST_BYTES:
            head = _read_exact(stream, min(length, DISCARD_CHUNK))
            yield FrameError(
                "frame_too_large",
                f"request of {length} bytes is over the {MAX_REQUEST_BYTES}-byte limit; skipped",
                _salvage_id(head),
            )
            remaining = length - len(head)
            while remaining > 0 and len(head) > 0:
                head = stream.read(min(remaining, DISCARD_CHUNK))
                remaining -= len(head)
            if remaining > 0:
                return
            continue
        payload = _read_exact(stream, length)
        if len(payload) < length:
            yield FrameError(
                "truncated_frame",
                f"input ended after {len(payload)} of {length} declared bytes",
                _salvage_id(payload),
            )
            return
        yield payload


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def decode(payload: bytes) -> object:
    """The JSON value of one payload; raises UnicodeDecodeError or ValueError (see protocol.py)."""
    text = payload.decode("utf-8")  # strict: invalid UTF-8 is refused, never replaced
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:  # "[[[[...": the C scanner recurses once per level
        raise ValueError("JSON nested too deeply") from exc
    return value


def is_finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
