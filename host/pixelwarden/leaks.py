"""Finding the recipient's own address inside a URL: plain, encoded or hashed.

A URL that carries the address (or a hash of it) tells the sender who opened the mail, whatever
else the URL looks like, so any hit makes the resource a tracker (`Reason.ADDRESS_LEAK`).

Every form of every address is computed once, in `LeakDetector.__init__`; `find` then only runs
substring searches over a few views of the URL:
- the URL as written, percent-decoded once and percent-decoded twice (double-encoded links),
- lower-cased for the address itself and hexadecimal digests (hex is case-insensitive),
- case kept, with the URL-safe base64 alphabet folded onto the standard one, for base64.

Base64 at any alignment: an address encoded inside a longer value (``base64("e=a@b.example&x=1")``)
does not produce the same characters as the address encoded alone; which characters it produces
depends only on the address's offset modulo 3. For each of the 3 offsets we keep the characters
whose 6 bits come entirely from the address, so padding, neighbours and alphabet do not matter.

The same is done for the percent-encoded address ("jane%40example.org"), which is what sits
inside a base64-encoded query string.

The address is normalised (surrounding white space removed, lower-cased) before hashing, which is
what mailing services document for their hashed-address parameters. CRC-32 is looked for as 8 hex
digits and as a decimal number (unsigned, and signed as Java and JavaScript print it) with no digit
right before or after it, and only when it has at least 6 digits: shorter numbers are everywhere.
Nothing short of the local part is searched, so a URL on the recipient's own domain is no leak.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

# The names of the encodings, in the fixed order in which they are reported.
LEAK_ENCODINGS = (
    "plain",
    "urlencoded",
    "base64",
    "md5",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "crc32",
)
_ORDER = {name: index for index, name in enumerate(LEAK_ENCODINGS)}
_HASHES = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")

# A decimal CRC-32 shorter than this is too likely to appear by chance (ids, timestamps parts).
_MIN_DECIMAL_CRC_DIGITS = 6


def normalise_address(address: str) -> str | None:
    """The form of an address that is searched and hashed, or None if it is not an address."""
    value = address.strip().lower()
    if value.endswith(">") and "<" in value:  # "Jane Doe <jane@example.org>" from a setting
        value = value[value.rindex("<") + 1 : -1].strip()
    if len(value) < 3 or "@" not in value or any(c.isspace() for c in value):
        return None
    return value


def base64_cores(data: bytes) -> tuple[str, str, str]:
    """The base64 characters that encode only ``data``, for each of its 3 possible alignments.

    Character i of a base64 text carries bits [6i, 6i + 6) of the byte stream; placed at byte
    offset k, the data occupies bits [8k, 8k + 8n), and the characters entirely inside that range
    are the same whatever surrounds the data.
    """
    cores = []
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data + b"\0\0").decode("ascii")
        first = -(-8 * offset // 6)
        last = 8 * (offset + len(data)) // 6
        cores.append(encoded[first:last])
    return cores[0], cores[1], cores[2]


class _AddressForms:
    """Everything that is searched for one address, computed once."""

    __slots__ = ("address", "base64", "hashes", "crc_hex", "crc_decimal")

    def __init__(self, address: str) -> None:
        raw = address.encode("utf-8")
        self.address = address
        # The address as written, and percent-encoded as it is inside an encoded query string
        # ("email=jane%40example.org&id=7" then base64): both are seen in tracking links.
        texts = dict.fromkeys([raw, quote(address, safe="").encode("ascii")])
        self.base64 = tuple(core for text in texts for core in base64_cores(text) if len(core) >= 6)
        self.hashes = tuple((name, hashlib.new(name, raw).hexdigest()) for name in _HASHES)
        crc = zlib.crc32(raw) & 0xFFFFFFFF
        self.crc_hex = f"{crc:08x}"
        decimals = {str(crc)}
        if crc >= 0x80000000:  # the same checksum as a signed 32-bit integer (Java, JavaScript)
            decimals.add(str(crc - 0x100000000))
        self.crc_decimal = tuple(
            d for d in sorted(decimals) if len(d.lstrip("-")) >= _MIN_DECIMAL_CRC_DIGITS
        )


@lru_cache(maxsize=1024)
def _forms_of(address: str) -> _AddressForms:
    """The forms of a normalised address, remembered: the same recipient (the user) gets most
    messages, and its eight digests cost more than classifying a small message."""
    return _AddressForms(address)


def _has_decimal(view: str, number: str) -> bool:
    """``number`` occurs in ``view`` with no digit right before or after it."""
    start = view.find(number)
    while start != -1:
        end = start + len(number)
        before_ok = start == 0 or not view[start - 1].isdigit()
        after_ok = end == len(view) or not view[end].isdigit()
        if before_ok and after_ok:
            return True
        start = view.find(number, start + 1)
    return False


class LeakDetector:
    """Searches URLs for a fixed set of recipient addresses (To, Cc, identities...)."""

    __slots__ = ("_forms", "_lower_needles", "_base64_needles")

    def __init__(self, addresses: Iterable[str]) -> None:
        seen: dict[str, _AddressForms] = {}
        for address in addresses:
            normal = normalise_address(address)
            if normal is not None and normal not in seen:
                seen[normal] = _forms_of(normal)
        self._forms = tuple(seen.values())
        # Every string `find` looks for, for a quick "none of them is there" (most URLs): those
        # searched in the lower-cased views, and the base64 cores (case kept, standard alphabet).
        lower: dict[str, None] = {}
        b64: dict[str, None] = {}
        for forms in self._forms:
            lower[forms.address] = None
            lower.update(dict.fromkeys(digest for _, digest in forms.hashes))
            lower[forms.crc_hex] = None
            lower.update(dict.fromkeys(forms.crc_decimal))
            b64.update(dict.fromkeys(forms.base64))
        self._lower_needles = tuple(lower)
        self._base64_needles = tuple(b64)

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(forms.address for forms in self._forms)

    def find(self, url: str) -> tuple[str, ...]:
        """The encodings in which any of the addresses appears in ``url``, in `LEAK_ENCODINGS`
        order (empty when the URL does not carry any of them)."""
        if not self._forms or not url:
            return ()
        if "%" not in url:  # the common case: one view of each kind, plain loops
            lowered_url = url.lower()
            for needle in self._lower_needles:
                if needle in lowered_url:
                    break
            else:
                standard_url = _standard_base64(url)
                for needle in self._base64_needles:
                    if needle in standard_url:
                        break
                else:
                    return ()
        views = [url]
        if "%" in url:
            once = _percent_decode(url)
            views.append(once)
            if "%" in once:
                twice = _percent_decode(once)
                if twice != once:
                    views.append(twice)
        lowered = [view.lower() for view in views]
        # "+", "/" and "=" of standard base64 are often percent-encoded, so every view counts.
        standard = [_standard_base64(view) for view in views]
        if len(views) > 1 and not self._any_needle(lowered, standard):
            return ()  # (a URL without "%" has only its own view, checked above)
        raw = lowered[0]
        found: set[str] = set()
        for forms in self._forms:
            address = forms.address
            if address in raw:
                found.add("plain")
            # Percent-decoding only ever adds occurrences: more than the raw URL had means at
            # least one of them was written percent-encoded.
            for view in lowered[1:]:
                if address in view and view.count(address) > raw.count(address):
                    found.add("urlencoded")
            for view in lowered:  # a URL encoder may escape even hex digits ("%61" for "a")
                for name, digest in forms.hashes:
                    if digest in view:
                        found.add(name)
                if forms.crc_hex in view:
                    found.add("crc32")
                for decimal in forms.crc_decimal:
                    if decimal in view and _has_decimal(view, decimal):
                        found.add("crc32")
        for forms in self._forms:
            for core in forms.base64:
                for view in standard:
                    if core in view:
                        found.add("base64")
                        return tuple(sorted(found, key=_ORDER.__getitem__))
        return tuple(sorted(found, key=_ORDER.__getitem__))

    def _any_needle(self, lowered: list[str], standard: list[str]) -> bool:
        """Whether any searched string occurs in a view at all (every hit needs one)."""
        for view in lowered:
            for needle in self._lower_needles:
                if needle in view:
                    return True
        for view in standard:
            for needle in self._base64_needles:
                if needle in view:
                    return True
        return False


def _standard_base64(text: str) -> str:
    """``text`` with the URL-safe base64 alphabet folded onto the standard one."""
    return text.replace("-", "+").replace("_", "/")


def _percent_decode(text: str) -> str:
    """Percent-decoding as a server does it: bytes, then UTF-8 (invalid sequences replaced)."""
    return unquote_to_bytes(text).decode("utf-8", errors="replace")


def find_leaks(url: str, addresses: Iterable[str]) -> tuple[str, ...]:
    """The encodings in which any of ``addresses`` appears in ``url`` (see `LeakDetector`).

    Builds a detector on every call; callers checking many URLs against the same addresses
    should keep one `LeakDetector`.
    """
    return LeakDetector(addresses).find(url)
