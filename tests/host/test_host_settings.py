"""settings.py: validation, overrides with undo, export/import, corruption and kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pixelwarden.model import Mode, PixelWardenError
from pixelwarden.settings import SCHEMA_VERSION, Settings, SettingsStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SettingsStore]:
    opened = SettingsStore.open(tmp_path / "settings.sqlite3")
    yield opened
    opened.close()


def test_defaults(store: SettingsStore) -> None:
    current = store.settings()
    assert current == Settings()
    assert current.to_json() == {
        "mode": "strict",
        "uncloak": True,
        "resolver": None,
        "identities": [],
        "dns_budget_ms": 250,
    }


def test_file_is_wal_with_schema_version_and_migration_record(
    store: SettingsStore,
) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [row[0] for row in conn.execute("SELECT version FROM migrations")] == [1]
    conn.close()


def test_update_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    first = SettingsStore.open(path)
    first.update({"mode": "relaxed", "resolver": "127.0.0.1:5353", "identities": ["Me@X.test"]})
    first.close()
    second = SettingsStore.open(path)
    current = second.settings()
    assert current.mode is Mode.RELAXED
    assert current.resolver == "127.0.0.1:5353"
    assert current.identities == ("me@x.test",)
    second.close()


@pytest.mark.parametrize(
    "patch",
    [
        {"mode": "lenient"},
        {"uncloak": "yes"},
        {"uncloak": 1},
        {"resolver": "dns.google"},
        {"resolver": "127.0.0.1:0"},
        {"resolver": "127.0.0.1:70000"},
        {"resolver": "[::1"},
        {"identities": "me@x.test"},
        {"identities": ["not an address"]},
        {"dns_budget_ms": -1},
        {"dns_budget_ms": 2.5},
        {"dns_budget_ms": True},
        {"colour": "blue"},
        {
            "mode": "relaxed",
            "uncloak": "no",
        },  # one bad value: nothing at all is written
    ],
)
def test_invalid_settings_change_nothing(store: SettingsStore, patch: dict[str, object]) -> None:
    before = store.settings()
    with pytest.raises(PixelWardenError) as caught:
        store.update(patch)
    assert caught.value.code == "invalid_settings"
    assert store.settings() == before


@pytest.mark.parametrize(
    "given, stored",
    [
        ("::1", "::1"),
        ("[::1]:5353", "[::1]:5353"),
        ("9.9.9.9", "9.9.9.9"),
        (None, None),
    ],
)
def test_resolver_forms(store: SettingsStore, given: str | None, stored: str | None) -> None:
    assert store.update({"resolver": given}).resolver == stored


def test_overrides_allow_block_revoke(store: SettingsStore) -> None:
    store.set_override("sender", "News@Shop.Example")
    store.set_override("message", "<abc@shop.example>")
    store.set_override("domain", "shop.example")
    store.set_override("domain", "ads.example", "block")
    parts = store.to_knowledge_parts()
    assert parts.overrides.allow_senders == {"news@shop.example"}
    assert "abc@shop.example" in parts.overrides.allow_messages
    assert "<abc@shop.example>" in parts.overrides.allow_messages
    assert parts.overrides.allow_domains == {"shop.example"}
    assert parts.overrides.block_domains == {"ads.example"}
    # The latest choice for the same domain wins.
    store.set_override("domain", "shop.example", "block")
    parts = store.to_knowledge_parts()
    assert parts.overrides.allow_domains == frozenset()
    assert parts.overrides.block_domains == {"ads.example", "shop.example"}
    # Undo.
    assert store.revoke("domain", "shop.example") is True
    assert store.revoke("domain", "shop.example") is False
    assert store.revoke("sender", "news@shop.example") is True
    assert {(o.scope, o.value) for o in store.overrides()} == {
        ("message", "abc@shop.example"),
        ("domain", "ads.example"),
    }


@pytest.mark.parametrize(
    "scope, value, action",
    [
        ("sender", "no-at-sign", "allow"),
        ("domain", "bad domain", "allow"),
        ("domain", "", "allow"),
        ("message", "", "allow"),
        ("message", "has space@x", "allow"),
        ("sender", "a@b.test", "block"),  # only domains can be blocked
        ("folder", "x", "allow"),
        ("domain", 42, "allow"),
        ("domain", "x.test", "maybe"),
    ],
)
def test_invalid_overrides(store: SettingsStore, scope: str, value: object, action: str) -> None:
    with pytest.raises(PixelWardenError) as caught:
        store.set_override(scope, value, action)
    assert caught.value.code == "invalid_settings"
    assert store.overrides() == []


def test_export_import_round_trip(tmp_path: Path, store: SettingsStore) -> None:
    store.update({"mode": "relaxed", "identities": ["a@b.test"], "dns_budget_ms": 100})
    store.set_override("sender", "n@shop.example")
    store.set_override("domain", "ads.example", "block")
    exported = json.loads(json.dumps(store.export()))
    other = SettingsStore.open(tmp_path / "other.sqlite3")
    other.set_override("domain", "will-be-replaced.example")
    settings, count = other.import_(exported)
    assert count == 2
    assert other.settings() == store.settings() == settings
    assert [o.to_json() for o in other.overrides()] == [o.to_json() for o in store.overrides()]
    other.close()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(format="something-else"),
        lambda d: d.update(version=99),
        lambda d: d["settings"].update(mode="wild"),
        lambda d: d["overrides"].append({"scope": "sender", "value": "broken"}),
        lambda d: d["overrides"].append("not an object"),
        lambda d: d.update(extra=True),
    ],
)
def test_import_is_all_or_nothing(store: SettingsStore, mutate: object) -> None:
    store.update({"mode": "relaxed"})
    store.set_override("sender", "keep@shop.example")
    data = store.export()
    data["settings"]["mode"] = "strict"
    data["overrides"] = [{"scope": "domain", "value": "new.example", "action": "allow"}]
    before = (store.settings(), store.overrides())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(PixelWardenError) as caught:
        store.import_(data)
    assert caught.value.code == "invalid_settings"
    assert (store.settings(), store.overrides()) == before


def test_garbage_file_is_moved_aside_and_defaults_restored(tmp_path: Path) -> None:
    path = tmp_path / "settings.sqlite3"
    path.write_bytes(b"this is not a database at all" * 100)
    store = SettingsStore.open(path)
    assert store.settings() == Settings()
    assert store.warnings and "moved to" in store.warnings[0]
    aside = list(tmp_path.glob("settings.sqlite3.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes().startswith(b"this is not a database")
    store.update({"mode": "relaxed"})  # the new file works
    store.close()


def test_damaged_pages_are_detected(tmp_path: Path) -> None:
    path = tmp_path / "settings.sqlite3"
    store = SettingsStore.open(path)
    for i in range(300):
        store.set_override("sender", f"user{i}@x.test")
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 8192
    for offset in range(4096 + 100, len(data), 4096):  # scribble over every page but the first
        data[offset : offset + 200] = b"\xa5" * 200
    path.write_bytes(bytes(data))
    reopened = SettingsStore.open(path)
    assert reopened.warnings, "damage went unnoticed"
    assert reopened.overrides() == []
    assert list(tmp_path.glob("settings.sqlite3.corrupt-*"))
    reopened.close()


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "settings.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(PixelWardenError) as caught:
        SettingsStore.open(path)
    assert caught.value.code == "settings_too_new"
    assert path.read_bytes() == before


def test_a_hand_edited_bad_value_is_ignored_not_fatal(store: SettingsStore) -> None:
    store.update({"mode": "relaxed", "dns_budget_ms": 100})
    store.conn.execute("UPDATE settings SET value = '\"wild\"' WHERE key = 'mode'")
    current = store.settings()
    assert current.mode is Mode.STRICT  # the default for the bad value
    assert current.dns_budget_ms == 100  # the rest is kept


WRITER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path
    from pixelwarden.settings import SettingsStore

    store = SettingsStore.open(Path(sys.argv[1]))
    stop_in_transaction = sys.argv[2] == "hold"
    i = 0
    while True:
        store.set_override("sender", f"user{i}@x.test")
        store.update({"dns_budget_ms": i % 5000})
        print(i, flush=True)  # acknowledged: committed before this line is written
        i += 1
        if stop_in_transaction and i == 100:
            conn = store.conn
            conn.execute("PRAGMA cache_size = 5")  # spill uncommitted pages into the WAL
            conn.execute("BEGIN IMMEDIATE")
            for n in range(5000):
                conn.execute(
                    "INSERT INTO overrides VALUES ('domain', ?, 'allow', 'x')", (f"d{n}.example",)
                )
            conn.execute("UPDATE settings SET value = '\\"relaxed\\"' WHERE key = 'mode'")
            print("IN TRANSACTION", flush=True)
            time.sleep(120)
    """
)


def _run_writer(tmp_path: Path, how: str, kill_after: int) -> tuple[Path, list[int], str]:
    path = tmp_path / "settings.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(path), how], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    acknowledged: list[int] = []
    last = ""
    for line in writer.stdout:
        last = line.strip()
        if last == "IN TRANSACTION":
            break
        acknowledged.append(int(last))
        if how == "random" and len(acknowledged) == kill_after:
            break  # the writer is already in its next write: killed wherever it is
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    return path, acknowledged, last


@pytest.mark.parametrize("kill_after", [1, 57, 300])
def test_kill_minus_9_during_writes_loses_nothing_acknowledged(
    tmp_path: Path, kill_after: int
) -> None:
    path, acknowledged, _ = _run_writer(tmp_path, "random", kill_after)
    store = SettingsStore.open(path)
    assert store.warnings == []
    values = {o.value for o in store.overrides()}
    assert {f"user{i}@x.test" for i in acknowledged} <= values
    assert store.settings().dns_budget_ms >= acknowledged[-1] % 5000
    store.close()


def test_kill_minus_9_in_the_middle_of_a_transaction(tmp_path: Path) -> None:
    path, acknowledged, last = _run_writer(tmp_path, "hold", 0)
    assert last == "IN TRANSACTION" and len(acknowledged) == 100
    wal = Path(f"{path}-wal")
    assert wal.exists() and wal.stat().st_size > 0
    store = SettingsStore.open(path)
    assert store.warnings == []
    values = {o.value for o in store.overrides()}
    assert values == {f"user{i}@x.test" for i in range(100)}  # nothing of the open transaction
    assert store.settings().mode is Mode.STRICT
    assert store.settings().dns_budget_ms == 99
    store.close()


def test_cli_export_import(tmp_path: Path) -> None:
    env = dict(os.environ, PIXELWARDEN_DATA_DIR=str(tmp_path / "data"))
    store = SettingsStore.open(tmp_path / "data" / "settings.sqlite3")
    store.update({"mode": "relaxed"})
    store.set_override("sender", "a@b.test")
    store.close()
    cli = [sys.executable, "-m", "pixelwarden.cli", "settings"]
    exported = subprocess.run([*cli, "export"], env=env, capture_output=True, text=True)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["settings"]["mode"] == "relaxed"
    data["settings"]["mode"] = "strict"
    data["overrides"].append({"scope": "domain", "value": "bad domain"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    refused = subprocess.run([*cli, "import", str(bad)], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "invalid_settings" in refused.stderr
    data["overrides"].pop()
    good = tmp_path / "good.json"
    good.write_text(json.dumps(data))
    done = subprocess.run([*cli, "import", str(good)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reopened = SettingsStore.open(tmp_path / "data" / "settings.sqlite3")
    assert reopened.settings().mode is Mode.STRICT
    assert [o.value for o in reopened.overrides()] == ["a@b.test"]
    reopened.close()
