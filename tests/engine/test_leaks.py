"""The recipient's address inside a URL, in every encoding `leaks.py` knows."""

from __future__ import annotations

import base64
import hashlib
import zlib
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pixelwarden.leaks import LEAK_ENCODINGS, LeakDetector, base64_cores, find_leaks

ADDRESS = "Jane.Doe+news@Mail.Example.org"
NORMAL = ADDRESS.lower()
OTHER = "someone.else@example.net"


def b64(data: bytes, *, urlsafe: bool = False, padded: bool = True) -> str:
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    return text if padded else text.rstrip("=")


def test_plain_address_in_query_any_case():
    url = "https://t.example.com/open?e=JANE.DOE+NEWS@mail.example.org&c=1"
    assert find_leaks(url, [ADDRESS]) == ("plain",)


def test_address_with_surrounding_white_space_is_normalised():
    assert find_leaks(f"https://t.example.com/?e={NORMAL}", ["  " + ADDRESS + "\n"]) == ("plain",)


@pytest.mark.parametrize(
    "written",
    [
        "jane.doe%2Bnews%40mail.example.org",  # everything encoded
        "jane.doe+news%40mail.example.org",  # only the at sign
        "jane.doe%2bnews@mail.example.org",  # only the plus, lower-case hex
        "%6A%61%6E%65.doe%2Bnews%40mail.example.org",  # letters encoded too
    ],
)
def test_percent_encoded_address(written):
    assert find_leaks(f"https://t.example.com/o?r={written}", [ADDRESS]) == ("urlencoded",)


def test_double_percent_encoded_address():
    once = quote(NORMAL, safe="")
    twice = quote(once, safe="")
    assert "%25" in twice
    assert find_leaks(f"https://t.example.com/o?r={twice}", [ADDRESS]) == ("urlencoded",)


def test_plus_as_space_is_not_the_address():
    # A form-encoded "+" means a space; "jane.doe news@..." is not the recipient's address.
    url = "https://t.example.com/o?r=jane.doe%20news%40mail.example.org"
    assert find_leaks(url, [ADDRESS]) == ()


def test_both_plain_and_encoded_forms_are_reported():
    url = f"https://t.example.com/o?a={NORMAL}&b={quote(NORMAL, safe='')}"
    assert find_leaks(url, [ADDRESS]) == ("plain", "urlencoded")


@pytest.mark.parametrize("urlsafe", [False, True])
@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("prefix", [b"", b"e=", b"em=", b"email="])
def test_base64_any_alphabet_padding_and_alignment(urlsafe, padded, prefix):
    token = b64(prefix + NORMAL.encode() + b"&list=42", urlsafe=urlsafe, padded=padded)
    assert find_leaks(f"https://t.example.com/c/{token}", [ADDRESS]) == ("base64",)


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy"])
def test_base64_of_the_address_alone(prefix):
    token = b64(prefix + NORMAL.encode())
    assert find_leaks(f"https://t.example.com/o?u={token}", [ADDRESS]) == ("base64",)


def test_base64_with_percent_encoded_plus_slash_and_padding():
    # Chosen so that the standard encoding holds "+" or "/": they get percent-encoded in URLs.
    address = "~~~~~~>>>@example.com"
    token = b64(address.encode())
    assert "+" in token or "/" in token
    url = "https://t.example.com/o?u=" + quote(token, safe="")
    assert find_leaks(url, [address]) == ("base64",)


def test_base64_alignment_cores_are_prefix_independent():
    data = NORMAL.encode()
    cores = base64_cores(data)
    for prefix in (b"", b"a", b"ab", b"abc", b"abcd", b"abcde"):
        encoded = base64.b64encode(prefix + data + b"tail").decode()
        assert cores[len(prefix) % 3] in encoded


def test_base64_case_matters():
    token = b64(NORMAL.encode()).swapcase()
    assert find_leaks(f"https://t.example.com/o?u={token}", [ADDRESS]) == ()


@pytest.mark.parametrize("name", ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"])
@pytest.mark.parametrize("upper", [False, True])
def test_hex_digests(name, upper):
    digest = hashlib.new(name, NORMAL.encode()).hexdigest()
    digest = digest.upper() if upper else digest
    assert find_leaks(f"https://t.example.com/p/{digest}.gif", [ADDRESS]) == (name,)


def test_digest_of_the_unnormalised_address_is_not_claimed():
    # We hash the normalised form; a digest of other bytes must not be reported as a leak.
    digest = hashlib.md5(ADDRESS.encode()).hexdigest()
    assert find_leaks(f"https://t.example.com/p/{digest}.gif", [ADDRESS]) == ()


def test_crc32_hex():
    crc = zlib.crc32(NORMAL.encode()) & 0xFFFFFFFF
    assert find_leaks(f"https://t.example.com/p?h={crc:08X}", [ADDRESS]) == ("crc32",)
    assert find_leaks(f"https://t.example.com/p?h={crc:08x}", [ADDRESS]) == ("crc32",)


def test_crc32_decimal_needs_non_digit_neighbours():
    crc = zlib.crc32(NORMAL.encode()) & 0xFFFFFFFF
    assert find_leaks(f"https://t.example.com/p?h={crc}&x=1", [ADDRESS]) == ("crc32",)
    assert find_leaks(f"https://t.example.com/p/{crc}", [ADDRESS]) == ("crc32",)
    assert find_leaks(f"https://t.example.com/p?h=7{crc}", [ADDRESS]) == ()
    assert find_leaks(f"https://t.example.com/p?h={crc}0", [ADDRESS]) == ()


def test_crc32_signed_decimal():
    # Find an address whose checksum has the top bit set, so that the signed form differs.
    address = next(
        f"user{i}@example.com"
        for i in range(1000)
        if zlib.crc32(f"user{i}@example.com".encode()) & 0x80000000
    )
    signed = (zlib.crc32(address.encode()) & 0xFFFFFFFF) - 0x100000000
    assert find_leaks(f"https://t.example.com/p?h={signed}", [address]) == ("crc32",)


def test_several_recipients_and_encodings_in_fixed_order():
    second = "bob@example.net"
    url = (
        f"https://t.example.com/p/{hashlib.sha256(second.encode()).hexdigest()}"
        f"?u={b64(NORMAL.encode())}&e={second}"
    )
    assert find_leaks(url, [ADDRESS, second]) == ("plain", "base64", "sha256")


def test_result_order_is_the_documented_one():
    crc = zlib.crc32(NORMAL.encode()) & 0xFFFFFFFF
    url = (
        f"https://t.example.com/{crc:08x}/{hashlib.md5(NORMAL.encode()).hexdigest()}"
        f"?a={quote(NORMAL, safe='')}&b={NORMAL}"
    )
    assert find_leaks(url, [ADDRESS]) == ("plain", "urlencoded", "md5", "crc32")
    assert list(LEAK_ENCODINGS).index("plain") == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://mail.example.org/logo.png",  # the recipient's domain, nothing more
        "https://cdn.example.org/i?d=mail.example.org&u=jane",
        "https://t.example.com/o?u=" + b64(b"mail.example.org"),
        "https://t.example.com/p/" + hashlib.md5(OTHER.encode()).hexdigest(),
        "https://t.example.com/p/" + hashlib.sha256(b"mail.example.org").hexdigest(),
        "https://t.example.com/p/" + hashlib.sha1(NORMAL.encode()).hexdigest()[:20],
        "https://t.example.com/o?u=" + b64(OTHER.encode()),
        "https://t.example.com/o?u=" + quote(OTHER, safe=""),
    ],
)
def test_no_leak_for_other_values(url):
    assert find_leaks(url, [ADDRESS]) == ()


def test_no_addresses_or_non_addresses_find_nothing():
    assert find_leaks("https://t.example.com/o?e=a@b.example", []) == ()
    assert LeakDetector(["", "   ", "not-an-address", "a b@c.d"]).addresses == ()
    assert find_leaks("", [ADDRESS]) == ()


def test_detector_deduplicates_normalised_addresses():
    assert LeakDetector([ADDRESS, NORMAL, " " + NORMAL]).addresses == (NORMAL,)
    assert LeakDetector([f"Jane Doe <{ADDRESS}>"]).addresses == (NORMAL,)


_ENCODERS = {
    "plain": lambda a: a,
    "urlencoded": lambda a: quote(a, safe=""),
    "base64": lambda a: b64(b"id=7&m=" + a.encode(), urlsafe=True, padded=False),
    "md5": lambda a: hashlib.md5(a.encode()).hexdigest(),
    "sha512": lambda a: hashlib.sha512(a.encode()).hexdigest().upper(),
    "crc32": lambda a: f"{zlib.crc32(a.encode()) & 0xFFFFFFFF:08x}",
}

_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=20)
_domain = st.from_regex(r"[a-z0-9]{1,12}\.(example|test|org)", fullmatch=True)


@given(
    local=_local,
    domain=_domain,
    encoding=st.sampled_from(sorted(_ENCODERS)),
    before=st.text(alphabet="abcdefghijklmnopqrstuvwxyz/=&?", max_size=20),
)
def test_property_every_encoding_is_found_wherever_it_sits(local, domain, encoding, before):
    address = f"{local}@{domain}"
    url = f"https://t.example.com/{before}/{_ENCODERS[encoding](address)}/x"
    assert encoding in find_leaks(url, [address])


@given(url=st.text(max_size=300), addresses=st.lists(st.text(max_size=40), max_size=4))
def test_property_never_raises_and_names_are_known(url, addresses):
    found = find_leaks(url, addresses)
    assert set(found) <= set(LEAK_ENCODINGS)
    assert list(found) == sorted(found, key=LEAK_ENCODINGS.index)


def test_digest_with_percent_encoded_hex_digits():
    digest = hashlib.sha1(NORMAL.encode()).hexdigest()
    escaped = "".join(f"%{ord(c):02X}" if c in "abcdef" else c for c in digest)
    assert find_leaks(f"https://t.example.com/p?h={escaped}", [ADDRESS]) == ("sha1",)


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab"])
def test_url_safe_alphabet_differs_from_standard(prefix):
    address = "~~~>>>???@example.com"
    standard = b64(prefix + address.encode())
    urlsafe = b64(prefix + address.encode(), urlsafe=True)
    assert standard != urlsafe  # the encoding really uses "+" or "/" here
    assert find_leaks(f"https://t.example.com/c/{urlsafe}", [address]) == ("base64",)
    assert find_leaks(f"https://t.example.com/c/{quote(standard, safe='')}", [address]) == (
        "base64",
    )


@pytest.mark.parametrize("prefix", [b"", b"u=1&e=", b"e="])
def test_base64_of_a_percent_encoded_query_string(prefix):
    query = prefix + quote(NORMAL, safe="").encode() + b"&list=9"
    token = b64(query, urlsafe=True, padded=False)
    assert find_leaks(f"https://t.example.com/c/{token}", [ADDRESS]) == ("base64",)
