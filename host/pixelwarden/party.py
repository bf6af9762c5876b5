"""Who owns a host name: registrable domains from an offline public suffix list.

The public suffix list is the snapshot bundled with the `publicsuffixlist` package (its version is
the snapshot date); nothing here ever touches the network. The list is read into three sets here
rather than through that package's own matcher, whose construction cost 90 ms of start-up (the
native host is started by Thunderbird); reading the sets takes a few milliseconds.

Names under RFC 2606 / RFC 6761 special-use top-level domains (`.example`, `.test`, `.invalid`,
`.localhost`) are not in the list; the list's default rule ("*") already treats an unknown last
label as a public suffix, which is exactly what those RFCs ask for: `news.shop.example` belongs to
`shop.example`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import re
from functools import lru_cache
from pathlib import Path


class _SuffixList:
    """The public suffix list's rules (ICANN and private sections), names in IDNA form.

    The algorithm is the list's own (publicsuffix.org/list): the longest matching rule wins, an
    exception rule ("!www.ck") beats the wildcard it carves out of ("*.ck"), and a name no rule
    matches has its last label as public suffix (the implicit "*" rule), which is what RFC 2606
    and RFC 6761 special-use names need.
    """

    def __init__(self, text: str) -> None:
        self.rules: set[str] = set()
        self.wildcards: set[str] = set()  # "ck" for "*.ck"
        self.exceptions: set[str] = set()  # "www.ck" for "!www.ck"
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("//"):
                continue
            rule: str | None = line.split()[0]
            if rule is not None and not rule.isascii():
                rule = _idna_rule(rule)
            if rule is None:
                continue
            if rule.startswith("!"):
                self.exceptions.add(rule[1:])
            elif rule.startswith("*."):
                self.wildcards.add(rule[2:])
            else:
                self.rules.add(rule)

    def suffix_labels(self, labels: list[str]) -> int:
        """How many trailing labels of ``labels`` form the public suffix."""
        count = len(labels)
        for start in range(count):
            candidate = ".".join(labels[start:])
            if candidate in self.exceptions:
                return count - start - 1
            if candidate in self.rules:
                return count - start
            if start + 1 < count and ".".join(labels[start + 1 :]) in self.wildcards:
                return count - start
        return 1


def _idna_rule(rule: str) -> str | None:
    """A rule in IDNA form. The list's labels are already normalised (lower case, NFC), so plain
    punycode gives what the idna codec would, without its slow nameprep step."""
    prefix = rule[0] if rule[0] == "!" else ""
    labels = rule[len(prefix) :].split(".")
    try:
        ascii_labels = [
            label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
            for label in labels
        ]
    except UnicodeError:
        return None
    return prefix + ".".join(ascii_labels)


def _load_suffix_list() -> _SuffixList:
    # Found without importing the package (its import alone costs 18 ms).
    spec = importlib.util.find_spec("publicsuffixlist")
    if spec is None or spec.origin is None:
        raise ImportError("the publicsuffixlist package (public suffix list data) is missing")
    data = Path(spec.origin).with_name("public_suffix_list.dat")
    return _SuffixList(data.read_text(encoding="utf-8"))


_PSL = _load_suffix_list()


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
    labels = host.split(".")
    if "" in labels:
        return None
    suffix = _PSL.suffix_labels(labels)
    if suffix >= len(labels):
        return None
    return ".".join(labels[-suffix - 1 :])


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
