"""Reading one e-mail: MIME structure, transfer encodings, charsets and the headers we need.

`parse_message` turns the raw bytes of a message into a `model.Message` holding the HTML that
Thunderbird would display, the plain text, the sender and the recipients. It never raises anything
but `PixelWardenError`: a hostile or broken message gives either a `Message` (with whatever could be
decoded) or a structured error.

How it is read: the stdlib `email` header parser (policy ``compat32``) reads each header block;
this module finds the MIME parts itself (see "Structure" below) and interprets every header it
needs. Why ``compat32``: the ``default`` policy parses each header into a structured object when
it is read, and that header parser has a history of raising on malformed input (IndexError,
HeaderParseError, ...) and of quadratic behaviour on crafted headers. ``compat32`` hands back the
raw header strings, so every interpretation (RFC 2047 words, addresses, Authentication-Results)
happens here, where each step is tolerant and tested. Headers are read through `raw_items()`,
which never wraps 8-bit values into `email.header.Header` objects. Why not the stdlib's body
parser: it walks bodies line by line in Python (45 ms for a 1 MB base64 part, 3 ms here) and hands
bodies back through `get_payload`, which replaces 8-bit bytes by U+FFFD or, for base64 it cannot
decode, returns the encoded text.

What Thunderbird displays (and so what we classify):
- multipart/alternative: the last alternative that carries HTML; the plain alternative fills
  `Message.text`. Thunderbird shows the last alternative it can display, which is the HTML one in
  the usual order (plain, then HTML). In the rare reverse order it would show the plain text: we
  still classify the HTML, which can only add decisions for content that never loads, whereas
  skipping HTML that does display would leave its trackers to the add-on's fallback.
- multipart/related: the root part only (the ``start`` parameter, else the first part).
- multipart/mixed and unknown multipart/*: every inline part in order, several HTML parts are
  concatenated; parts with ``Content-Disposition: attachment`` are not shown inline, except
  attached messages.
- message/rfc822 (forwarded or attached mails): displayed inline below the body, so their HTML
  counts too.
- multipart/signed: the signed content; multipart/encrypted: nothing readable.
"""

from __future__ import annotations

import binascii
import codecs
import email.utils
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32

from pixelwarden.model import Message, PixelWardenError

# A message larger than this is refused rather than parsed (the parser holds it in memory a few
# times over). Shared with sources.py, which enforces it while streaming mbox files.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# MIME nesting deeper than this is not walked. Nothing is hidden from the user by this: a URL in a
# deeper part that Thunderbird renders is reported by the add-on and blocked as "undecided".
MAX_MIME_DEPTH = 64

# How far into an HTML part a <meta charset> is looked for (browsers use 1024 bytes; mail
# generators often put a long <style> first, so we look further).
_META_SNIFF_BYTES = 8192


class HtmlDocument(bytes):
    """The bytes of a bare HTML document (a ``.html`` file, no mail headers).

    `sources.iter_sources` yields these for ``.html``/``.htm`` files; they are still `bytes`, so
    callers that only pass raw data on keep working, and `parse_message` recognises the tag and
    reads them as the body of a header-less message.
    """

    __slots__ = ()


# --------------------------------------------------------------------------------------------
# Charsets


# Labels that mail clients send but Python does not know, or where Thunderbird (encoding_rs, the
# WHATWG Encoding Standard) decodes with a superset: e.g. "iso-8859-1" is decoded as
# windows-1252, "gb2312" as gb18030. Keys are lower-case labels with "_" and " " as "-".
_CHARSET_ALIASES = {
    # "us-ascii" on 8-bit text is always a wrong label; decoding it strictly lets the fallbacks
    # (UTF-8 first, the most common truth, then windows-1252 as Thunderbird would) take over.
    "us-ascii": "ascii",
    "ansi-x3.4-1968": "ascii",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso-8859-1:1987": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "windows-1252": "cp1252",
    "x-cp1252": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso8859-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "chinese": "gb18030",
    "csgb2312": "gb18030",
    "ks-c-5601-1987": "cp949",
    "ks-c-5601": "cp949",
    "euc-kr": "cp949",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "ms-kanji": "cp932",
    "windows-31j": "cp932",
    "big5": "big5hkscs",
    "x-mac-roman": "mac-roman",
    "mac": "mac-roman",
    "macintosh": "mac-roman",
    "utf8": "utf-8",
    "x-unicode20utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
}

# Python codecs that are not charsets a mail could be written in (they would reinterpret the
# bytes, e.g. "unicode_escape" expands backslash sequences).
_NOT_CHARSETS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "charmap", "mbcs"}
)

# Decoding with the WHATWG windows-1252 table: the five bytes that Python's cp1252 leaves
# undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to the C1 control of the same value, so this
# decoder accepts every byte sequence. Only ever used with "cp1252".
_C1_ERRORS = "pixelwarden.windows-1252"


def _c1_controls(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return bytes(error.object[error.start : error.end]).decode("latin-1"), error.end


codecs.register_error(_C1_ERRORS, _c1_controls)


def charset_codec(label: str | None) -> str | None:
    """The Python codec for a charset label from a mail, or None if unknown or not a charset."""
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    name = re.split(r"[\s;,]", name, maxsplit=1)[0].replace("_", "-")
    if not name or len(name) > 40:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True):
        return None
    canonical = info.name.replace("_", "-")
    if canonical in _NOT_CHARSETS:
        return None
    return info.name


_META_CHARSET = re.compile(
    rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_:.()+-]+)""", re.IGNORECASE
)


def meta_charset(data: bytes) -> str | None:
    """The charset named by ``<meta charset>`` or ``<meta http-equiv=Content-Type>``, if any."""
    match = _META_CHARSET.search(data, 0, _META_SNIFF_BYTES)
    return match.group(1).decode("ascii") if match else None


_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_text(data: bytes, declared: str | None, *, html: bool = False) -> str:
    """Decode a body or header: byte-order mark, then the declared charset, then UTF-8, then
    (for HTML) the charset of a ``<meta>`` tag, then windows-1252, which accepts any bytes.

    Each candidate must decode the whole input without error to be chosen, so a wrong label
    ("utf-8" on Latin-1 bytes) falls through to the next one instead of producing U+FFFD.
    """
    for bom, bom_codec in _BOMS:
        if data.startswith(bom):
            return data.decode(bom_codec, errors="replace")
    candidates: list[str | None] = [charset_codec(declared), "utf-8"]
    if html:
        candidates.append(charset_codec(meta_charset(data)))
    seen: set[str] = set()
    for codec in candidates:
        if codec is None or codec in seen:
            continue
        if codec.startswith(("utf-16", "utf-32")) and b"\x00" not in data[:_META_SNIFF_BYTES]:
            continue  # a wide charset on text without a single NUL byte is a wrong label
        seen.add(codec)
        try:
            if codec == "cp1252":
                return data.decode("cp1252", errors=_C1_ERRORS)
            return data.decode(codec)
        except (UnicodeError, LookupError, ValueError, TypeError):
            continue
    return data.decode("cp1252", errors=_C1_ERRORS)


def _unescape_8bit(value: str) -> str:
    """Header values parsed from bytes keep raw 8-bit octets as lone surrogates: decode them."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        raw = value.encode("utf-8", errors="surrogateescape")
        return decode_text(raw, None)


# --------------------------------------------------------------------------------------------
# Transfer encodings

_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Every byte that is neither a base64 digit nor padding, for one-pass deletion by translate().
_B64_JUNK = bytes(b for b in range(256) if b not in _B64_ALPHABET + b"=")


def decode_base64_lenient(data: bytes) -> bytes:
    """Base64 as a mail reader sees it: junk characters ignored, padding optional or misplaced.

    Each run between padding signs is decoded on its own (two concatenated encodings stay
    readable); a trailing single character, which cannot carry a whole byte, is dropped.
    """
    out = bytearray()
    for run in data.translate(None, _B64_JUNK).split(b"="):
        usable = len(run) - len(run) % 4
        tail = run[usable:]
        # 2 or 3 leftover characters still carry 1 or 2 whole bytes; 1 carries none.
        run = run[:usable] + tail + b"=" * (4 - len(tail)) if len(tail) >= 2 else run[:usable]
        if run:
            out += binascii.a2b_base64(run)
    return bytes(out)


def decode_quoted_printable(data: bytes) -> bytes:
    """Quoted-printable; broken escapes ("=ZZ", a lone "=") are kept as they are. The C module's
    decoder gives binascii's result (a test holds them together), four to eight times faster on
    a long body."""
    return _qp_decode(data)


try:  # the engine's C module, built with the package when a C compiler is at hand
    from pixelwarden._native import (  # type: ignore[import-not-found]
        decode_quoted_printable as _qp_decode,
    )
except ImportError:  # pragma: no cover - depends on the installation
    _qp_decode = binascii.a2b_qp


# --------------------------------------------------------------------------------------------
# Headers

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def decode_header_value(raw: str | None) -> str:
    """Unfold a header and decode its RFC 2047 encoded words with the usual leniency.

    Adjacent encoded words in the same charset are joined before decoding (mailers split
    multi-byte characters across words), whitespace between encoded words is dropped, unknown
    charsets fall back like bodies do, and malformed words are left as they are.
    """
    if not raw:
        return ""
    text = _FOLD.sub("", _unescape_8bit(raw)).replace("\r", "").replace("\n", " ")
    pieces: list[str] = []
    pending: bytearray = bytearray()
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            pieces.append(decode_text(bytes(pending), pending_charset))
        pending = bytearray()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        if between and not (pending and between.isspace()):
            flush()
            pieces.append(between)
        charset, encoding, payload = match.groups()
        raw_payload = payload.encode("ascii", errors="replace")
        if encoding in "bB":
            decoded = decode_base64_lenient(raw_payload)
        else:
            decoded = binascii.a2b_qp(raw_payload, header=True)
        if pending and charset.lower() != (pending_charset or "").lower():
            flush()
        pending_charset = charset
        pending += decoded
        position = match.end()
    flush()
    pieces.append(text[position:])
    return "".join(pieces).strip()


def _addresses(values: Iterable[str]) -> list[str]:
    """Bare addresses from address headers, lower-cased; anything that is not one is skipped."""
    key = tuple(values)
    if sum(map(len, key)) <= _REMEMBERED_ADDRESS_HEADERS_CHARS:
        return list(_remembered_addresses(key))
    return _read_addresses(key)


# The stdlib address parser costs more than the rest of a small message's headers, and the same
# From and To values come back in message after message (the user's own address above all).
_REMEMBERED_ADDRESS_HEADERS_CHARS = 2048


@functools.lru_cache(maxsize=2048)
def _remembered_addresses(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_read_addresses(values))


def _read_addresses(values: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    # Unfolded first: the stdlib address parser loses addresses after a fold inside quotes.
    cleaned = [_FOLD.sub("", _unescape_8bit(v)[:65536]) for v in values]
    try:
        pairs = email.utils.getaddresses(cleaned)
    except Exception:  # the stdlib address parser is not total on garbage; keep going
        pairs = []
    for _name, address in pairs:
        address = address.strip().strip("<>").strip().lower()
        if "@" in address and len(address) <= 320 and not any(c.isspace() for c in address):
            found.append(address)
    return found


# Authentication-Results (RFC 8601): "authserv-id [version]; method[/version]=result ... ; ..."
_RESINFO = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_.-]+)")


def _strip_comments(value: str) -> str:
    """Remove RFC 5322 comments (nested parentheses), keeping quoted strings intact."""
    out: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            if char == '"':
                quoted = False
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            if char == '"':
                quoted = True
            out.append(char)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class AuthenticationResults:
    """One parsed Authentication-Results header: who wrote it and the method results it gives."""

    authserv_id: str | None
    results: tuple[tuple[str, str], ...]  # (method, result), lower-case

    @classmethod
    def parse(cls, value: str) -> AuthenticationResults:
        segments = _strip_comments(value).split(";")
        head = segments[0].strip()
        authserv_id: str | None = head.split()[0].lower() if head else None
        rest = segments[1:]
        if head and _RESINFO.match(head):
            # No authserv-id at all (seen from broken gateways): the first segment is a result.
            authserv_id = None
            rest = segments
        results = []
        for segment in rest:
            match = _RESINFO.match(segment)
            if match:
                results.append((match.group(1).lower(), match.group(2).lower()))
        return cls(authserv_id, tuple(results))

    def says(self, method: str, result: str) -> bool:
        return (method, result) in self.results


def dmarc_failed(values: list[str]) -> bool:
    """Whether the receiving server's Authentication-Results say ``dmarc=fail``.

    Each server on the way prepends its own header, so only the top-most one is known to come
    from the user's own provider: anything below it was written by servers we cannot vouch for,
    the sender's included, and may be forged or describe an earlier hop (a mailing list re-sends
    mail whose original DMARC check failed). We therefore trust the top-most header, together with
    the other headers carrying the same authserv-id (a receiver's DKIM and DMARC filters often add
    one header each). A forged header below that claims the same id can only add a "fail", which
    removes the sender's first-party allowance: the safe direction.
    """
    if not values:
        return False
    parsed = [AuthenticationResults.parse(_unescape_8bit(v)) for v in values]
    trusted_id = parsed[0].authserv_id
    return any(p.says("dmarc", "fail") for p in parsed if p.authserv_id == trusted_id)


_MESSAGE_ID = re.compile(r"<\s*([^<>\s]+)\s*>")


def _message_id(raw: str | None) -> str | None:
    if not raw:
        return None
    value = _unescape_8bit(raw).strip()
    match = _MESSAGE_ID.search(value)
    if match:
        return match.group(1)
    value = value.strip("<> \t\r\n")
    return value.split()[0] if value else None


# --------------------------------------------------------------------------------------------
# Structure
#
# Parts are found with one regular expression per boundary, following the stdlib parser's rules:
# headers end at the first empty line or at the first line that is neither a header nor a
# continuation (which then starts the body); a delimiter line is "--boundary" at the start of a
# line, optionally followed by "--" (the end), then only spaces and tabs; the line break before a
# delimiter belongs to it; a missing final delimiter ends the last part at the end of the body;
# preamble and epilogue are not shown.

# What the stdlib parser accepts as a header line (email.feedparser.headerRE).
_HEADER_LINE = re.compile(rb"From |[\041-\071\073-\176]*:|[\t ]")
# The first line after the header block: empty, or anything that is not a header line.
_HEADER_END = re.compile(rb"\n(?!From |[\041-\071\073-\176]*:|[\t ])")
_HEADER_PARSER = BytesHeaderParser(policy=compat32)

# Header blocks are cut to this size (Postfix's default limit is 100 KiB): the stdlib header
# parser takes seconds on megabytes of headers.
MAX_HEADER_BYTES = 256 * 1024

# Parts read per message at most: a 64 MiB message of empty parts must not take minutes.
MAX_MIME_PARTS = 10_000


@dataclass(slots=True)
class _Part:
    """One MIME entity: its headers (a header-only stdlib message) and its raw body."""

    headers: EmailMessage
    body: bytes

    @classmethod
    def read(cls, data: bytes, default_type: str = "text/plain") -> _Part:
        head, body = _split_head(data)
        headers = _HEADER_PARSER.parsebytes(head)
        if default_type != "text/plain":
            headers.set_default_type(default_type)
        return cls(headers, body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.raw_items():
            if key.lower() == name:
                return str(value)
        return None

    @property
    def content_type(self) -> str:
        try:
            return self.headers.get_content_type()
        except Exception:  # malformed parameters: RFC 2045 says treat as text/plain
            return "text/plain"

    @property
    def charset(self) -> str | None:
        try:
            charset = self.headers.get_content_charset()
        except Exception:  # RFC 2231 parameters with unknown charsets, odd tuples
            return None
        return charset if isinstance(charset, str) else None

    @property
    def disposition(self) -> str:
        value = self.header("content-disposition")
        return value.split(";", 1)[0].strip().strip("\"'").lower() if value else ""

    @property
    def transfer_encoding(self) -> str:
        return (self.header("content-transfer-encoding") or "").strip().strip("\"'").lower()

    def param(self, name: str) -> str | None:
        try:
            value = self.headers.get_param(name)
        except Exception:
            return None
        if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
            value = value[2]
        return value if isinstance(value, str) else None

    def decoded_body(self) -> bytes:
        encoding = self.transfer_encoding
        if encoding == "base64":
            return decode_base64_lenient(self.body)
        if encoding == "quoted-printable":
            return decode_quoted_printable(self.body)
        return self.body

    def text(self, *, html: bool) -> str:
        return decode_text(self.decoded_body(), self.charset, html=html)


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    """The header block and the body of an entity (header block capped, see MAX_HEADER_BYTES)."""
    if not _HEADER_LINE.match(data):  # no header at all; an empty first line is the separator
        for separator in (b"\n", b"\r\n"):
            if data.startswith(separator):
                return b"", data[len(separator) :]
        return b"", data
    end = _HEADER_END.search(data)
    if end is None:
        return data, b""
    head_end = body_start = end.end()
    for separator in (b"\n", b"\r\n"):
        if data.startswith(separator, head_end):
            body_start += len(separator)
            break
    if head_end > MAX_HEADER_BYTES:  # like a mail server, drop the excess header lines
        head_end = data.rfind(b"\n", 0, MAX_HEADER_BYTES) + 1
    return data[:head_end], data[body_start:]


def _split_multipart(body: bytes, boundary: str, limit: int) -> list[bytes] | None:
    """The bodies of the parts of a multipart body (at most ``limit``), or None when no delimiter
    line is found.

    Regular expressions find the delimiter lines, so a body full of near-misses ("--b" + junk on
    every line) costs a C scan, not a Python loop per line.
    """
    if not boundary:
        return None
    delimiter = b"--" + boundary.encode("utf-8", errors="surrogateescape")
    if body.count(b"\n" + delimiter) <= _FIND_DELIMITERS_UP_TO:
        lines: Iterable[tuple[int, int, bool]] = _delimiter_lines(body, delimiter)
    else:
        lines = _delimiter_lines_scanned(body, delimiter)
    parts: list[bytes] = []
    start: int | None = None  # where the current part's content begins
    for line_start, line_end, closing in lines:
        if start is not None:
            end = max(start, line_start - 1)  # the line break before a delimiter belongs to it
            if end > start and body[end - 1] == 0x0D:
                end -= 1
            parts.append(body[start:end])
        if closing or len(parts) >= limit:
            return parts
        start = line_end + 1  # past the line break (or the end of the body)
    if start is None:
        return None
    parts.append(body[start:])  # no final delimiter: the last part runs to the end
    return parts


# Every message has its own boundary, so a regular expression made for it is compiled once and
# used once (0.3 to 0.7 ms, more than the rest of a small message's MIME). Up to this many
# candidate lines, they are found with bytes.find and checked with one shared expression.
_FIND_DELIMITERS_UP_TO = 1000
_DELIMITER_REST_OF_LINE = re.compile(rb"(--)?[ \t]*\r?(?=\n|\Z)")


def _delimiter_lines(body: bytes, delimiter: bytes) -> Iterable[tuple[int, int, bool]]:
    """(start, end, closing) of each delimiter line: the delimiter at the start of a line, then
    "--" for the closing one, white space, and the end of the line or of the body."""
    rest = _DELIMITER_REST_OF_LINE.match
    marker = b"\n" + delimiter
    at = 0 if body.startswith(delimiter) else body.find(marker) + 1 or -1
    while at >= 0:
        m = rest(body, at + len(delimiter))
        if m is not None:
            yield at, m.end(), m.group(1) is not None
        at = body.find(marker, at) + 1 or -1


def _delimiter_lines_scanned(body: bytes, delimiter: bytes) -> Iterable[tuple[int, int, bool]]:
    """The same lines, for a body with very many near-misses ("--b" + junk on every line): a
    regular expression made for this boundary keeps the scan in C."""
    escaped = re.escape(delimiter)
    rest_of_line = _DELIMITER_REST_OF_LINE.pattern
    first = re.compile(escaped + rest_of_line).match(body)
    if first is not None:
        yield 0, first.end(), first.group(1) is not None
    for m in re.compile(rb"\n" + escaped + rest_of_line).finditer(body):
        yield m.start() + 1, m.end(), m.group(1) is not None


# --------------------------------------------------------------------------------------------
# What Thunderbird shows


@dataclass(slots=True)
class _Shown:
    """What Thunderbird would show for a (sub)tree of parts."""

    html: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def extend(self, other: _Shown) -> None:
        self.html.extend(other.html)
        self.text.extend(other.text)


_LOOKS_LIKE_HTML = re.compile(rb"<\s*(?:!doctype\s+html|html|body|head|img|table|div)\b", re.I)


class _Reader:
    """Walks one message's MIME tree, counting parts against the budget."""

    def __init__(self) -> None:
        self.parts = 0

    def show(self, part: _Part, depth: int, *, top: bool = False) -> _Shown:
        shown = _Shown()
        self.parts += 1
        if depth > MAX_MIME_DEPTH or self.parts > MAX_MIME_PARTS:
            return shown
        main, _, sub = part.content_type.partition("/")
        if main == "multipart":
            return self._show_multipart(part, sub, depth)
        if main == "message" and sub in ("rfc822", "global"):
            # Attached and forwarded messages are displayed inline, below the body. Base64 or
            # quoted-printable here is not allowed by RFC 2046 but is sent anyway.
            inner = _Part.read(part.decoded_body())
            return self.show(inner, depth + 1, top=True)
        if main == "text" and sub in ("html", "plain"):
            if not top and part.disposition == "attachment":
                return shown
            if sub == "html":
                shown.html.append(part.text(html=True))
            else:
                shown.text.append(part.text(html=False))
        return shown

    def _show_multipart(self, part: _Part, sub: str, depth: int) -> _Shown:
        shown = _Shown()
        boundary = part.param("boundary")
        budget = max(0, MAX_MIME_PARTS - self.parts)
        bodies = _split_multipart(part.body, boundary, budget) if boundary else None
        if bodies is None:
            # No usable boundary: Thunderbird's view of it varies, so we read it as HTML if it
            # looks like HTML (classifying too much is harmless, too little is not).
            body = part.decoded_body()
            if _LOOKS_LIKE_HTML.search(body, 0, _META_SNIFF_BYTES):
                shown.html.append(decode_text(body, part.charset, html=True))
            return shown
        default = "message/rfc822" if sub == "digest" else "text/plain"
        children = [_Part.read(body, default) for body in bodies]
        if not children:
            return shown
        if sub == "alternative":
            alternatives = [self.show(child, depth + 1) for child in children]
            with_html = [a for a in alternatives if a.html]
            with_text = [a for a in alternatives if a.text]
            if with_html:
                shown.html.extend(with_html[-1].html)
            if with_text:
                shown.text.extend(with_text[-1].text)
            return shown
        if sub == "related":
            return self.show(_related_root(part, children), depth + 1)
        if sub == "signed":
            return self.show(children[0], depth + 1)
        if sub == "encrypted":
            return shown
        for child in children:  # mixed, report, digest, and any unknown multipart
            if child.disposition == "attachment" and not child.content_type.startswith("message/"):
                continue
            shown.extend(self.show(child, depth + 1))
        return shown


def _related_root(part: _Part, children: list[_Part]) -> _Part:
    start = part.param("start")
    if start and start.strip():
        wanted = start.strip().strip("<>")
        for child in children:
            if (child.header("content-id") or "").strip().strip("<>") == wanted:
                return child
    return children[0]


# --------------------------------------------------------------------------------------------
# Entry points


def _check_size(data: bytes, source: str) -> None:
    if len(data) > MAX_MESSAGE_BYTES:
        raise PixelWardenError(
            "too_large",
            f"{source}: {len(data)} bytes, more than the {MAX_MESSAGE_BYTES // (1024 * 1024)} MiB "
            "a message may have",
        )


def message_from_html(data: bytes, source: str) -> Message:
    """A bare HTML document (no headers) read as the body of an anonymous message."""
    _check_size(data, source)
    try:
        html = decode_text(bytes(data), None, html=True)
    except Exception as exc:  # decode_text is total; this only guards against the unforeseen
        raise PixelWardenError("unreadable", f"{source}: {type(exc).__name__}") from exc
    return Message(
        source=source,
        message_id=None,
        from_header="",
        from_address=None,
        recipients=(),
        html=html,
        text=None,
    )


def parse_message(data: bytes, source: str) -> Message:
    """Parse the raw bytes of one e-mail (or an `HtmlDocument`) into a `Message`.

    Raises only `PixelWardenError`: "too_large" over `MAX_MESSAGE_BYTES`, "not_a_message" when
    there is no header at all and nothing that looks like HTML, "unreadable" for anything the
    parser cannot cope with.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PixelWardenError("unreadable", f"{source}: expected bytes, got {type(data).__name__}")
    _check_size(bytes(data) if isinstance(data, memoryview) else data, source)
    if isinstance(data, HtmlDocument):
        return message_from_html(data, source)
    try:
        return _parse(bytes(data), source)
    except PixelWardenError:
        raise
    except Exception as exc:  # the stdlib parser on hostile input: report, never crash
        raise PixelWardenError(
            "unreadable", f"{source}: cannot parse this message ({type(exc).__name__})"
        ) from exc


def _parse(data: bytes, source: str) -> Message:
    stripped = data.lstrip(b"\r\n\t ")
    top = _Part.read(stripped)
    headers: dict[str, list[str]] = {}
    for name, value in top.headers.raw_items():
        headers.setdefault(name.strip().lower(), []).append(str(value))
    if not headers:
        if _LOOKS_LIKE_HTML.search(stripped, 0, _META_SNIFF_BYTES):
            return message_from_html(stripped, source)
        raise PixelWardenError("not_a_message", f"{source}: no mail headers and no HTML found")

    def first(name: str) -> str | None:
        values = headers.get(name)
        return values[0] if values else None

    from_raw = first("from")
    from_list = _addresses([from_raw]) if from_raw else []
    recipients: list[str] = []
    for name in ("to", "cc", "delivered-to", "x-original-to"):
        for address in _addresses(headers.get(name, [])):
            if address not in recipients:
                recipients.append(address)

    shown = _Reader().show(top, 0, top=True)
    subject = first("subject")
    return Message(
        source=source,
        message_id=_message_id(first("message-id")),
        from_header=decode_header_value(from_raw),
        from_address=from_list[0] if from_list else None,
        recipients=tuple(recipients),
        html="\n".join(shown.html) if shown.html else None,
        text="\n".join(shown.text) if shown.text else None,
        dmarc_fail=dmarc_failed(headers.get("authentication-results", [])),
        subject=decode_header_value(subject) if subject is not None else None,
    )
