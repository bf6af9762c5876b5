"""Registrable domains from the offline public suffix list, special-use names included."""

from __future__ import annotations

import pytest
from pixelwarden.party import address_domain, host_of, registrable_domain


@pytest.mark.parametrize(
    "host, domain",
    [
        ("news.shop.example", "shop.example"),  # RFC 2606 names act as top-level domains
        ("a.b.shop.test", "shop.test"),
        ("x.y.invalid", "y.invalid"),
        ("mail.bank.co.uk", "bank.co.uk"),
        ("IMG.Shop.Example.", "shop.example"),
        ("d123.cloudfront.net", "d123.cloudfront.net"),  # private suffix: each tenant its own
        ("bücher.example", "xn--bcher-kva.example"),
        ("192.0.2.7", "192.0.2.7"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("co.uk", None),
        ("", None),
    ],
)
def test_registrable_domain(host, domain):
    assert registrable_domain(host) == domain


def test_address_and_url_helpers():
    assert address_domain("News@Mail.Shop.Example") == "shop.example"
    assert address_domain("no-at-sign") is None
    assert host_of("https://IMG.shop.example:8443/a.png") == "img.shop.example"
    assert host_of("https://[::1/") == ""


def test_host_is_read_the_way_a_browser_reads_it():
    # WHATWG URL parsing ends the authority at a backslash: this is a request to evil.test,
    # not to shop.example, so it must never pass as the sender's own content.
    assert host_of("https://evil.test\\@shop.example/x.png") == "evil.test"
    assert host_of("https://user:pw@Shop.Example:8080/x") == "shop.example"
    assert host_of("https://[2001:db8::1]:8443/x") == "2001:db8::1"
    assert host_of("not a url") == ""


def test_same_answers_as_the_public_suffix_list_package_on_every_rule():
    """The list is read by party.py itself (fast start-up); the package's matcher is the oracle."""
    from pathlib import Path

    import publicsuffixlist

    oracle = publicsuffixlist.PublicSuffixList()
    text = (Path(publicsuffixlist.__file__).parent / "public_suffix_list.dat").read_text("utf-8")
    hosts = ["a.b.ck", "www.ck", "x.www.ck", "city.kawasaki.jp", "a.city.kawasaki.jp"]
    for line in text.splitlines()[::7]:  # a spread of rules: wildcards, exceptions, IDNs
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        rule = line.split()[0].lstrip("!").replace("*", "wild")
        try:
            rule = rule.encode("idna").decode("ascii")
        except UnicodeError:
            continue
        hosts += [rule, f"a.{rule}", f"b.a.{rule}"]
    assert len(hosts) > 3000
    for host in hosts:
        assert registrable_domain.__wrapped__(host) == oracle.privatesuffix(host), host
