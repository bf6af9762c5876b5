"""The DNS cache: TTLs, brief failures, a corrupt file, two processes, a bounded size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pixelwarden import dnscache
from pixelwarden.dnscache import FAILURE_TTL, DnsCache
from pixelwarden.model import CnameAnswer


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_good_answer_lives_for_its_ttl(tmp_path: Path) -> None:
    clock = Clock()
    cache = DnsCache(tmp_path / "c.json", clock=clock)
    cache.put("mg.shop.example", CnameAnswer("ok", ("mailgun.org",)), ttl=120)
    clock.now += 119
    assert cache.get("mg.shop.example") == CnameAnswer("ok", ("mailgun.org",))
    clock.now += 2
    assert cache.get("mg.shop.example") is None


def test_ttl_is_clamped(tmp_path: Path) -> None:
    clock = Clock()
    cache = DnsCache(tmp_path / "c.json", clock=clock)
    cache.put("zero.example", CnameAnswer("ok"), ttl=0)
    cache.put("year.example", CnameAnswer("ok"), ttl=365 * 86400)
    clock.now += dnscache.MIN_TTL - 1
    assert cache.get("zero.example") is not None
    clock.now += dnscache.MAX_TTL
    assert cache.get("year.example") is None


@pytest.mark.parametrize("status", ["servfail", "timeout", "loop", "too_long", "error"])
def test_failures_are_cached_briefly(tmp_path: Path, status: str) -> None:
    clock = Clock()
    cache = DnsCache(tmp_path / "c.json", clock=clock)
    cache.put("broken.example", CnameAnswer(status), ttl=3600)  # the TTL does not apply
    clock.now += FAILURE_TTL - 1
    assert cache.get("broken.example") == CnameAnswer(status)
    clock.now += 2
    assert cache.get("broken.example") is None


@pytest.mark.parametrize("status", ["pending", "skipped"])
def test_non_answers_are_not_cached(tmp_path: Path, status: str) -> None:
    cache = DnsCache(tmp_path / "c.json")
    cache.put("x.example", CnameAnswer(status), ttl=300)
    assert cache.get("x.example") is None


def test_round_trip_through_the_file_keeps_expiry(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "sub" / "c.json"
    cache = DnsCache(path, clock=clock)
    cache.put("a.example", CnameAnswer("ok", ("b.example", "c.example")), ttl=100)
    cache.save()
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    clock.now += 50
    again = DnsCache(path, clock=clock)
    assert again.get("a.example") == CnameAnswer("ok", ("b.example", "c.example"))
    clock.now += 51
    assert DnsCache(path, clock=clock).get("a.example") is None


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\x00\xff\xfe garbage",
        b"[]",
        b'{"version": 99, "entries": {}}',
        b'{"version": 1, "entries": {"a.example": ["ok"]}}',
        b'{"version": 1, "entries": {"a.example": ["weird", [], 9e99]}}',
        b'{"version": 1}',
    ],
)
def test_corrupt_file_is_rebuilt_silently(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(content)
    cache = DnsCache(path)
    assert len(cache) == 0
    assert "rebuilding" in caplog.text
    cache.put("mg.shop.example", CnameAnswer("ok", ("mailgun.org",)), ttl=60)
    cache.save()
    data = json.loads(path.read_text())
    assert data["version"] == dnscache.FORMAT_VERSION
    assert list(data["entries"]) == ["mg.shop.example"]


def test_corrupt_file_alone_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(b"{truncated")
    DnsCache(path).save()
    assert json.loads(path.read_text())["entries"] == {}


def test_save_merges_with_what_another_process_wrote(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    first = DnsCache(path)
    second = DnsCache(path)
    first.put("one.example", CnameAnswer("ok", ("x.example",)), ttl=300)
    second.put("two.example", CnameAnswer("ok"), ttl=300)
    first.save()
    second.save()
    third = DnsCache(path)
    assert third.get("one.example") == CnameAnswer("ok", ("x.example",))
    assert third.get("two.example") == CnameAnswer("ok")


def test_size_is_bounded_keeping_the_longest_lived(tmp_path: Path) -> None:
    clock = Clock()
    cache = DnsCache(tmp_path / "c.json", max_entries=10, clock=clock)
    for i in range(30):
        cache.put(f"n{i}.example", CnameAnswer("ok"), ttl=100 + i)
    cache.save()
    assert len(cache) == 10
    kept = DnsCache(tmp_path / "c.json", max_entries=10, clock=clock)
    assert kept.get("n29.example") is not None
    assert kept.get("n0.example") is None


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    cache = DnsCache(tmp_path / "c.json")
    for i in range(5):
        cache.put(f"n{i}.example", CnameAnswer("ok"), ttl=60)
        cache.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "c.json.lock"]


def test_unwritable_folder_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = DnsCache(blocker / "c.json")  # its parent is a file: cannot be created
    cache.put("a.example", CnameAnswer("ok"), ttl=60)
    cache.save()
    assert "could not save" in caplog.text


def test_default_location_follows_the_environment(cache_dir: Path) -> None:
    assert DnsCache().path == cache_dir / dnscache.FILE_NAME


WRITER = """
import sys
from pixelwarden.dnscache import DnsCache
from pixelwarden.model import CnameAnswer
path, tag = sys.argv[1], sys.argv[2]
for i in range(60):
    cache = DnsCache(__import__("pathlib").Path(path))
    cache.put(f"{tag}{i}.example", CnameAnswer("ok", (f"{tag}.target.example",)), ttl=600)
    cache.save()
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.json"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag]) for tag in ("cli", "host")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    cache = DnsCache(path)
    for tag in ("cli", "host"):
        for i in range(60):
            assert cache.get(f"{tag}{i}.example") == CnameAnswer("ok", (f"{tag}.target.example",))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
