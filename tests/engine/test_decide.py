"""The precedence table of decide.py, row by row, and the verdict's invariants."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from pixelwarden.decide import Knowledge, classify, merge_references
from pixelwarden.model import (
    Action,
    CnameAnswer,
    Kind,
    Message,
    Mode,
    Overrides,
    Party,
    Reference,
)


@dataclass(frozen=True)
class Service:
    service_id: str
    company: str


@dataclass(frozen=True)
class Match:
    service_id: str
    name: str
    company: str
    category: str
    rule: str
    source: str


class SmallTrackerDB:
    """A tracker database with one service, standing in through the same three questions."""

    def match(self, url: str) -> Match | None:
        if "//open.tracker.test/" in url:
            return Match("tracko", "Tracko", "Tracko Inc.", "esp", "host", "test")
        return None

    def cname_service(self, host: str) -> Service | None:
        if host == "tracker.test" or host.endswith(".tracker.test"):
            return Service("tracko", "Tracko Inc.")
        return None

    def is_hosting(self, host: str) -> bool:
        return host.endswith(".cdn.test")


def message(html: str, **kw: object) -> Message:
    fields: dict[str, object] = {
        "source": "t.eml",
        "message_id": "m1@shop.example",
        "from_header": "Shop <news@news.shop.example>",
        "from_address": "news@news.shop.example",
        "recipients": ("reader@mail.test",),
        "html": html,
        "text": None,
    }
    fields.update(kw)
    return Message(**fields)  # type: ignore[arg-type]


def knowledge(**kw: object) -> Knowledge:
    return Knowledge(trackers=SmallTrackerDB(), **kw)  # type: ignore[arg-type]


def one(html: str, k: Knowledge | None = None, **msg: object):
    verdict = classify(message(html, **msg), k or knowledge())
    assert len(verdict.decisions) == 1, verdict.decisions
    return verdict.decisions[0]


LOGO_1ST = '<img src="https://img.shop.example/logo.png" width="200" height="60">'
LOGO_3RD = '<img src="https://cdn.other.test/hero.jpg" width="600" height="300">'
PIXEL_3RD = '<img src="https://open.tracker.test/o.gif?u=1" width="600" height="300">'


def test_row7_first_party_loads_in_strict_mode():
    d = one(LOGO_1ST)
    assert (d.action, d.party, d.tracker) == (Action.ALLOW, Party.FIRST, False)
    assert d.reasons == ("first_party",)


def test_row9_third_party_blocked_in_strict_mode():
    d = one(LOGO_3RD)
    assert (d.action, d.party) == (Action.BLOCK, Party.THIRD)
    assert d.reasons == ("third_party", "strict_mode")


def test_row8_third_party_loads_in_relaxed_mode():
    d = one(LOGO_3RD, knowledge(mode=Mode.RELAXED))
    assert d.action is Action.ALLOW
    assert "relaxed_mode" in d.reasons


def test_row2_known_tracker_blocked_in_relaxed_mode_with_company():
    d = one(PIXEL_3RD, knowledge(mode=Mode.RELAXED))
    assert (d.action, d.tracker, d.company) == (Action.BLOCK, True, "Tracko Inc.")
    assert d.reasons[0] == "known_tracker:tracko"


def test_row2_first_party_open_pixel_blocked():
    d = one('<img src="https://shop.example/open/8f3a9c2e7b1d4f60a9e2.gif" width="1" height="1">')
    assert (d.action, d.party, d.tracker) == (Action.BLOCK, Party.FIRST, True)
    assert "open_pixel" in d.reasons


def test_row2_hashed_address_on_first_party_blocked():
    import hashlib

    digest = hashlib.md5(b"reader@mail.test").hexdigest()
    d = one(f'<img src="https://img.shop.example/banner.png?r={digest}" width="600" height="200">')
    assert d.action is Action.BLOCK and d.tracker
    assert d.leaks == ("md5",)
    assert "address_leak:md5" in d.reasons


def test_configured_identity_counts_as_recipient():
    import hashlib

    digest = hashlib.sha256(b"me@home.test").hexdigest()
    html = f'<img src="https://img.shop.example/b.png?h={digest}" width="600" height="200">'
    assert one(html).action is Action.ALLOW
    d = one(html, knowledge(identities=("me@home.test",)))
    assert d.action is Action.BLOCK and d.leaks == ("sha256",)


@pytest.mark.parametrize(
    "overrides, reason",
    [
        (Overrides(allow_messages=frozenset({"m1@shop.example"})), "user_allow_message"),
        (Overrides(allow_senders=frozenset({"news@news.shop.example"})), "user_allow_sender"),
        (Overrides(allow_domains=frozenset({"shop.example"})), "user_allow_domain"),
    ],
)
def test_rows4_to_6_user_allowances_load_third_party_but_never_trackers(overrides, reason):
    k = knowledge(overrides=overrides)
    d = one(LOGO_3RD, k)
    assert d.action is Action.ALLOW and d.reasons[0] == reason
    t = one(PIXEL_3RD, k)
    assert t.action is Action.BLOCK and t.tracker


def test_row1_user_block_domain_beats_first_party():
    d = one(LOGO_1ST, knowledge(overrides=Overrides(block_domains=frozenset({"shop.example"}))))
    assert d.action is Action.BLOCK and d.reasons == ("user_block_domain",)


def test_dmarc_fail_removes_first_party_allowance():
    d = one(LOGO_1ST, dmarc_fail=True)
    assert (d.action, d.party) == (Action.BLOCK, Party.THIRD)
    assert "dmarc_fail" in d.reasons


def test_no_sender_means_nothing_is_first_party():
    d = one(LOGO_1ST, from_address=None, from_header="")
    assert d.action is Action.BLOCK and "no_sender" in d.reasons


def test_row3_first_party_waits_for_dns_when_uncloaking():
    k = knowledge(uncloak=True)
    verdict = classify(message(LOGO_1ST), k)
    (d,) = verdict.decisions
    assert d.action is Action.BLOCK and d.reasons[0] == "dns_pending"
    assert verdict.dns_pending == ("img.shop.example",)
    # Third-party content is never looked up: it is not going to load in strict mode anyway.
    assert classify(message(LOGO_3RD), k).dns_pending == ()


def test_row3_beats_user_allowance_for_unresolved_first_party_names():
    k = knowledge(uncloak=True, overrides=Overrides(allow_messages=frozenset({"m1@shop.example"})))
    d = one(LOGO_1ST, k)
    assert d.action is Action.BLOCK and d.reasons[0] == "dns_pending"


@pytest.mark.parametrize(
    "chain, action, tracker, party, reason",
    [
        ((), Action.ALLOW, False, Party.FIRST, "first_party"),
        (("d123.cdn.test",), Action.ALLOW, False, Party.FIRST, "first_party"),
        (("edge.shop.example",), Action.ALLOW, False, Party.FIRST, "first_party"),
        (("u42.tracker.test",), Action.BLOCK, True, Party.FIRST, "cname:u42.tracker.test"),
        (
            ("x.cdn.test", "u42.tracker.test"),
            Action.BLOCK,
            True,
            Party.FIRST,
            "cname:u42.tracker.test",
        ),
        (
            ("host.elsewhere.test",),
            Action.BLOCK,
            False,
            Party.THIRD,
            "cloaked_third_party:host.elsewhere.test",
        ),
    ],
)
def test_every_cname_hop_is_judged(chain, action, tracker, party, reason):
    k = knowledge(uncloak=True, dns={"img.shop.example": CnameAnswer("ok", chain)})
    d = one(LOGO_1ST, k)
    assert (d.action, d.tracker, d.party) == (action, tracker, party)
    assert reason in d.reasons
    if tracker:
        assert d.company == "Tracko Inc."


@pytest.mark.parametrize("status", ["servfail", "timeout", "loop", "too_long", "error"])
def test_dns_failures_fail_closed(status):
    k = knowledge(uncloak=True, dns={"img.shop.example": CnameAnswer(status)})
    d = one(LOGO_1ST, k)
    assert d.action is Action.BLOCK and d.reasons[0] == f"dns_failed:{status}"


def test_rendered_url_unknown_to_the_host_is_blocked():
    rendered = Reference("https://img.shop.example/extra.png", Kind.IMAGE, "img", "src", 100, 100)
    verdict = classify(message(LOGO_1ST), knowledge(), extra_urls=[rendered])
    by_url = {d.url: d for d in verdict.decisions}
    assert by_url["https://img.shop.example/logo.png"].action is Action.ALLOW
    extra = by_url["https://img.shop.example/extra.png"]
    assert extra.action is Action.BLOCK and extra.reasons[0] == "undecided"


def test_each_distinct_url_once_and_hidden_occurrence_wins():
    html = (
        '<img src="https://img.shop.example/a.png?id=8f3a9c2e7b1d4f60" width="300" height="100">'
        '<div style="display:none"><img src="https://img.shop.example/a.png?id=8f3a9c2e7b1d4f60"></div>'
    )
    verdict = classify(message(html), knowledge())
    assert len(verdict.decisions) == 1
    assert verdict.decisions[0].tracker and "hidden_image" in verdict.decisions[0].reasons


def test_merge_keeps_smallest_size():
    a = Reference("https://x.test/p", Kind.IMAGE, "img", "src", 600, 1)
    b = Reference("https://x.test/p", Kind.IMAGE, "img", "src", 1, 1)
    assert merge_references([a, b])["https://x.test/p"].width == 1


def test_counts_and_json_shape():
    verdict = classify(message(LOGO_1ST + LOGO_3RD + PIXEL_3RD), knowledge())
    data = verdict.to_json()
    assert (data["trackers_blocked"], data["blocked"], data["allowed"]) == (1, 2, 1)
    assert set(data) == {
        "source", "message_id", "from", "sender_domain", "mode", "image_only",
        "resources", "trackers_blocked", "blocked", "allowed",
    }  # fmt: skip
    assert data["sender_domain"] == "shop.example"


def test_image_only_flag():
    hero = '<img src="https://img.shop.example/sale.jpg" width="600" height="1200">'
    assert classify(message(hero + "<p>Unsubscribe</p>"), knowledge()).image_only
    text = "<p>" + "Our autumn collection is here, with new colours and fabrics. " * 10 + "</p>"
    assert not classify(message(hero + text), knowledge()).image_only
    assert not classify(message("<p>Hello</p>"), knowledge()).image_only
    slices = "".join(f'<img src="https://img.shop.example/s{i}.jpg">' for i in range(3))
    assert classify(message(slices), knowledge()).image_only


def test_short_personal_mail_with_a_signature_image_is_not_image_only():
    # Regression (end-to-end fixture): a two-line reply with a 160×40 signature was flagged.
    sig = '<p>Sunday works!</p><img src="https://img.shop.example/sig.png" width=160 height=40>'
    assert not classify(message(sig), knowledge()).image_only
    unsized_logo = '<p>Thanks!</p><img src="https://img.shop.example/logo.png">'
    assert not classify(message(unsized_logo), knowledge()).image_only


def test_undecided_urls_are_never_looked_up():
    rendered = Reference("https://other.shop.example/x.png", Kind.IMAGE, "img", "src", 100, 100)
    verdict = classify(message(LOGO_1ST), knowledge(uncloak=True), extra_urls=[rendered])
    assert verdict.dns_pending == ("img.shop.example",)


def test_redirect_targets_of_allowed_resources_are_decided_like_the_rest():
    def hop(url: str, via: str) -> Reference:
        return Reference(url, Kind.IMAGE, "img", "redirect", None, None, via=via)

    logo = "https://img.shop.example/logo.png"
    redirects = [
        hop("https://cdn.shop.example/logo-v2.png", via=logo),  # first party: loads
        hop("https://open.tracker.test/o.gif?u=1", via=logo),  # tracker: blocked
        hop("https://cdn.other.test/x.png", via=logo),  # third party, strict: blocked
        hop("https://img.shop.example/y.png", via="https://cdn.other.test/hero.jpg"),
    ]
    verdict = classify(message(LOGO_1ST + LOGO_3RD), knowledge(), extra_urls=redirects)
    by_url = {d.url: d for d in verdict.decisions}
    assert by_url["https://cdn.shop.example/logo-v2.png"].action is Action.ALLOW
    assert by_url["https://open.tracker.test/o.gif?u=1"].tracker
    assert by_url["https://cdn.other.test/x.png"].reasons == ("third_party", "strict_mode")
    # A hop from a resource that is itself blocked vouches for nothing.
    assert by_url["https://img.shop.example/y.png"].reasons[0] == "undecided"
