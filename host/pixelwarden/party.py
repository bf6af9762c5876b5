"""Who owns a host name: registrable domains from an offline public suffix list.

The public suffix list is the snapshot bundled with the `publicsuffixlist` package (its version is
the snapshot date); nothing here ever touches the network. Names under RFC 2606 / RFC 6761
special-use top-level domains (`.example`, `.test`, `.invalid`, `.localhost`) are not in the list;
the list's default rule ("*") already treats an unknown last label as a public suffix, which is
exactly what those RFCs ask for: `news.shop.example` belongs to `shop.example`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from functools import lru_cache

from publicsuffixlist import PublicSuffixList

_PSL = PublicSuffixList()


def normalise_host(host: str) -> str:
    """Lower-case, IDNA-encoded, without trailing dot or brackets."""
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host.isascii():
        # Not a valid IDN: keep the Unicode form; it can never equal a sender's domain.
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=8192)
def registrable_domain(host: str) -> str | None:
    """The registrable domain ("eTLD+1") of ``host``; an IP address is its own domain.

    None when the host is itself a public suffix (``co.uk``) or empty.
    """
    host = normalise_host(host)
    if not host:
        return None
    if is_ip(host):
        return host
    return _PSL.privatesuffix(host)


# The authority of an absolute URL as a browser reads it: WHATWG parsers end it at "\\" as well
# as at "/", "?" and "#", so "https://evil.test\\@shop.example/" is a request to evil.test.
_AUTHORITY = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#\\]*)")


def host_of(url: str) -> str:
    """The host a browser would connect to for ``url``; "" when there is none."""
    match = _AUTHORITY.match(url.strip())
    if match is None:
        return ""
    authority = match.group(1).rpartition("@")[2]
    if authority.startswith("["):
        end = authority.find("]")
        return normalise_host(authority[: end + 1]) if end > 0 else ""
    return normalise_host(authority.partition(":")[0])


def address_domain(address: str | None) -> str | None:
    """Registrable domain of an e-mail address."""
    if not address or "@" not in address:
        return None
    return registrable_domain(address.rsplit("@", 1)[1])


def psl_version() -> str:
    """The snapshot date of the bundled public suffix list, for `lists status`."""
    from importlib.metadata import version

    return version("publicsuffixlist")
