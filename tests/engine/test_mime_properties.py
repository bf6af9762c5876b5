"""Property tests: no input makes the message reader raise anything but PixelWardenError."""

from __future__ import annotations

import base64
import quopri

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pixelwarden import mime
from pixelwarden.leaks import LeakDetector
from pixelwarden.mime import parse_message
from pixelwarden.model import Message, PixelWardenError


def read(data: bytes) -> Message | PixelWardenError:
    try:
        message = parse_message(data, "prop.eml")
    except PixelWardenError as error:
        assert error.code in {"too_large", "unreadable", "not_a_message"}
        return error
    assert isinstance(message, Message)
    for value in (message.html, message.text, message.from_header, message.subject):
        if value is not None:
            value.encode("utf-8")  # no lone surrogates: the result must be JSON-encodable
    for address in message.recipients + ((message.from_address,) if message.from_address else ()):
        assert address == address.lower() and "@" in address
        address.encode("utf-8")
    assert len(set(message.recipients)) == len(message.recipients)
    return message


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes(data):
    read(data)


_HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Cc",
        "Delivered-To",
        "X-Original-To",
        "Subject",
        "Message-ID",
        "Authentication-Results",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Content-Disposition",
        "MIME-Version",
    ]
)
_HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    st.sampled_from(
        [
            "=?utf-8?b?w6k=?= <a@b.example>",
            "=?bogus?q?=FF=00?=",
            "=?utf-8?B?!!!?=",
            "multipart/mixed; boundary=",
            "multipart/alternative; boundary=\"x\"; charset*=utf-8''%FF",
            "text/html; charset*=x-unknown'en'%E9",
            "text/html; charset=\x00",
            "base64",
            "quoted-printable",
            "x-uuencode",
            "mx.example; dmarc=fail (((",
            '"unterminated <a@b.example>',
            "<<<>>>@@@,,,;;;",
        ]
    ),
)


@st.composite
def mime_trees(draw, depth=0):
    """A MIME part (headers and body) with random types, encodings, charsets and bodies."""
    kind = draw(
        st.sampled_from(
            ["text/html", "text/plain", "image/gif", "message/rfc822"]
            + (
                ["multipart/mixed", "multipart/alternative", "multipart/related"]
                if depth < 3
                else []
            )
        )
    )
    charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "shift_jis", "utf-16", "x-bad", ""]))
    cte = draw(st.sampled_from(["", "base64", "quoted-printable", "8bit", "bogus"]))
    headers = f"Content-Type: {kind}" + (f"; charset={charset}" if charset else "")
    if kind.startswith("multipart/"):
        boundary = f"bd{depth}"
        children = draw(st.lists(mime_trees(depth + 1), max_size=3))
        body = b"".join(b"--" + boundary.encode() + b"\n" + child + b"\n" for child in children)
        if draw(st.booleans()):
            body += b"--" + boundary.encode() + b"--\n"
        return f'{headers}; boundary="{boundary}"\n\n'.encode() + body
    if kind == "message/rfc822":
        inner = draw(mime_trees(depth + 1))
        return headers.encode() + b"\n\nFrom: inner@x.example\n" + inner
    body = draw(st.binary(max_size=300))
    if cte == "base64":
        body = base64.encodebytes(body)
        if draw(st.booleans()):
            body = body[: draw(st.integers(0, len(body)))]
    elif cte == "quoted-printable":
        body = quopri.encodestring(body)
    extra = f"\nContent-Transfer-Encoding: {cte}" if cte else ""
    if draw(st.booleans()):
        extra += "\nContent-Disposition: " + draw(st.sampled_from(["inline", "attachment"]))
    return (headers + extra + "\n\n").encode() + body


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=8),
    tree=mime_trees(),
    crlf=st.booleans(),
)
def test_random_mime_trees(headers, tree, crlf):
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    data = head.encode("utf-8", errors="surrogateescape") + tree
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    result = read(data)
    if isinstance(result, Message) and result.html:
        LeakDetector(result.recipients).find(result.html[:500])


_TEMPLATE = (
    b"From: =?utf-8?q?Shop?= <news@shop.example>\n"
    b"To: me@home.example\n"
    b"Authentication-Results: mx.home.example; dmarc=fail header.from=shop.example\n"
    b'Content-Type: multipart/alternative; boundary="b"\n\n'
    b"--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
    b"caf=C3=A9\n"
    b"--b\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
    + base64.encodebytes(b'<p>caf\xc3\xa9</p><img src="https://t.example/o.gif">')
    + b"--b--\n"
)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_TEMPLATE)), st.integers(0, 8), st.binary(max_size=8)),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_valid_message(edits):
    data = bytearray(_TEMPLATE)
    for position, cut, insert in edits:
        position = min(position, len(data))
        data[position : position + cut] = insert
    read(bytes(data))


def test_template_reads_as_expected():
    message = read(_TEMPLATE)
    assert isinstance(message, Message)
    assert message.html is not None and "café" in message.html
    assert message.text == "café" and message.dmarc_fail


# Delimiter lines are found two ways: bytes.find for ordinary bodies, and a regular expression
# compiled for the boundary when a body has very many near-misses. Both must read every body alike.
_LINE = st.sampled_from(
    [
        b"--b",
        b"--b--",
        b"--b  \t",
        b"--b--\r",
        b"--b\r",
        b"--bx",
        b"--b-",
        b"--b --x",
        b" --b",
        b"-b",
        b"text",
        b"",
        b"\r",
        b"--b\x00",
    ]
)


@given(st.lists(_LINE, max_size=12), st.booleans())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_both_ways_of_finding_delimiter_lines_agree(lines: list[bytes], final_nl: bool) -> None:
    body = b"\n".join(lines) + (b"\n" if final_nl else b"")
    assert list(mime._delimiter_lines(body, b"--b")) == list(
        mime._delimiter_lines_scanned(body, b"--b")
    )


def test_a_body_full_of_near_misses_is_split_like_a_plain_one() -> None:
    near_misses = b"".join(b"--bjunk %d\n" % i for i in range(3 * mime._FIND_DELIMITERS_UP_TO))
    body = b"--b\nfirst\n" + near_misses + b"--b\nsecond\n--b--\n"
    parts = mime._split_multipart(body, "b", 100)
    assert parts == [b"first\n" + near_misses[:-1], b"second"]


# The C module's quoted-printable decoder must give binascii's result for any input.
_QP_BYTES = st.lists(
    st.one_of(
        st.sampled_from([b"=", b"==", b"=\r\n", b"=\n", b"=\r", b"\r", b"\n", b"=3D", b"=3d"]),
        st.sampled_from([b"0", b"9", b"a", b"F", b"f", b"G", b"g", b"x", b" ", b"\t", b"\xff"]),
        st.binary(max_size=6),
    ),
    max_size=60,
).map(b"".join)


@settings(max_examples=3000, deadline=None)
@given(_QP_BYTES)
def test_quoted_printable_decoder_matches_binascii(data: bytes) -> None:
    import binascii

    from pixelwarden.mime import decode_quoted_printable

    assert decode_quoted_printable(data) == binascii.a2b_qp(data)
    assert decode_quoted_printable(bytearray(data)) == binascii.a2b_qp(data)
