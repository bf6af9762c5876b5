"""The real host process, driven through its pipes with framed bytes."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostpipe import (
    HOST_COMMAND,
    KNOWN_ERROR_CODES,
    REPO,
    Host,
    frame,
    make_host_env,
    needs_engine,
    parse_frames,
    run_host_bytes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pixelwarden import __version__
from pixelwarden.framing import MAX_REPLY_BYTES, MAX_REQUEST_BYTES

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dns"))
try:
    from fakedns import FakeDNS, Zone
except ImportError:  # pragma: no cover - the DNS helper's test server is missing
    FakeDNS = Zone = None  # type: ignore[assignment,misc]

needs_fake_dns = pytest.mark.skipif(FakeDNS is None, reason="tests/dns/fakedns.py is missing")


# The fixtures live here, not in a conftest.py: another test folder imports its own conftest by
# name, and a second module of that name on the path would shadow it.


@pytest.fixture
def host_env(tmp_path: Path) -> dict[str, str]:
    """Private data, log and cache folders and HOME for one host process."""
    return make_host_env(tmp_path)


@pytest.fixture
def host(host_env: dict[str, str]) -> Iterator[Host]:
    process = Host(host_env)
    yield process
    process.kill()


def message(html: str, sender: str = "News <news@shop.example>", key: int = 1) -> dict[str, Any]:
    return {
        "key": key,
        "message_id": f"<m{key}@shop.example>",
        "headers": {"from": [sender], "to": ["Reader <reader@mail.test>"]},
        "html": html,
        "text": None,
    }


NEWSLETTER = (
    "<p>Hello, here is our news of the week with enough words to read.</p>"
    '<img src="https://img.shop.example/logo.png" width="200" height="60">'
    '<img src="https://cdn.other.test/photo.jpg" width="600" height="300">'
    '<img src="https://pixel.tracking.test/open?u=reader@mail.test" width="1" height="1">'
)


def decision(reply: dict[str, Any], url: str) -> dict[str, Any]:
    for resource in reply["verdict"]["resources"]:
        if resource["url"] == url:
            return resource  # type: ignore[no-any-return]
    raise AssertionError(f"{url} not decided in {reply}")


def test_hello(host: Host) -> None:
    reply = host.request({"id": 1, "type": "hello", "addon_version": "0.1.0"})
    assert reply["ok"] is True
    assert reply["protocol"] == 1
    assert reply["host_version"] == __version__
    assert reply["settings"] == {"mode": "strict", "uncloak": True, "resolver": None}
    assert isinstance(reply["lists"], list)
    assert reply["warnings"] == []
    assert host.close() == 0
    assert host.stray == b""


def test_cli_entry_and_thunderbird_arguments(host_env: dict[str, str], tmp_path: Path) -> None:
    """`pixelwarden host MANIFEST ADDON_ID`, as the launcher runs it."""
    command = [
        sys.executable,
        "-m",
        "pixelwarden.cli",
        "host",
        str(tmp_path / "m.json"),
        "x@y",
    ]
    process = Host(host_env, command)
    try:
        reply = process.request({"id": "a", "type": "hello", "addon_version": "1"})
        assert reply["ok"] and reply["protocol"] == 1
        assert process.close() == 0
    finally:
        process.kill()


@needs_engine
def test_whole_protocol(host: Host) -> None:
    settings_reply = host.request({"id": 1, "type": "settings.get"})
    assert settings_reply["settings"]["mode"] == "strict"
    assert settings_reply["overrides"] == []
    # No DNS in this test: uncloaking off.
    off = host.request({"id": 2, "type": "settings.set", "settings": {"uncloak": False}})
    assert off["settings"]["uncloak"] is False

    rendered = [
        {"url": "https://img.shop.example/logo.png", "element": "img", "attribute": "src",
         "width": 200, "height": 60, "hidden": False},
        {"url": "https://injected.test/late.png", "element": "img", "attribute": "src",
         "width": 300, "height": 100, "hidden": False},
    ]  # fmt: skip
    first = host.request(
        {
            "id": 3,
            "type": "classify",
            "message": message(NEWSLETTER),
            "rendered": rendered,
        }
    )
    assert first["ok"], first
    assert first["pending"] == []
    verdict = first["verdict"]
    assert verdict["sender_domain"] == "shop.example"
    assert decision(first, "https://img.shop.example/logo.png")["action"] == "allow"
    assert decision(first, "https://cdn.other.test/photo.jpg")["action"] == "block"
    pixel = decision(first, "https://pixel.tracking.test/open?u=reader@mail.test")
    assert pixel["action"] == "block" and pixel["tracker"] is True
    injected = decision(first, "https://injected.test/late.png")
    assert injected["action"] == "block" and injected["reasons"][0] == "undecided"

    # Allow the sender: third-party content loads, the tracker still does not.
    allowed = host.request(
        {"id": 4, "type": "allow", "scope": "sender", "value": "news@shop.example"}
    )
    assert allowed["override"]["scope"] == "sender"
    assert [o["value"] for o in allowed["overrides"]] == ["news@shop.example"]
    again = host.request({"id": 5, "type": "update", "request": 3})
    assert again["request"] == 3 and again["pending"] == []
    assert decision(again, "https://cdn.other.test/photo.jpg")["action"] == "allow"
    assert decision(again, "https://pixel.tracking.test/open?u=reader@mail.test")["action"] == (
        "block"
    )
    assert decision(again, "https://injected.test/late.png")["action"] == "block"

    # Undo.
    revoked = host.request(
        {"id": 6, "type": "revoke", "scope": "sender", "value": "news@shop.example"}
    )
    assert revoked["revoked"] is True and revoked["overrides"] == []
    after = host.request({"id": 7, "type": "update", "request": 3})
    assert decision(after, "https://cdn.other.test/photo.jpg")["action"] == "block"

    # Relaxed mode loads third-party content; blocking its domain wins over that.
    host.request({"id": 8, "type": "settings.set", "settings": {"mode": "relaxed"}})
    blocked = host.request({"id": 9, "type": "block", "scope": "domain", "value": "other.test"})
    assert blocked["override"]["action"] == "block"
    relaxed = host.request({"id": 10, "type": "update", "request": 3})
    photo = decision(relaxed, "https://cdn.other.test/photo.jpg")
    assert photo["action"] == "block" and "user_block_domain" in photo["reasons"]

    stats = host.request({"id": 11, "type": "stats"})
    assert stats["messages"] == 1
    assert stats["trackers_blocked"] == verdict["trackers_blocked"] >= 1
    assert stats["blocked"] == verdict["blocked"] and stats["allowed"] == verdict["allowed"]

    unknown = host.request({"id": 12, "type": "update", "request": 999})
    assert unknown["error"]["code"] == "unknown_request"
    bad = host.request({"id": 13, "type": "settings.set", "settings": {"mode": "lax"}})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_settings"
    assert host.request({"id": 14, "type": "settings.get"})["settings"]["mode"] == "relaxed"
    assert host.close() == 0
    assert host.stray == b""


MALFORMED: list[tuple[str, bytes, str, Any]] = [
    ("invalid utf-8", b'{"id": 1, "type": "hello\xff"}', "invalid_utf8", None),
    ("utf-16", '{"id":1}'.encode("utf-16"), "invalid_utf8", None),
    ("not json", b"{id: 1}", "invalid_json", None),
    ("empty body", b"", "invalid_json", None),
    ("NaN", b'{"id": NaN}', "invalid_json", None),
    ("deep nesting", b"[" * 50_000 + b"]" * 50_000, "invalid_json", None),
    ("array", b'[{"id": 1, "type": "hello"}]', "not_an_object", None),
    ("string", b'"hello"', "not_an_object", None),
    ("null", b"null", "not_an_object", None),
    ("no id", b'{"type": "stats"}', "invalid_field", None),
    ("boolean id", b'{"id": true, "type": "stats"}', "invalid_field", None),
    ("list id", b'{"id": [1], "type": "stats"}', "invalid_field", None),
    (
        "huge id",
        json.dumps({"id": "x" * 300, "type": "stats"}).encode(),
        "invalid_field",
        None,
    ),
    ("no type", b'{"id": 5}', "invalid_field", 5),
    ("number type", b'{"id": 5, "type": 3}', "invalid_field", 5),
    ("unknown type", b'{"id": "q", "type": "shutdown"}', "unknown_type", "q"),
    ("hello without version", b'{"id": 6, "type": "hello"}', "invalid_field", 6),
    ("classify without message", b'{"id": 7, "type": "classify"}', "invalid_field", 7),
    (
        "message html not a string",
        b'{"id": 8, "type": "classify", "message": {"html": 3}}',
        "invalid_field",
        8,
    ),
    (
        "headers not an object",
        b'{"id": 9, "type": "classify", "message": {"headers": [1]}}',
        "invalid_field",
        9,
    ),
    (
        "header values not strings",
        b'{"id": 9, "type": "classify", "message": {"headers": {"from": [1]}}}',
        "invalid_field",
        9,
    ),
    (
        "rendered not a list",
        b'{"id": 10, "type": "classify", "message": {}, "rendered": {}}',
        "invalid_field",
        10,
    ),
    (
        "rendered url missing",
        b'{"id": 11, "type": "classify", "message": {}, "rendered": [{"element": "img"}]}',
        "invalid_field",
        11,
    ),
    (
        "negative width",
        b'{"id": 12, "type": "classify", "message": {}, '
        b'"rendered": [{"url": "https://a.test/x", "width": -3}]}',
        "invalid_field",
        12,
    ),
    ("update without request", b'{"id": 13, "type": "update"}', "invalid_field", 13),
    (
        "allow bad scope",
        b'{"id": 14, "type": "allow", "scope": "planet", "value": "x"}',
        "invalid_field",
        14,
    ),  # fmt: skip
    (
        "block a sender",
        b'{"id": 15, "type": "block", "scope": "sender", "value": "a@b.test"}',
        "invalid_field",
        15,
    ),  # fmt: skip
    (
        "settings not an object",
        b'{"id": 16, "type": "settings.set", "settings": []}',
        "invalid_settings",
        16,
    ),  # fmt: skip
]


@pytest.fixture(scope="module")
def shared_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """One host for many small requests (one process, like Thunderbird's)."""
    process = Host(make_host_env(tmp_path_factory.mktemp("shared")))
    # No DNS at all from random requests: uncloaking off, and a resolver nobody answers on.
    off = {"uncloak": False, "resolver": "127.0.0.1:9"}
    assert process.request({"id": "setup", "type": "settings.set", "settings": off})["ok"]
    yield process
    process.kill()


@pytest.mark.parametrize(
    "payload, code, rid",
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_request_gets_an_error_reply(
    shared_host: Host, payload: bytes, code: str, rid: Any
) -> None:
    shared_host.send_bytes(frame(payload))
    reply = shared_host.reply()
    assert reply["ok"] is False
    assert reply["id"] == rid
    assert reply["protocol"] == 1
    assert reply["error"]["code"] == code
    assert isinstance(reply["error"]["message"], str) and reply["error"]["message"]
    # ... and the host is still there.
    alive = shared_host.request({"id": "alive", "type": "stats"})
    assert alive["ok"] is True


def test_oversized_frame_is_answered_and_the_stream_resynchronised(host: Host) -> None:
    size = MAX_REQUEST_BYTES + 1
    head = b'{"id":"huge","type":"classify","message":{"html":"'
    body = head + b"x" * (size - len(head) - 3) + b'"}}'
    assert len(body) == size
    host.send_bytes(struct.pack("=I", size))
    host.send_bytes(body)
    reply = host.reply(timeout=60)
    assert reply["ok"] is False and reply["error"]["code"] == "frame_too_large"
    assert reply["id"] == "huge"
    after = host.request({"id": 2, "type": "hello", "addon_version": "x"})
    assert after["ok"] is True
    assert host.close() == 0


def test_bogus_length_then_end_of_input_exits_cleanly(host_env: dict[str, str]) -> None:
    status, out = run_host_bytes(host_env, frame({"id": 1, "type": "stats"}) + b"\xff\xff\xff\xff")
    replies = parse_frames(out)
    assert status == 0
    assert [r["id"] for r in replies] == [1, None]
    assert replies[1]["error"]["code"] == "frame_too_large"


@pytest.mark.parametrize(
    "tail, salvaged",
    [
        (b"\x10", None),  # one byte of a header
        (b"\x10\x00\x00", None),  # three bytes of a header
        (struct.pack("=I", 100) + b'{"id": 77, "type": "hel', 77),  # short body
    ],
)
def test_truncated_frame_at_end_of_input(
    host_env: dict[str, str], tail: bytes, salvaged: Any
) -> None:
    status, out = run_host_bytes(host_env, frame({"id": 1, "type": "stats"}) + tail)
    replies = parse_frames(out)
    assert status == 0
    assert replies[0]["id"] == 1 and replies[0]["ok"]
    assert replies[1]["error"]["code"] == "truncated_frame"
    assert replies[1]["id"] == salvaged
    assert len(replies) == 2


def test_end_of_input_is_a_clean_exit(host_env: dict[str, str]) -> None:
    status, out = run_host_bytes(host_env, b"")
    assert (status, out) == (0, b"")


@needs_engine
def test_burst_of_1000_requests(host: Host) -> None:
    host.request({"id": "off", "type": "settings.set", "settings": {"uncloak": False}})
    kinds = ["hello", "stats", "settings.get", "classify", "bogus"]
    sent: dict[int, str] = {}
    burst = bytearray()
    for i in range(1000):
        kind = kinds[i % len(kinds)]
        request: dict[str, Any] = {"id": i, "type": kind}
        if kind == "hello":
            request["addon_version"] = "burst"
        if kind == "classify":
            request["message"] = message(NEWSLETTER.replace("logo", f"logo{i}"), key=i)
        sent[i] = kind
        burst += frame(request)
    host.send_bytes(bytes(burst))
    replies = [host.reply(timeout=60) for _ in range(1000)]
    assert sorted(r["id"] for r in replies) == list(range(1000))
    for reply in replies:
        kind = sent[reply["id"]]
        if kind == "bogus":
            assert reply["error"]["code"] == "unknown_type"
        else:
            assert reply["ok"] is True, reply
            assert reply["type"] == kind
    assert host.request({"id": "s", "type": "stats"})["messages"] == 200
    assert host.close() == 0
    assert host.stray == b""


@needs_engine
def test_a_client_that_writes_everything_before_reading_does_not_deadlock(
    host_env: dict[str, str],
) -> None:
    """Many replies fill the stdout pipe while requests still fill stdin: the host must keep
    reading (its writes wait in their own thread), or both sides would wait forever."""
    process = subprocess.Popen(
        HOST_COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=host_env,
        cwd=REPO,
    )
    images = "".join(f'<img src="https://cdn.other.test/{i}/photo.jpg">' for i in range(150))
    html = NEWSLETTER + images + "<p>" + "filler text " * 8000 + "</p>"
    requests = frame({"id": "off", "type": "settings.set", "settings": {"uncloak": False}})
    requests += b"".join(
        frame({"id": i, "type": "classify", "message": message(html, key=i)}) for i in range(40)
    )
    assert len(requests) > 2_000_000  # far more than a pipe buffer; the replies too

    def write_everything() -> None:
        assert process.stdin is not None
        process.stdin.write(requests)
        process.stdin.close()

    writer = threading.Thread(target=write_everything, daemon=True)
    writer.start()
    writer.join(timeout=120)  # nothing is read from the host until every request is written
    try:
        assert not writer.is_alive(), "the host stopped reading while its replies waited"
        assert process.stdout is not None
        out = process.stdout.read()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
    replies = parse_frames(out)
    assert sorted(str(r["id"]) for r in replies) == sorted(["off", *map(str, range(40))])
    assert all(r["ok"] for r in replies)
    assert len(out) > 500_000


@needs_engine
def test_large_reply_is_trimmed_under_one_megabyte(host: Host) -> None:
    host.request({"id": "off", "type": "settings.set", "settings": {"uncloak": False}})
    images = "".join(
        f'<img src="https://cdn{i % 50}.other.test/{"p" * 150}/{i}.png" width="20" height="20">'
        for i in range(8000)
    )
    html = "<p>" + "words " * 100 + "</p>" + images + '<img src="https://img.shop.example/a.png">'
    host.send(frame_obj := {"id": "big", "type": "classify", "message": message(html)})
    assert frame_obj
    reply = host.reply(timeout=120)
    assert reply["ok"] is True
    assert reply["truncated"] is True and reply["omitted"] > 0
    assert len(json.dumps(reply, separators=(",", ":")).encode()) <= MAX_REPLY_BYTES
    kept = reply["verdict"]["resources"]
    assert len(kept) + reply["omitted"] == 8001
    # What the add-on may load survives the trimming first.
    logo = [r for r in kept if r["url"] == "https://img.shop.example/a.png"]
    assert logo and logo[0]["action"] == "allow"
    assert reply["verdict"]["blocked"] == 8000  # the counts describe the whole message
    assert host.close() == 0


@needs_engine
def test_logs_go_to_the_log_file_without_message_content(
    host: Host, host_env: dict[str, str]
) -> None:
    host.request({"id": "off", "type": "settings.set", "settings": {"uncloak": False}})
    host.request({"id": 1, "type": "classify", "message": message(NEWSLETTER)})
    host.send_bytes(frame(b"not json"))
    host.reply()
    assert host.close() == 0
    log = (Path(host_env["PIXELWARDEN_LOG_DIR"]) / "host.log").read_text()
    assert "started" in log and "end of input" in log
    for secret in ("shop.example", "reader@mail.test", "tracking.test"):
        assert secret not in log


def test_corrupt_settings_file_is_reported_in_hello(host_env: dict[str, str]) -> None:
    data = Path(host_env["PIXELWARDEN_DATA_DIR"])
    (data / "settings.sqlite3").write_bytes(b"garbage" * 1000)
    process = Host(host_env)
    try:
        reply = process.request({"id": 1, "type": "hello", "addon_version": "x"})
        assert reply["ok"] and reply["settings"]["mode"] == "strict"
        assert any("moved to" in w for w in reply["warnings"])
        assert list(data.glob("settings.sqlite3.corrupt-*"))
        assert process.close() == 0
    finally:
        process.kill()


def test_stray_prints_cannot_reach_the_channel(host_env: dict[str, str]) -> None:
    """Even a print() from inside the process lands on stderr, never between frames."""
    code = (
        "import sys, os\n"
        "from pixelwarden import host\n"
        "orig = host.setup_logging\n"
        "def noisy():\n"
        "    orig(); print('stray print'); os.write(1, b'stray fd write\\n')\n"
        "host.setup_logging = noisy\n"
        "sys.exit(host.run_host([]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=frame({"id": 1, "type": "stats"}),
        capture_output=True,
        env=host_env,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0
    assert [r["id"] for r in parse_frames(result.stdout)] == [1]
    assert b"stray print" in result.stderr and b"stray fd write" in result.stderr


# --- DNS: slow look-ups never stall other requests ------------------------------------------


@pytest.fixture
def slow_dns() -> Iterator[Any]:
    zone = Zone()
    zone.exists.add("www.shop.example")
    zone.cname("slow.shop.example", "mailgun.org", ttl=300)
    zone.exists.add("mailgun.org")
    zone.delays["slow.shop.example"] = 0.8
    zone.exists.add("stuck.shop.example")
    zone.delays["stuck.shop.example"] = 12.0
    with FakeDNS(zone) as server:
        yield server


def _use_dns(host: Host, server: Any) -> None:
    reply = host.request(
        {
            "id": "dns",
            "type": "settings.set",
            "settings": {
                "uncloak": True,
                "resolver": server.address,
                "dns_budget_ms": 150,
            },
        }
    )
    assert reply["ok"], reply


@needs_engine
@needs_fake_dns
def test_slow_dns_does_not_stall_other_requests(host: Host, slow_dns: Any) -> None:
    _use_dns(host, slow_dns)
    slow = message('<p>Hi</p><img src="https://slow.shop.example/banner.png" width="600">', key=1)
    # Needs no look-up (third party): its answer depends on nothing but the host being free.
    fast = message('<p>Hi</p><img src="https://cdn.other.test/logo.png" width="200">', key=2)
    started = time.monotonic()
    host.send({"id": "slow", "type": "classify", "message": slow})
    host.send({"id": "late", "type": "update", "request": "slow"})
    host.send({"id": "fast", "type": "classify", "message": fast})
    host.send({"id": "stats", "type": "stats"})
    order = []
    replies = {}
    for _ in range(4):
        reply = host.reply(timeout=30)
        order.append(reply["id"])
        replies[reply["id"]] = (reply, time.monotonic() - started)
    # The update waits for the slow answer; everything else is answered meanwhile.
    assert order[-1] == "late", order
    assert order.index("fast") < order.index("late")
    first, _ = replies["slow"]
    assert first["pending"] == ["slow.shop.example"]
    banner = decision(first, "https://slow.shop.example/banner.png")
    assert banner["action"] == "block" and banner["reasons"][0] == "dns_pending"
    fast_reply, fast_time = replies["fast"]
    assert fast_reply["pending"] == []
    assert decision(fast_reply, "https://cdn.other.test/logo.png")["action"] == "block"
    late, late_time = replies["late"]
    assert late["request"] == "slow" and late["pending"] == []
    final = decision(late, "https://slow.shop.example/banner.png")
    assert "dns_pending" not in final["reasons"]
    assert fast_time < late_time
    assert host.close() == 0


@needs_engine
@needs_fake_dns
def test_dns_that_never_answers_fails_closed(host: Host, slow_dns: Any) -> None:
    _use_dns(host, slow_dns)
    stuck = message('<p>Hi</p><img src="https://stuck.shop.example/a.png" width="600">')
    first = host.request({"id": 1, "type": "classify", "message": stuck})
    assert first["pending"] == ["stuck.shop.example"]
    late = host.request({"id": 2, "type": "update", "request": 1}, timeout=30)
    image = decision(late, "https://stuck.shop.example/a.png")
    assert image["action"] == "block"
    assert any(r.startswith("dns_failed") for r in image["reasons"]), image
    assert late["pending"] == []
    assert host.close() == 0


@needs_engine
@needs_fake_dns
def test_update_sent_before_its_classify_finished_still_waits(host: Host, slow_dns: Any) -> None:
    _use_dns(host, slow_dns)
    slow = message('<p>Hi</p><img src="https://slow.shop.example/banner.png" width="600">')
    host.send_bytes(
        frame({"id": 1, "type": "classify", "message": slow})
        + frame({"id": 2, "type": "update", "request": 1})
    )
    replies = {r["id"]: r for r in (host.reply(30), host.reply(30))}
    assert replies[2]["ok"], replies[2]
    assert replies[2]["pending"] == []
    assert host.close() == 0


@needs_engine
@needs_fake_dns
def test_no_look_up_for_a_host_that_only_undecided_urls_use(host: Host, slow_dns: Any) -> None:
    """A URL the add-on saw but the HTML lacks never loads: its name is not sent to DNS."""
    _use_dns(host, slow_dns)
    rendered = [{"url": "https://www.shop.example/injected.png", "width": 300, "height": 100}]
    reply = host.request(
        {"id": 1, "type": "classify", "message": message("<p>Hi</p>"), "rendered": rendered}
    )
    injected = decision(reply, "https://www.shop.example/injected.png")
    assert injected["action"] == "block" and injected["reasons"][0] == "undecided"
    assert reply["pending"] == []
    assert slow_dns.asked("www.shop.example") == 0
    # The same name in the message itself is looked up.
    html = '<p>Hi</p><img src="https://www.shop.example/logo.png" width="200" height="50">'
    host.request({"id": 2, "type": "classify", "message": message(html)}, timeout=30)
    # (the look-up may outlast the budget: the update waits for it)
    second = host.request({"id": 3, "type": "update", "request": 2}, timeout=30)
    assert host.close() == 0
    assert slow_dns.asked("www.shop.example") >= 1
    logo = decision(second, "https://www.shop.example/logo.png")
    assert "undecided" not in logo["reasons"]


@needs_engine
def test_without_the_dns_module_pending_hosts_stay_blocked(
    host_env: dict[str, str],
) -> None:
    code = (
        "import sys\n"
        "sys.modules['pixelwarden.uncloak'] = None  # the import fails\n"
        "from pixelwarden import host\n"
        "sys.exit(host.run_host([]))\n"
    )
    requests = frame(
        {"id": 1, "type": "classify",
         "message": message('<img src="https://img.shop.example/a.png" width="300">')}
    ) + frame({"id": 2, "type": "update", "request": 1}) + frame(
        {"id": 3, "type": "hello", "addon_version": "x"})  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=requests,
        capture_output=True,
        env=host_env,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    replies = {r["id"]: r for r in parse_frames(result.stdout)}
    image = decision(replies[1], "https://img.shop.example/a.png")
    assert image["action"] == "block" and image["reasons"][0].startswith("dns_failed")
    assert replies[2]["ok"]
    assert replies[3]["uncloaking_available"] is False


# --- Random input --------------------------------------------------------------------------

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TYPES = st.sampled_from(
    ["hello", "classify", "update", "allow", "block", "revoke", "settings.get", "settings.set",
     "stats", "nope", ""]
)  # fmt: skip
FIELDS = st.sampled_from(
    [
        "addon_version",
        "message",
        "rendered",
        "request",
        "scope",
        "value",
        "settings",
        "html",
    ]
)
REQUESTS = st.fixed_dictionaries(
    {"id": st.integers(0, 10**9) | st.text(max_size=10), "type": TYPES},
    optional={
        "message": st.fixed_dictionaries(
            {},
            optional={
                "key": JSON,
                "headers": JSON,
                "html": JSON,
                "text": JSON,
                "message_id": JSON,
            },  # fmt: skip
        ),
        "rendered": st.lists(
            st.dictionaries(st.sampled_from(["url", "element", "width", "hidden", "kind"]), JSON),
            max_size=3,
        ),
    },
).flatmap(lambda req: st.dictionaries(FIELDS, JSON, max_size=3).map(lambda extra: {**extra, **req}))
PAYLOADS = st.one_of(
    st.binary(max_size=300),
    JSON.map(lambda v: json.dumps(v).encode()),
    REQUESTS.map(lambda r: json.dumps(r).encode()),
    REQUESTS.map(lambda r: json.dumps(r).encode()[: max(1, len(json.dumps(r)) // 2)]),
)


def _no_constants(name: str) -> None:
    raise ValueError(name)


def expected_id(payload: bytes) -> Any:
    """The id a reply must carry: the request's, if it is a usable one, else null."""
    try:
        sent = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(sent, dict):
        return None
    value = sent.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    if isinstance(value, str) and len(value) <= 256:
        return value
    return None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=PAYLOADS)
def test_random_frames_always_get_exactly_one_reply(shared_host: Host, payload: bytes) -> None:
    shared_host.send_bytes(frame(payload))
    reply = shared_host.reply(timeout=30)
    assert reply["protocol"] == 1 and isinstance(reply["ok"], bool)
    if not reply["ok"]:
        assert reply["error"]["code"] in KNOWN_ERROR_CODES, reply
    assert reply["id"] == expected_id(payload)
    assert shared_host.process.poll() is None


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=2000))
def test_random_byte_streams_never_kill_the_host(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    env = make_host_env(tmp_path_factory.mktemp("raw"))
    status, out = run_host_bytes(env, frame({"id": 0, "type": "stats"}) + data)
    assert status == 0
    replies = parse_frames(out)  # nothing but whole frames
    assert replies[0]["id"] == 0
    for reply in replies[1:]:
        assert reply["ok"] is True or reply["error"]["code"] in KNOWN_ERROR_CODES


def test_host_command_is_importable_without_side_effects() -> None:
    """`import pixelwarden.host` must not touch stdio (only run_host does)."""
    result = subprocess.run(
        [sys.executable, "-c", "import pixelwarden.host; print('fine')"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.stdout.strip() == "fine"
    assert HOST_COMMAND[-1] == "pixelwarden.host"
