"""framing.py: byte-exact frames, and what happens to broken ones (in-process)."""

from __future__ import annotations

import io
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pixelwarden.framing import (
    DISCARD_CHUNK,
    MAX_REQUEST_BYTES,
    FrameError,
    decode,
    encode,
    iter_frames,
)


def raw(payload: bytes) -> bytes:
    return struct.pack("=I", len(payload)) + payload


class CountingStream(io.BytesIO):
    """Records the largest single read, to prove that discarding stays in small chunks."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.largest = max(self.largest, len(chunk))
        return chunk


def test_length_counts_utf8_bytes_not_characters() -> None:
    frame = encode({"text": "é€😀"})
    (length,) = struct.unpack("=I", frame[:4])
    payload = frame[4:]
    assert length == len(payload) == len('{"text":"é€😀"}'.encode())
    assert payload == '{"text":"é€😀"}'.encode()  # compact, not ASCII-escaped


def test_header_is_native_endian() -> None:
    frame = encode({"a": 1})
    assert frame[:4] == len(frame[4:]).to_bytes(4, byteorder=__import__("sys").byteorder)


def test_lone_surrogate_is_escaped_not_fatal() -> None:
    frame = encode({"url": "https://x.test/\ud800"})
    assert json.loads(frame[4:].decode("utf-8")) == {"url": "https://x.test/\ud800"}


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
))  # fmt: skip
def test_encode_then_read_round_trips(value: object) -> None:
    frames = list(iter_frames(io.BytesIO(encode({"v": value}) * 2)))
    assert len(frames) == 2
    for item in frames:
        assert isinstance(item, bytes)
        assert decode(item) == {"v": value}


def test_clean_end_between_frames_yields_nothing_more() -> None:
    assert list(iter_frames(io.BytesIO(b""))) == []
    assert list(iter_frames(io.BytesIO(raw(b"{}")))) == [b"{}"]


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_end_inside_the_header_is_a_truncated_frame(cut: int) -> None:
    items = list(iter_frames(io.BytesIO(raw(b"{}") + raw(b'{"id":1}')[:cut])))
    assert items[0] == b"{}"
    assert isinstance(items[1], FrameError) and items[1].code == "truncated_frame"
    assert len(items) == 2


def test_end_inside_the_body_is_a_truncated_frame_with_salvaged_id() -> None:
    items = list(iter_frames(io.BytesIO(raw(b'{"id":42,"type":"hello","x":"abcdef"}')[:20])))
    assert len(items) == 1
    error = items[0]
    assert isinstance(error, FrameError)
    assert error.code == "truncated_frame"
    assert error.request_id == 42


def test_oversized_frame_is_skipped_in_small_chunks_and_the_next_frame_is_read() -> None:
    size = MAX_REQUEST_BYTES + 10
    body = b'{"id":"big-1","type":"classify","pad":"' + b"x" * (size - 44) + b'"}'
    body = body[:size].ljust(size, b" ")
    stream = CountingStream(struct.pack("=I", size) + body + raw(b'{"id":2}'))
    items = list(iter_frames(stream))
    assert isinstance(items[0], FrameError)
    assert items[0].code == "frame_too_large"
    assert items[0].request_id == "big-1"
    assert items[1] == b'{"id":2}'
    assert stream.largest <= max(DISCARD_CHUNK, 4)


def test_oversized_frame_cut_short_ends_input_cleanly() -> None:
    stream = io.BytesIO(struct.pack("=I", 0xFFFFFFFF) + b"[1,2,3")
    items = list(iter_frames(stream))
    assert len(items) == 1
    assert isinstance(items[0], FrameError) and items[0].code == "frame_too_large"
    assert items[0].request_id is None


@pytest.mark.parametrize(
    "payload, error",
    [
        (b"\xff\xfe{}", UnicodeDecodeError),
        (
            b'{"id": "\xed\xa0\x80"}',
            UnicodeDecodeError,
        ),  # an encoded surrogate is not UTF-8
        (b"", ValueError),
        (b"{", ValueError),
        (b'{"id": NaN}', ValueError),
        (b"[" * 100_000 + b"]" * 100_000, ValueError),
    ],
)
def test_decode_refuses(payload: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(payload)


@settings(max_examples=200)
@given(st.binary(max_size=64))
def test_any_bytes_give_frames_or_errors_never_exceptions(data: bytes) -> None:
    for item in iter_frames(io.BytesIO(data)):
        assert isinstance(item, bytes | FrameError)
