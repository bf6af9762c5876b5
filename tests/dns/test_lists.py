"""List updates against a local HTTP server, the stored provenance, status, and the matcher."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ListServer, Route
from pixelwarden import lists
from pixelwarden.lists import (
    AdblockLists,
    ListSource,
    UpdateResult,
    list_status,
    load_matcher,
    load_registry,
    update_lists,
)


def adblock_list(extra: int = 60) -> bytes:
    """A synthetic adblock-syntax list written for these tests."""
    lines = ["! Title: test e-mail trackers", "! comment lines do not count"]
    lines += [f"||pixel{i}.mailtrack.example^$image" for i in range(extra)]
    lines += [
        "/track/open?$image",
        "||beacon.example^$third-party",
        "||allowed.mailtrack.example^",
        "@@||allowed.mailtrack.example/logo.png",
    ]
    return ("\n".join(lines) + "\n").encode()


def domains_list(count: int = 30) -> bytes:
    lines = ["# Title: test cloaked mail trackers", "#"]
    lines += [f"c{i}.cloaked.example" for i in range(count)]
    lines += ["email.shop.example", "links.news.example"]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def registry(http_server: ListServer) -> list[ListSource]:
    http_server.routes["/ep.txt"] = Route(adblock_list())
    http_server.routes["/ag.txt"] = Route(domains_list())
    return [
        ListSource("test_adblock", http_server.url("/ep.txt"), "adblock", min_rules=50),
        ListSource("test_domains", http_server.url("/ag.txt"), "domains", min_rules=20),
    ]


def stored(data_dir: Path) -> dict[str, dict]:
    folder = data_dir / "lists"
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


# -- the bundled registry ----------------------------------------------------------------------


def test_bundled_registry_names_upstream_addresses_licences_and_periods() -> None:
    sources = {s.name: s for s in load_registry()}
    assert set(sources) == {"easyprivacy_emailtrackers", "adguard_cname_mail_trackers"}
    ep = sources["easyprivacy_emailtrackers"]
    assert ep.url.endswith("/easyprivacy/easyprivacy_general_emailtrackers.txt")
    assert ep.format == "adblock" and "GPL" in ep.licence and ep.update_days > 0
    ag = sources["adguard_cname_mail_trackers"]
    assert "AdguardTeam/cname-trackers" in ag.url and "mail_trackers" in ag.url
    assert ag.format == "domains" and ag.licence == "MIT"
    assert all(s.url.startswith("https://") for s in sources.values())


def test_registry_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "reg.json"
    path.write_text(
        json.dumps({"lists": [{"name": "x", "url": "http://h/x", "format": "adblock"}]})
    )
    monkeypatch.setenv("PIXELWARDEN_LISTS_REGISTRY", str(path))
    assert [s.name for s in load_registry()] == ["x"]


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "x"},
        {"name": "x", "url": "u", "format": "rpz"},
        {"name": "../x", "url": "u", "format": "adblock"},
    ],
)
def test_bad_registry_entries_are_structured_errors(tmp_path: Path, entry: dict) -> None:
    path = tmp_path / "reg.json"
    path.write_text(json.dumps({"lists": [entry]}))
    with pytest.raises(lists.PixelWardenError) as caught:
        load_registry(path)
    assert caught.value.code == "invalid_registry"


# -- updates -----------------------------------------------------------------------------------


def test_good_download_is_stored_with_provenance(
    registry: list[ListSource], data_dir: Path
) -> None:
    results = update_lists(registry)
    assert [(r.name, r.status) for r in results] == [
        ("test_adblock", "updated"),
        ("test_domains", "updated"),
    ]
    meta = stored(data_dir)["test_adblock"]
    body = adblock_list()
    assert meta["url"] == registry[0].url
    assert meta["sha256"] == hashlib.sha256(body).hexdigest()
    assert meta["rules"] == 64  # 60 + 3 blocking + 1 exception; comments excluded
    assert meta["fetched"] and meta["bytes"] == len(body)
    assert (data_dir / "lists" / meta["file"]).read_bytes() == body


def test_status_says_what_is_loaded_and_how_old(registry: list[ListSource], data_dir: Path) -> None:
    before = {row["name"]: row for row in list_status(registry=registry)}
    assert not before["test_adblock"]["loaded"] and before["test_adblock"]["stale"]
    update_lists(registry)
    after = {row["name"]: row for row in list_status(registry=registry)}
    row = after["test_adblock"]
    assert row["loaded"] and row["rules"] == 64 and not row["stale"]
    assert 0 <= row["age_days"] < 0.01 and row["updated"]


def fail_with(
    http_server: ListServer,
    registry: list[ListSource],
    route: Route | None,
    timeout: float = 30.0,
) -> UpdateResult:
    update_lists(registry)  # a good copy first
    if route is None:
        del http_server.routes["/ep.txt"]
    else:
        http_server.routes["/ep.txt"] = route
    return update_lists(registry, names=["test_adblock"], timeout=timeout)[0]


@pytest.mark.parametrize(
    ("route", "code"),
    [
        (None, "http_error"),  # 404
        (Route(adblock_list(), status=500), "http_error"),
        (Route(adblock_list(), truncate_to=700), "truncated"),
        (Route(b"<!DOCTYPE html><html><body>Rate limited</body></html>" * 5), "html"),
        (Route(adblock_list(), content_type="text/html"), "html"),
        (Route(bytes(range(256)) * 20), "not_text"),
        (Route(b"\xff\xfe" + "é".encode("latin-1") * 500), "not_text"),
        (Route(b"just some words\n" * 40), "too_few_rules"),
        (Route(b"x"), "too_small"),
        (Route(adblock_list(extra=5000)), "too_large"),
    ],
)
def test_broken_download_keeps_the_last_good_copy(
    http_server: ListServer,
    registry: list[ListSource],
    data_dir: Path,
    route: Route | None,
    code: str,
) -> None:
    registry[0] = ListSource(
        "test_adblock",
        http_server.url("/ep.txt"),
        "adblock",
        min_rules=50,
        max_bytes=20_000,
    )
    good = stored(data_dir)
    result = fail_with(http_server, registry, route)
    assert result.status == "failed" and not result.ok
    assert result.error is not None and result.error["code"] == code
    after = stored(data_dir)["test_adblock"]
    assert result.kept == after["fetched"]
    good = stored(data_dir)
    assert good["test_adblock"]["sha256"] == hashlib.sha256(adblock_list()).hexdigest()
    assert after["last_error"]["code"] == code
    # The copy in use still matches.
    matcher = load_matcher(registry=registry)
    assert matcher is not None
    assert matcher.match("https://pixel3.mailtrack.example/o.gif", "shop.example") == "test_adblock"
    status = {row["name"]: row for row in list_status(registry=registry)}
    assert status["test_adblock"]["loaded"] and status["test_adblock"]["last_error"]["code"] == code


def test_slow_server_beyond_the_timeout(
    http_server: ListServer, registry: list[ListSource], data_dir: Path
) -> None:
    start = time.perf_counter()
    result = fail_with(http_server, registry, Route(adblock_list(), delay=3.0), timeout=0.5)
    assert result.error is not None and result.error["code"] == "timeout"
    assert time.perf_counter() - start < 2.5


def test_dripping_server_beyond_the_total_timeout(
    http_server: ListServer, registry: list[ListSource], data_dir: Path
) -> None:
    # Each chunk comes well within the socket timeout, but the whole exceeds the total limit.
    start = time.perf_counter()
    result = fail_with(http_server, registry, Route(adblock_list(extra=300), drip=0.2), timeout=0.5)
    assert result.error is not None and result.error["code"] == "timeout"
    assert time.perf_counter() - start < 2.5


def test_a_list_that_suddenly_halves_is_refused(
    http_server: ListServer, registry: list[ListSource], data_dir: Path
) -> None:
    result = fail_with(http_server, registry, Route(adblock_list(extra=10)))
    assert result.error is not None and result.error["code"] == "too_few_rules"
    registry[0] = ListSource("test_adblock", registry[0].url, "adblock", min_rules=5)
    result = update_lists(registry, names=["test_adblock"])[0]
    assert result.error is not None and result.error["code"] == "shrunk"


def test_first_failure_without_a_copy(http_server: ListServer, registry: list[ListSource]) -> None:
    del http_server.routes["/ep.txt"]
    result = update_lists(registry)[0]
    assert result.status == "failed" and result.kept is None
    assert load_matcher(registry=registry[:1]) is None


def test_unreachable_and_non_http_addresses(registry: list[ListSource]) -> None:
    results = update_lists(
        registry,
        urls={
            "test_adblock": "file:///etc/passwd",
            "test_domains": "http://127.0.0.1:9/x",
        },
    )
    assert [r.error["code"] for r in results if r.error] == ["bad_url", "network"]


def test_etag_gives_unchanged_without_a_body(
    http_server: ListServer, registry: list[ListSource], data_dir: Path
) -> None:
    http_server.routes["/ep.txt"].headers["ETag"] = '"v1"'
    assert update_lists(registry, names=["test_adblock"])[0].status == "updated"
    result = update_lists(registry, names=["test_adblock"])[0]
    assert result.status == "unchanged"
    assert http_server.requests[-1][1].get("If-None-Match") == '"v1"'


def test_new_version_replaces_the_old_file(
    http_server: ListServer, registry: list[ListSource], data_dir: Path
) -> None:
    update_lists(registry)
    first = stored(data_dir)["test_adblock"]["file"]
    for extra in (70, 80):
        http_server.routes["/ep.txt"] = Route(adblock_list(extra=extra))
        assert update_lists(registry, names=["test_adblock"])[0].status == "updated"
    files = sorted(p.name for p in (data_dir / "lists").glob("test_adblock-*.txt"))
    # The copy in use and the one before it (a reader may still be opening it); not older ones.
    assert len(files) == 2 and first not in files
    assert not list((data_dir / "lists").glob(".*.tmp"))
    assert stored(data_dir)["test_adblock"]["rules"] == 84


def test_tampered_copy_is_ignored(
    registry: list[ListSource], data_dir: Path, cache_dir: Path
) -> None:
    update_lists(registry)
    meta = stored(data_dir)["test_adblock"]
    (data_dir / "lists" / meta["file"]).write_text("||everything.example^\n")
    matcher = load_matcher(registry=registry[:1], cache_dir=cache_dir / "fresh")
    assert matcher is None


# -- matching ----------------------------------------------------------------------------------


@pytest.fixture
def matcher(registry: list[ListSource]) -> AdblockLists:
    update_lists(registry)
    result = load_matcher(registry=registry)
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("url", "sender", "kind", "expected"),
    [
        (
            "https://pixel7.mailtrack.example/o.gif",
            "shop.example",
            "image",
            "test_adblock",
        ),
        (
            "https://pixel7.mailtrack.example/o.css",
            "shop.example",
            "stylesheet",
            None,
        ),  # $image
        (
            "https://news.shop.example/track/open?id=1",
            "shop.example",
            "image",
            "test_adblock",
        ),
        ("https://news.shop.example/logo.png", "shop.example", "image", None),
        ("https://beacon.example/b.gif", "shop.example", "image", "test_adblock"),
        (
            "https://beacon.example/b.gif",
            "beacon.example",
            "image",
            None,
        ),  # $third-party
        (
            "https://allowed.mailtrack.example/logo.png",
            "shop.example",
            "image",
            None,
        ),  # @@
        (
            "https://allowed.mailtrack.example/o.gif",
            "shop.example",
            "image",
            "test_adblock",
        ),
        (
            "https://email.shop.example/wf/open?x=1",
            "shop.example",
            "image",
            "test_domains",
        ),
        ("https://a.c3.cloaked.example/p.gif", None, "image", "test_domains"),
        ("https://shop.example/p.gif", "shop.example", "image", None),
        ("not a url", "shop.example", "image", None),
    ],
)
def test_match(
    matcher: AdblockLists, url: str, sender: str | None, kind: str, expected: str | None
) -> None:
    assert matcher.match(url, sender, kind) == expected


def test_domains_list_is_cname_knowledge(matcher: AdblockLists) -> None:
    targets = matcher.extra_cname_targets()
    assert "email.shop.example" in targets and "c0.cloaked.example" in targets
    assert len(targets) == 32
    assert matcher.cname_target("x.links.news.example") == "test_domains"
    assert matcher.cname_target("news.example") is None


def test_engine_is_cached_and_deserialised_next_time(
    registry: list[ListSource], cache_dir: Path
) -> None:
    update_lists(registry)
    first = load_matcher(registry=registry)
    assert first is not None and first.build_seconds > 0
    cached = sorted(p.name for p in (cache_dir / "lists-engine").glob("*.bin"))
    assert len(cached) == 1 and cached[0].startswith("test_adblock-")  # domains lists are sets
    second = load_matcher(registry=registry)
    assert second is not None and second.build_seconds == 0 and second.load_seconds > 0
    url = "https://pixel1.mailtrack.example/o.gif"
    assert second.match(url, "shop.example") == first.match(url, "shop.example") == "test_adblock"


def test_domain_names_load_without_their_companion_file(
    registry: list[ListSource], data_dir: Path
) -> None:
    update_lists(registry)
    (names_file,) = (data_dir / "lists").glob("test_domains-*.names")
    names_file.unlink()
    matcher = load_matcher(registry=registry)
    assert matcher is not None
    assert matcher.match("https://email.shop.example/x.png", "shop.example") == "test_domains"
    assert names_file.exists()  # written again


def test_corrupt_engine_cache_is_rebuilt(registry: list[ListSource], cache_dir: Path) -> None:
    update_lists(registry)
    load_matcher(registry=registry)
    for path in (cache_dir / "lists-engine").glob("*.bin"):
        path.write_bytes(b"garbage")
    again = load_matcher(registry=registry)
    assert again is not None and again.build_seconds > 0
    assert again.match("https://pixel1.mailtrack.example/o.gif", "shop.example") == "test_adblock"


def test_nothing_downloaded_means_no_matcher(data_dir: Path) -> None:
    assert load_matcher() is None


# -- through the command line ------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixelwarden.cli", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,  # the exit status is asserted
    )


@pytest.fixture
def registry_file(
    tmp_path: Path, registry: list[ListSource], monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = tmp_path / "registry.json"
    items = [
        {"name": s.name, "url": s.url, "format": s.format, "min_rules": s.min_rules}
        for s in registry
    ]
    path.write_text(json.dumps({"version": 1, "lists": items}))
    monkeypatch.setenv("PIXELWARDEN_LISTS_REGISTRY", str(path))
    return path


def test_cli_lists_update_and_status(registry_file: Path, http_server: ListServer) -> None:
    pytest.importorskip("pixelwarden.cli")
    status = run_cli("lists", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert [row["loaded"] for row in json.loads(status.stdout)] == [False, False]

    update = run_cli("lists", "update", "--json")
    assert update.returncode == 0, update.stderr
    lines = [json.loads(line) for line in update.stdout.splitlines()]
    assert [(r["name"], r["status"]) for r in lines] == [
        ("test_adblock", "updated"),
        ("test_domains", "updated"),
    ]

    del http_server.routes["/ag.txt"]
    failed = run_cli("lists", "update", "test_domains")
    assert failed.returncode == 1
    assert (
        "test_domains: failed (http_error" in failed.stdout and "keeping the copy" in failed.stdout
    )

    text = run_cli("lists", "status")
    assert text.returncode == 0
    assert "test_adblock: 64 rules" in text.stdout and "last update failed" in text.stdout

    assert run_cli("lists", "update", "no_such_list").returncode == 2


def test_scan_uses_the_downloaded_lists(registry_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("pixelwarden.cli")
    assert run_cli("lists", "update").returncode == 0
    mail = tmp_path / "m.eml"
    mail.write_bytes(
        b"From: News <news@other.example>\r\nTo: r@mail.example\r\nSubject: s\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello there, some text for a real newsletter.</p>"
        b'<img src="https://pixel5.mailtrack.example/a.png" width="600" height="300">'
        b'<img src="https://x.c7.cloaked.example/b.png" width="600" height="300">\r\n'
    )
    proc = run_cli("scan", "--json", "--no-dns", str(mail))
    assert proc.returncode == 0, proc.stderr
    resources = {r["url"]: r for r in json.loads(proc.stdout)["resources"]}
    assert (
        "tracker_list:test_adblock"
        in resources["https://pixel5.mailtrack.example/a.png"]["reasons"]
    )
    assert "tracker_list:test_domains" in resources["https://x.c7.cloaked.example/b.png"]["reasons"]


def test_byte_order_mark_is_kept_in_the_stored_bytes(
    http_server: ListServer, registry: list[ListSource], data_dir: Path
) -> None:
    http_server.routes["/ep.txt"] = Route(b"\xef\xbb\xbf" + adblock_list())
    assert update_lists(registry, names=["test_adblock"])[0].status == "updated"
    matcher = load_matcher(registry=registry)
    assert matcher is not None
    assert matcher.match("https://pixel2.mailtrack.example/o.gif", "shop.example") == "test_adblock"


def test_unwritable_data_folder_is_a_failed_result(
    registry: list[ListSource], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    results = update_lists(registry, data_dir=blocker)
    assert {r.status for r in results} == {"failed"}
    assert {r.error["code"] for r in results if r.error} == {"storage"}
