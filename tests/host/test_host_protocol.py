"""protocol.py in-process: reading the add-on's fields, fitting replies under 1 MB."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hostpipe import needs_engine
from pixelwarden.framing import encode
from pixelwarden.model import Kind, PixelWardenError
from pixelwarden.protocol import (
    HANDLERS,
    Session,
    clean_text,
    encode_reply,
    kind_of,
    message_from_request,
    parse_rendered,
)
from pixelwarden.settings import SettingsStore


def test_every_documented_type_has_a_handler() -> None:
    documented = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
    text = documented.read_text()
    for name in HANDLERS:
        assert f"`{name}`" in text, f"{name} is not documented in docs/protocol.md"


@pytest.mark.parametrize(
    "element, attribute, kind",
    [
        ("img", "src", Kind.IMAGE),
        ("td", "background", Kind.IMAGE),
        ("link", "href", Kind.STYLESHEET),
        ("style", "@import", Kind.STYLESHEET),
        ("style", "@font-face", Kind.FONT),
        ("iframe", "src", Kind.FRAME),
        ("video", "poster", Kind.IMAGE),
        ("video", "src", Kind.MEDIA),
        ("source", "srcset", Kind.IMAGE),
        ("source", "src", Kind.MEDIA),
        ("object", "data", Kind.OBJECT),
    ],
)
def test_kind_from_element_and_attribute(element: str, attribute: str, kind: Kind) -> None:
    assert kind_of(element, attribute) is kind


def test_rendered_references() -> None:
    (ref,) = parse_rendered(
        [
            {
                "url": "https://a.test/x.png",
                "element": "IMG",
                "width": 1.4,
                "height": 0.6,
                "hidden": True,
            }
        ]  # fmt: skip
    )
    assert (ref.element, ref.attribute, ref.kind) == ("img", "src", Kind.IMAGE)
    assert (ref.width, ref.height, ref.hidden) == (1, 1, True)
    (font,) = parse_rendered([{"url": "https://f.test/a.woff2", "kind": "font"}])
    assert font.kind is Kind.FONT
    assert parse_rendered(None) == ()


@pytest.mark.parametrize(
    "rendered",
    [
        [{"url": ""}],
        [{"url": "https://a.test/", "width": "10"}],
        [{"url": "https://a.test/", "hidden": "no"}],
        [{"url": "https://a.test/", "kind": "script"}],
        [{"url": "https://a.test/", "element": 3}],
        ["https://a.test/"],
    ],
)
def test_bad_rendered_references(rendered: object) -> None:
    with pytest.raises(PixelWardenError) as caught:
        parse_rendered(rendered)
    assert caught.value.code == "invalid_field"


def test_message_headers_are_read_like_a_real_mail() -> None:
    message = message_from_request(
        {
            "key": 9,
            "message_id": None,
            "headers": {
                "from": ["=?utf-8?q?Caf=C3=A9?= <News@Shop.Example>"],
                "to": ["a@b.test, c@d.test"],
                "cc": "e@f.test",
                "message-id": ["<id1@shop.example>"],
                "authentication-results": ["mx.b.test; dmarc=fail header.from=shop.example"],
                "x-injected": ["ignored"],
            },
            "html": "<p>hi</p>",
            "text": None,
        }
    )
    assert message.source == "thunderbird:9"
    assert message.from_header == "Café <News@Shop.Example>"
    assert message.from_address == "news@shop.example"
    assert message.recipients == ("a@b.test", "c@d.test", "e@f.test")
    assert message.message_id == "id1@shop.example"
    assert message.dmarc_fail is True
    assert message.html == "<p>hi</p>"


def test_a_header_value_cannot_smuggle_in_another_header() -> None:
    message = message_from_request(
        {"headers": {"subject": ["hi\r\nFrom: evil@attacker.test"], "from": ["a@b.test"]}}
    )
    assert message.from_address == "a@b.test"


def test_message_id_field_is_used_when_the_headers_have_none() -> None:
    message = message_from_request({"message_id": "<x@y.test>", "headers": {}})
    assert message.message_id == "x@y.test"
    assert message.from_address is None


def test_lone_surrogates_become_replacement_characters() -> None:
    assert clean_text("a\ud800b") == "a\ufffdb"
    assert clean_text("ok 😀") == "ok 😀"
    message = message_from_request({"html": '<img src="https://a.test/\udfff">'})
    assert message.html is not None and "\ufffd" in message.html


def _verdict_reply(resources: int, url_length: int) -> dict[str, object]:
    entries = [
        {"url": f"https://x.test/{i}/" + "u" * url_length, "kind": "image",
         "action": "allow" if i % 10 == 0 else "block", "tracker": i % 10 == 1,
         "party": "third", "company": None, "leaks": [], "reasons": ["third_party"]}
        for i in range(resources)
    ]  # fmt: skip
    return {
        "id": 1, "ok": True, "protocol": 1, "type": "classify", "pending": [],
        "verdict": {"source": "s", "resources": entries, "blocked": resources},
    }  # fmt: skip


def test_small_replies_are_untouched() -> None:
    reply = _verdict_reply(10, 10)
    assert encode_reply(reply) == encode(reply)


def test_trimming_keeps_allowed_then_trackers_in_their_order() -> None:
    reply = _verdict_reply(4000, 400)
    frame = encode_reply(reply)
    assert len(frame) - 4 <= 1_000_000
    trimmed = json.loads(frame[4:])
    kept = trimmed["verdict"]["resources"]
    assert trimmed["truncated"] is True
    assert trimmed["omitted"] == 4000 - len(kept)
    assert trimmed["verdict"]["blocked"] == 4000
    indexes = [int(r["url"].split("/")[3]) for r in kept]
    assert indexes == sorted(indexes)  # original order
    assert {i for i in range(0, 4000, 10)} <= set(indexes)  # every allowed one
    assert {i for i in range(1, 4000, 10)} <= set(indexes)  # then every tracker


def test_a_reply_that_cannot_fit_becomes_an_error() -> None:
    reply = {"id": 7, "ok": True, "protocol": 1, "type": "stats", "blob": "x" * 2_000_000}
    error = json.loads(encode_reply(reply)[4:])
    assert error["ok"] is False and error["id"] == 7
    assert error["error"]["code"] == "reply_too_large"


@needs_engine
def test_lone_surrogate_urls_are_classified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATA", "CACHE", "LOG"):  # nothing of the user's own folders is read
        monkeypatch.setenv(f"PIXELWARDEN_{name}_DIR", str(tmp_path / name.lower()))
    store = SettingsStore.open(tmp_path / "s.sqlite3")
    store.update({"uncloak": False})
    session = Session(store=store)
    payload = json.dumps(
        {"id": 1, "type": "classify",
         "message": {"html": '<img src="https://a.test/\ud800.png">', "headers": {}},
         "rendered": [{"url": "https://b.test/\udc00"}]}
    ).encode()  # fmt: skip
    reply = asyncio.run(session.reply_to(payload))
    session.close()
    assert reply["ok"] is True, reply
    assert encode_reply(reply)  # and it can be sent


def test_redirect_hops_carry_the_url_that_redirected() -> None:
    hop = {
        "url": "https://cdn.shop.example/logo-v2.png",
        "element": "img",
        "attribute": "redirect",
        "origin": "redirect",
        "via": "https://img.shop.example/logo.png",
    }
    (ref,) = parse_rendered([hop])
    assert ref.via == "https://img.shop.example/logo.png"
    (plain,) = parse_rendered([{"url": "https://img.shop.example/a.png"}])
    assert plain.via is None
    with pytest.raises(PixelWardenError):
        parse_rendered([{**hop, "via": 42}])
