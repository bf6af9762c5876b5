"""CNAME chains resolved against a real DNS server on loopback (dnslib), hop by hop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import LONG_HOPS
from fakedns import FakeDNS
from pixelwarden.dnscache import DnsCache
from pixelwarden.model import CnameAnswer, PixelWardenError
from pixelwarden.uncloak import (
    Uncloaker,
    hosts_worth_resolving,
    parse_resolver,
    skip_reason,
    token_label,
)


def resolve(server: FakeDNS, hosts: list[str], budget: float = 2.0, **kw: object) -> dict:
    return Uncloaker(server.address, **kw).resolve_sync(hosts, budget=budget)  # type: ignore[arg-type]


# -- chains of the mailing-service families ----------------------------------------------------


def test_sendgrid_customer_subdomain_chain_is_followed_to_the_end(
    dns_server: FakeDNS,
) -> None:
    answers = resolve(dns_server, ["email.shop.example"])
    assert answers["email.shop.example"] == CnameAnswer(
        "ok", ("u1234567.wl068.sendgrid.net", "sendgrid.net")
    )
    # One CNAME query per hop, and one more that finds the end of the chain.
    assert [q for q, _ in dns_server.queries] == [
        "email.shop.example",
        "u1234567.wl068.sendgrid.net",
        "sendgrid.net",
    ]
    assert {t for _, t in dns_server.queries} == {"CNAME"}


def test_several_families_resolve_concurrently(dns_server: FakeDNS) -> None:
    hosts = [
        "mg.shop.example",
        "click.e.bank.example",
        "images.shop.example",
        "www.shop.example",
    ]
    answers = resolve(dns_server, hosts)
    assert answers == {
        "mg.shop.example": CnameAnswer("ok", ("mailgun.org",)),
        "click.e.bank.example": CnameAnswer("ok", ("x.exacttarget.com",)),
        "images.shop.example": CnameAnswer("ok", ("d123.cloudfront.net",)),
        "www.shop.example": CnameAnswer("ok", ()),
    }


def test_nxdomain_is_ok_with_an_empty_chain(dns_server: FakeDNS) -> None:
    assert resolve(dns_server, ["missing.shop.example"]) == {
        "missing.shop.example": CnameAnswer("ok", ())
    }


def test_dangling_alias_keeps_the_hop(dns_server: FakeDNS) -> None:
    # The alias target does not exist; the hop is still reported so it can be judged.
    assert resolve(dns_server, ["dangling.shop.example"])["dangling.shop.example"] == CnameAnswer(
        "ok", ("gone.example",)
    )


# -- failures fail closed ----------------------------------------------------------------------


def test_loop_is_detected(dns_server: FakeDNS) -> None:
    answer = resolve(dns_server, ["a.loop.example"])["a.loop.example"]
    assert answer.status == "loop"
    assert answer.chain == ("b.loop.example", "a.loop.example")
    assert dns_server.asked("a.loop.example") == 1


def test_eight_hops_are_fine_nine_are_too_long(dns_server: FakeDNS) -> None:
    answers = resolve(dns_server, ["h0.eight.example", "h0.long.example"])
    assert answers["h0.eight.example"].status == "ok"
    assert len(answers["h0.eight.example"].chain) == 8
    long = answers["h0.long.example"]
    assert long.status == "too_long"
    assert len(long.chain) == 9 and LONG_HOPS >= 9
    # It stopped asking once past the limit.
    assert dns_server.asked(f"h{LONG_HOPS}.long.example") == 0


def test_servfail(dns_server: FakeDNS) -> None:
    assert resolve(dns_server, ["broken.shop.example"])["broken.shop.example"].status == "servfail"


def test_unanswered_query_is_a_timeout() -> None:
    # A UDP socket that never answers.
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        port = sock.getsockname()[1]
        uncloaker = Uncloaker(f"127.0.0.1:{port}", query_timeout=0.3)
        answers = asyncio.run(uncloaker.resolve_all(["quiet.shop.example"], timeout=3.0))
        assert answers["quiet.shop.example"].status == "timeout"
    finally:
        sock.close()


# -- budget, pending and late answers ----------------------------------------------------------


def test_slow_answer_is_pending_within_the_budget_then_resolved_by_resolve_all(
    dns_server: FakeDNS,
) -> None:
    async def scenario() -> tuple[dict, dict, float, float]:
        uncloaker = Uncloaker(dns_server.address)
        start = time.perf_counter()
        first = await uncloaker.resolve(
            ["slow.shop.example", "mg.shop.example"], budget=0.25, keep_pending=True
        )
        waited = time.perf_counter() - start
        late = await uncloaker.resolve_all(["slow.shop.example"], timeout=3.0)
        return first, late, waited, time.perf_counter() - start

    first, late, waited, total = asyncio.run(scenario())
    assert first["slow.shop.example"] == CnameAnswer("pending")
    assert first["mg.shop.example"] == CnameAnswer("ok", ("mailgun.org",))
    assert waited < 0.7  # the budget, not the 0.8 s answer
    assert late["slow.shop.example"] == CnameAnswer("ok", ("mailgun.org",))
    # The late answer joined the look-up already in flight instead of asking again.
    assert dns_server.asked("slow.shop.example") == 1
    assert total < 2.5


def test_pending_look_ups_are_cancelled_without_keep_pending(
    dns_server: FakeDNS,
) -> None:
    uncloaker = Uncloaker(dns_server.address)
    answers = uncloaker.resolve_sync(["slow.shop.example"], budget=0.1)
    assert answers["slow.shop.example"].status == "pending"
    assert not uncloaker._inflight


def test_resolve_all_times_out_what_never_answers(zone, dns_server: FakeDNS) -> None:
    zone.delays["slow.shop.example"] = 1.5
    uncloaker = Uncloaker(dns_server.address)
    answers = asyncio.run(uncloaker.resolve_all(["slow.shop.example"], timeout=0.2))
    assert answers["slow.shop.example"].status == "timeout"


# -- IDN ---------------------------------------------------------------------------------------


def test_unicode_and_punycode_names_ask_the_same_name(dns_server: FakeDNS) -> None:
    answers = resolve(dns_server, ["bücher.shop.example", "xn--bcher-kva.shop.example"])
    # Answers are keyed by the name as given.
    assert answers["bücher.shop.example"] == CnameAnswer("ok", ("sendgrid.net",))
    assert answers["xn--bcher-kva.shop.example"] == CnameAnswer("ok", ("sendgrid.net",))
    assert dns_server.asked("xn--bcher-kva.shop.example") == 1


# -- privacy filter ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "label",
    [
        "a8f3e2c1b4d5e6f7",  # hex, 16
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301",  # uuid
        "3f2504e04f8911d39a0c0305e82c3301",  # uuid without dashes
        "u83kd92jd83kq0s9d2kd",  # 20 letters and digits
        "12345678901",  # long number
    ],
)
def test_token_labels(label: str) -> None:
    assert token_label(label)
    assert skip_reason(f"{label}.email.shop.example") == "token_label"


@pytest.mark.parametrize(
    "label",
    [
        "email",
        "click",
        "u1234567",
        "wl068",
        "newsletter-images",
        "emailmarketingservice",
        "d123",
    ],
)
def test_ordinary_labels(label: str) -> None:
    assert not token_label(label)


def test_token_names_are_never_sent_to_the_resolver(dns_server: FakeDNS) -> None:
    token_host = "a8f3e2c1b4d5e6f70011.email.shop.example"
    answers = resolve(dns_server, [token_host, "mg.shop.example"])
    assert answers[token_host] == CnameAnswer("skipped", ("token_label",))
    assert dns_server.asked(token_host) == 0
    assert answers["mg.shop.example"].status == "ok"


def test_at_most_limit_names_per_message(dns_server: FakeDNS) -> None:
    hosts = [f"n{i}.shop.example" for i in range(12)]
    answers = resolve(dns_server, hosts, limit=8)
    assert [answers[h].status for h in hosts] == ["ok"] * 8 + ["skipped"] * 4
    assert {answers[h].chain for h in hosts[8:]} == {("limit",)}
    assert len({q for q, _ in dns_server.queries}) == 8
    chosen, skipped = hosts_worth_resolving(hosts, limit=8)
    assert chosen == hosts[:8] and skipped == {h: "limit" for h in hosts[8:]}


def test_single_label_ip_and_invalid_names_are_not_asked(dns_server: FakeDNS) -> None:
    answers = resolve(dns_server, ["intranet", "192.0.2.7", "bad_host!.example"])
    assert answers == {
        "intranet": CnameAnswer("skipped", ("single_label",)),
        "192.0.2.7": CnameAnswer("ok"),
        "bad_host!.example": CnameAnswer("skipped", ("invalid_name",)),
    }
    assert dns_server.queries == []


# -- cache -------------------------------------------------------------------------------------


def test_cached_answers_ask_nothing_and_need_no_event_loop(
    dns_server: FakeDNS, cache_dir: Path
) -> None:
    first = Uncloaker(dns_server.address, cache=DnsCache())
    first.resolve_sync(["mg.shop.example", "broken.shop.example"])
    first.close()
    asked = len(dns_server.queries)
    second = Uncloaker(dns_server.address, cache=DnsCache())  # a new process would do this
    answers = second.resolve_sync(["mg.shop.example", "broken.shop.example"])
    assert answers["mg.shop.example"] == CnameAnswer("ok", ("mailgun.org",))
    assert answers["broken.shop.example"].status == "servfail"  # failures cached briefly
    assert len(dns_server.queries) == asked
    assert second.queries == 0


def test_late_answer_of_an_abandoned_look_up_still_feeds_the_cache(
    dns_server: FakeDNS, cache_dir: Path
) -> None:
    async def scenario(uncloaker: Uncloaker) -> None:
        await uncloaker.resolve(["slow.shop.example"], budget=0.05, keep_pending=True)
        await asyncio.sleep(1.3)

    uncloaker = Uncloaker(dns_server.address, cache=DnsCache())
    asyncio.run(scenario(uncloaker))
    assert uncloaker.cache is not None
    assert uncloaker.cache.get("slow.shop.example") == CnameAnswer("ok", ("mailgun.org",))


# -- resolver choice ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("9.9.9.9", ("9.9.9.9", 53)),
        ("[::1]:5300", ("::1", 5300)),
        ("::1", ("::1", 53)),
    ],
)
def test_parse_resolver(spec: str, expected: tuple[str, int]) -> None:
    assert parse_resolver(spec) == expected


@pytest.mark.parametrize(
    "spec", ["dns.example:53", "127.0.0.1:0", "127.0.0.1:x", "[::1", "1.2.3.4:53:1"]
)
def test_bad_resolver_is_a_structured_error(spec: str) -> None:
    with pytest.raises(PixelWardenError) as caught:
        Uncloaker(spec)
    assert caught.value.code == "invalid_resolver"


def test_importing_pixelwarden_uncloak_does_not_import_dnspython() -> None:
    code = (
        "import sys, pixelwarden.uncloak, pixelwarden.dnscache;"
        "print(any(m.startswith('dns.') or m == 'dns' for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cached_names_do_not_count_against_the_limit(dns_server: FakeDNS) -> None:
    uncloaker = Uncloaker(dns_server.address, limit=2)
    uncloaker.resolve_sync(["mg.shop.example", "www.shop.example"])
    answers = uncloaker.resolve_sync(
        ["mg.shop.example", "www.shop.example", "images.shop.example", "email.shop.example"]
    )
    assert [a.status for a in answers.values()] == ["ok"] * 4


def test_no_resolver_configuration_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.asyncresolver
    import dns.resolver

    def unconfigured() -> None:
        raise dns.resolver.NoResolverConfiguration("no nameservers")

    monkeypatch.setattr(dns.asyncresolver, "Resolver", unconfigured)
    answers = Uncloaker(None).resolve_sync(["mg.shop.example"])
    assert answers == {"mg.shop.example": CnameAnswer("error")}


FIRST_LOOK_UP = """
import asyncio, sys, time
from pixelwarden.uncloak import Uncloaker
assert "dns.asyncresolver" not in sys.modules
uncloaker = Uncloaker(sys.argv[1], cache=None)
async def main():
    start = time.perf_counter()
    first = await uncloaker.resolve(["mg.shop.example"], budget=0.001, keep_pending=True)
    waited = time.perf_counter() - start
    late = await uncloaker.resolve_all(["mg.shop.example"], timeout=10)
    print(first["mg.shop.example"].status, late["mg.shop.example"].chain[0], waited)
asyncio.run(main())
"""


def test_first_look_up_does_not_hold_the_budget_hostage_to_the_import(
    dns_server: FakeDNS,
) -> None:
    # Importing dnspython takes 50-150 ms, far longer than a 1 ms budget: the first answer must be
    # "pending" at once, not after the event loop has sat through the import.
    out = subprocess.run(
        [sys.executable, "-c", FIRST_LOOK_UP, dns_server.address],
        capture_output=True,
        text=True,
        check=True,
    )
    status, hop, waited = out.stdout.split()
    assert (status, hop) == ("pending", "mailgun.org")
    assert float(waited) < 0.04


def test_answers_come_in_the_order_asked_and_cache_counts_once(
    dns_server: FakeDNS, cache_dir: Path
) -> None:
    cache = DnsCache()
    uncloaker = Uncloaker(dns_server.address, cache=cache)
    hosts = ["www.shop.example", "192.0.2.1", "intranet", "mg.shop.example", "www.shop.example"]
    assert list(uncloaker.resolve_sync(hosts)) == hosts[:4]
    assert (cache.hits, cache.misses) == (0, 3)
    assert list(uncloaker.resolve_sync(hosts)) == hosts[:4]
    assert (cache.hits, cache.misses) == (2, 4)  # "intranet" is never stored
