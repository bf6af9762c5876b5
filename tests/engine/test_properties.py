"""Properties: no input makes the engine raise, and every remote reference gets one decision."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pixelwarden.decide import Knowledge, classify
from pixelwarden.extract import extract
from pixelwarden.mime import parse_message
from pixelwarden.model import Action, Message, PixelWardenError
from pixelwarden.trackers import TrackerDB

DB = TrackerDB.bundled()

_url = st.builds(
    lambda scheme, host, path, q: f"{scheme}://{host}/{path}{q}",
    st.sampled_from(["http", "https"]),
    st.sampled_from(["img.shop.example", "t.list-manage.com", "cdn.other.test", "shop.example"]),
    st.text("abcdefXYZ0123456789/._-", max_size=30),
    st.sampled_from(["", "?u=8f3a9c2e7b1d4f60", "?e=reader%40mail.test"]),
)
_fragment = st.one_of(
    _url.map(lambda u: f'<img src="{u}">'),
    _url.map(lambda u: f'<img src="{u}" width=1 height=1>'),
    _url.map(lambda u: f'<td background="{u}">'),
    _url.map(lambda u: f'<div style="background:url({u})">'),
    _url.map(lambda u: f"<style>@font-face{{src:url({u})}}</style>"),
    st.text(max_size=40),
    st.sampled_from(["<div>", "</div>", "<!--", "-->", "<table>", "<blockquote type=cite>"]),
)


def _message(html: str) -> Message:
    return Message(
        "p.eml", "m@x", "n@shop.example", "n@shop.example", ("reader@mail.test",), html, None
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_fragment, max_size=25).map("".join))
def test_every_reference_found_gets_exactly_one_decision(html):
    extraction = extract(html)
    verdict = classify(_message(html), Knowledge(trackers=DB), extraction=extraction)
    found = {r.url for r in extraction.references}
    assert [d.url for d in verdict.decisions] == list(
        dict.fromkeys(r.url for r in extraction.references)
    )
    assert {d.url for d in verdict.decisions} == found
    for d in verdict.decisions:
        assert d.action in (Action.ALLOW, Action.BLOCK)
        assert not (d.tracker and d.action is Action.ALLOW)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=4000))
def test_no_bytes_make_the_pipeline_raise_anything_but_a_structured_error(data):
    try:
        message = parse_message(data, "fuzz.eml")
        classify(message, Knowledge(trackers=DB))
    except PixelWardenError as err:
        assert err.code
