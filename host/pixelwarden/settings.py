"""The user's settings and overrides, kept in SQLite so that nothing committed is ever lost.

Durability: write-ahead log with ``synchronous=FULL``, one short ``BEGIN IMMEDIATE`` transaction
per change, so a process killed in the middle of a write loses at most that uncommitted change.
A file that SQLite cannot read is moved aside as ``<name>.corrupt-<timestamp>`` (with its -wal and
-shm companions), a warning is logged and kept in ``warnings``, and defaults are restored: the
host keeps working and the user learns why the choices are gone.

Values are validated on every way in (protocol, import, and even on read from disk): an invalid
setting raises ``PixelWardenError("invalid_settings")`` and changes nothing.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import re
import sqlite3
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .model import Action, Mode, Overrides, PixelWardenError

log = logging.getLogger("pixelwarden.settings")

SCHEMA_VERSION = 1
FILE_NAME = "settings.sqlite3"
EXPORT_FORMAT = "pixelwarden-settings"
EXPORT_VERSION = 1

SCOPES = ("message", "sender", "domain")
# Only a domain can be blocked on purpose; messages and senders are only ever allowed.
BLOCK_SCOPES = ("domain",)

MAX_IDENTITIES = 200
MAX_VALUE_CHARS = 998  # the longest header line RFC 5322 allows: no real Message-ID is longer
MAX_OVERRIDES_IMPORT = 100_000
MAX_DNS_BUDGET_MS = 5000

# Each step runs once, in its own transaction, recorded in `migrations` and PRAGMA user_version.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE overrides (
            scope TEXT NOT NULL,
            value TEXT NOT NULL,
            action TEXT NOT NULL,
            created TEXT NOT NULL,
            PRIMARY KEY (scope, value)
        );
        """,
    ),
)

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def data_dir() -> Path:
    """Where the settings live: PIXELWARDEN_DATA_DIR, else the platform's user data folder."""
    override = os.environ.get("PIXELWARDEN_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs  # imported late: costs ~25 ms and only the store needs it

    return Path(platformdirs.user_data_dir("pixelwarden"))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _invalid(message: str) -> PixelWardenError:
    return PixelWardenError("invalid_settings", message)


# ---------------------------------------------------------------------------------------------
# Validation: one function per value, shared by the protocol, import and reads from disk.


def validate_mode(value: object) -> Mode:
    if isinstance(value, str) and value in (m.value for m in Mode):
        return Mode(value)
    raise _invalid(f"mode must be one of {[m.value for m in Mode]}")


def validate_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise _invalid(f"{name} must be true or false")


def validate_resolver(value: object) -> str | None:
    """None (the system's resolver) or an IP address with an optional port: "127.0.0.1:5353",
    "::1", "[::1]:53". A name is refused: looking up the resolver itself would leak a query."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid("resolver must be null or an IP address with an optional :port")
    text = value.strip()
    host, port = text, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (end + 1 < len(text) and text[end + 1] != ":"):
            raise _invalid(f"resolver {text!r} is not [IPv6]:port")
        host, port = text[1:end], (text[end + 2 :] if end + 1 < len(text) else None)
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise _invalid(f"resolver {text!r} is not an IP address") from None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise _invalid(f"resolver port {port!r} is not in 1..65535")
    if port is None:
        return str(address)
    return f"[{address}]:{int(port)}" if address.version == 6 else f"{address}:{int(port)}"


def validate_address(value: object, what: str = "address") -> str:
    if not isinstance(value, str):
        raise _invalid(f"{what} must be a string")
    text = value.strip().lower()
    if not text or len(text) > 320 or _ADDRESS.match(text) is None:
        raise _invalid(f"{what} {value!r} is not an e-mail address")
    return text


def validate_identities(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _invalid("identities must be a list of e-mail addresses")
    if len(value) > MAX_IDENTITIES:
        raise _invalid(f"at most {MAX_IDENTITIES} identities")
    seen: dict[str, None] = {}
    for item in value:
        seen.setdefault(validate_address(item, "identity"), None)
    return tuple(seen)


def validate_dns_budget(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DNS_BUDGET_MS:
        return value
    raise _invalid(
        f"dns_budget_ms must be a whole number of milliseconds in 0..{MAX_DNS_BUDGET_MS}"
    )


def validate_domain(value: object) -> str:
    if not isinstance(value, str):
        raise _invalid("domain must be a string")
    from .party import normalise_host  # late: the public suffix list costs ~80 ms to load

    host = normalise_host(value)
    if not host or len(host) > 253:
        raise _invalid(f"domain {value!r} is empty or too long")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not all(_HOST_LABEL.match(label) for label in host.split(".")):
        raise _invalid(f"domain {value!r} is not a host name")
    return host


def validate_message_id(value: object) -> str:
    if not isinstance(value, str):
        raise _invalid("message id must be a string")
    text = value.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if not text or len(text) > MAX_VALUE_CHARS or any(c.isspace() for c in text):
        raise _invalid(f"message id {value!r} is empty, too long or contains spaces")
    return text


def validate_override(
    scope: object, value: object, action: object = "allow"
) -> tuple[str, str, Action]:
    """(scope, normalised value, action) or invalid_settings."""
    if not isinstance(action, str) or action not in (a.value for a in Action):
        raise _invalid("action must be allow or block")
    act = Action(action)
    allowed_scopes = SCOPES if act is Action.ALLOW else BLOCK_SCOPES
    if not isinstance(scope, str) or scope not in allowed_scopes:
        raise _invalid(f"scope for {act.value} must be one of {list(allowed_scopes)}")
    if scope == "message":
        return scope, validate_message_id(value), act
    if scope == "sender":
        return scope, validate_address(value, "sender"), act
    return scope, validate_domain(value), act


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    mode: Mode = Mode.STRICT
    uncloak: bool = True
    resolver: str | None = None
    identities: tuple[str, ...] = ()
    dns_budget_ms: int = 250

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "uncloak": self.uncloak,
            "resolver": self.resolver,
            "identities": list(self.identities),
            "dns_budget_ms": self.dns_budget_ms,
        }

    def updated(self, patch: Mapping[str, object]) -> Settings:
        """A copy with ``patch`` applied, every value validated first (all or nothing)."""
        if not isinstance(patch, Mapping):
            raise _invalid("settings must be an object")
        unknown = sorted(set(patch) - set(_VALIDATORS))
        if unknown:
            raise _invalid(f"unknown settings: {unknown}")
        changes = {key: _VALIDATORS[key](value) for key, value in patch.items()}
        return replace(self, **changes)


_VALIDATORS: dict[str, Any] = {
    "mode": validate_mode,
    "uncloak": lambda v: validate_bool("uncloak", v),
    "resolver": validate_resolver,
    "identities": validate_identities,
    "dns_budget_ms": validate_dns_budget,
}


@dataclass(frozen=True, slots=True)
class Override:
    scope: str
    value: str
    action: Action
    created: str

    def to_json(self) -> dict[str, str]:
        return {
            "scope": self.scope,
            "value": self.value,
            "action": self.action.value,
            "created": self.created,
        }


@dataclass(frozen=True, slots=True)
class KnowledgeParts:
    """What decide.Knowledge needs from the store."""

    mode: Mode
    overrides: Overrides
    identities: tuple[str, ...]
    uncloak: bool
    resolver: str | None
    dns_budget_ms: int = 250


def overrides_of(entries: Iterable[Override]) -> Overrides:
    messages: set[str] = set()
    senders: set[str] = set()
    allow_domains: set[str] = set()
    block_domains: set[str] = set()
    for entry in entries:
        if entry.action is Action.BLOCK:
            block_domains.add(entry.value)
        elif entry.scope == "message":
            # Message-IDs are stored without angle brackets; the engine may see either form.
            messages.update((entry.value, f"<{entry.value}>"))
        elif entry.scope == "sender":
            senders.add(entry.value)
        else:
            allow_domains.add(entry.value)
    return Overrides(
        frozenset(messages), frozenset(senders), frozenset(allow_domains), frozenset(block_domains)
    )


@dataclass
class SettingsStore:
    """One SQLite file. Not shared between threads: the host uses it from its event loop."""

    path: Path
    warnings: list[str] = field(default_factory=list)
    _conn: sqlite3.Connection | None = None

    @classmethod
    def open(cls, path: Path | None = None) -> SettingsStore:
        store = cls(path if path is not None else data_dir() / FILE_NAME)
        store._connect()
        return store

    # -- opening, migrations, corruption --------------------------------------------------

    def _connect(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._open_checked()
        except sqlite3.DatabaseError as exc:
            self._move_aside(str(exc))
            self._conn = self._open_checked()

    def _open_checked(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None)
        try:
            # The version first, before anything writes to the file: a newer one is left alone.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.close()
                raise PixelWardenError(
                    "settings_too_new",
                    f"{self.path} has schema {version}, this Pixel Warden knows {SCHEMA_VERSION}: "
                    "update Pixel Warden (the file was left untouched)",
                )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            check = conn.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise sqlite3.DatabaseError(f"integrity check failed: {check[0] if check else '?'}")
            self._migrate(conn, version)
            # Every stored value is read once now, so a damaged row is found at open time.
            conn.execute("SELECT count(*) FROM settings").fetchone()
            conn.execute("SELECT count(*) FROM overrides").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection, version: int) -> None:
        for target, script in MIGRATIONS:
            if target <= version:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS migrations "
                    "(version INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
                )
                conn.execute("INSERT INTO migrations VALUES (?, ?)", (target, _now()))
                conn.execute(f"PRAGMA user_version = {int(target)}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _move_aside(self, why: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        moved = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            companion = Path(f"{self.path}{suffix}")
            if companion.exists():
                companion.replace(Path(f"{moved}{suffix}") if suffix else moved)
        message = (
            f"settings file {self.path} could not be read ({why}); moved to {moved.name}, "
            "defaults restored"
        )
        log.warning(message)
        self.warnings.append(message)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise PixelWardenError("settings_closed", "the settings store is closed")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- settings ----------------------------------------------------------------------------

    def settings(self) -> Settings:
        result = Settings()
        for key, raw in self.conn.execute("SELECT key, value FROM settings"):
            try:
                result = result.updated({key: json.loads(raw)})
            except (PixelWardenError, ValueError) as exc:
                # Someone edited the file by hand: ignore that one value, keep the rest.
                log.warning("ignoring stored setting %r: %s", key, exc)
        return result

    def update(self, patch: Mapping[str, object]) -> Settings:
        """Apply a validated patch in one transaction; raises invalid_settings, changing nothing."""
        new = self.settings().updated(patch)
        stored = new.to_json()
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(key, json.dumps(stored[key])) for key in patch],
            )
        return new

    # -- overrides ---------------------------------------------------------------------------

    def overrides(self) -> list[Override]:
        rows = self.conn.execute(
            "SELECT scope, value, action, created FROM overrides ORDER BY created, scope, value"
        )
        result = []
        for scope, value, action, created in rows:
            try:
                scope, value, act = validate_override(scope, value, action)
            except PixelWardenError as exc:
                log.warning("ignoring stored override %r %r: %s", scope, value, exc.message)
                continue
            result.append(Override(scope, value, act, created))
        return result

    def set_override(self, scope: object, value: object, action: object = "allow") -> Override:
        """Record a choice; the latest choice for the same scope and value replaces the earlier."""
        scope_, value_, act = validate_override(scope, value, action)
        entry = Override(scope_, value_, act, _now())
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO overrides (scope, value, action, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(scope, value) DO UPDATE SET action = excluded.action, "
                "created = excluded.created",
                (entry.scope, entry.value, entry.action.value, entry.created),
            )
        return entry

    def revoke(self, scope: object, value: object) -> bool:
        """Undo a choice (allow or block) for this scope and value; False if there was none."""
        if not isinstance(scope, str) or scope not in SCOPES:
            raise _invalid(f"scope must be one of {list(SCOPES)}")
        scope_, value_, _ = validate_override(scope, value, "allow")
        with self._transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM overrides WHERE scope = ? AND value = ?", (scope_, value_)
            )
            return cursor.rowcount > 0

    def to_knowledge_parts(self) -> KnowledgeParts:
        current = self.settings()
        return KnowledgeParts(
            mode=current.mode,
            overrides=overrides_of(self.overrides()),
            identities=current.identities,
            uncloak=current.uncloak,
            resolver=current.resolver,
            dns_budget_ms=current.dns_budget_ms,
        )

    # -- export / import ---------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        return {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "exported": _now(),
            "settings": self.settings().to_json(),
            "overrides": [entry.to_json() for entry in self.overrides()],
        }

    @staticmethod
    def validate_export(data: object) -> tuple[Settings, list[Override]]:
        if not isinstance(data, Mapping):
            raise _invalid("an export is a JSON object")
        if data.get("format") != EXPORT_FORMAT:
            raise _invalid(f"not a Pixel Warden settings export (format must be {EXPORT_FORMAT!r})")
        if data.get("version") != EXPORT_VERSION:
            raise _invalid(f"unsupported export version {data.get('version')!r}")
        unknown = sorted(set(data) - {"format", "version", "exported", "settings", "overrides"})
        if unknown:
            raise _invalid(f"unknown keys in export: {unknown}")
        settings = Settings().updated(data.get("settings", {}))  # type: ignore[arg-type]
        raw_overrides = data.get("overrides", [])
        if not isinstance(raw_overrides, list) or len(raw_overrides) > MAX_OVERRIDES_IMPORT:
            raise _invalid(f"overrides must be a list of at most {MAX_OVERRIDES_IMPORT} entries")
        entries: dict[tuple[str, str], Override] = {}
        for number, item in enumerate(raw_overrides):
            if not isinstance(item, Mapping) or set(item) - {"scope", "value", "action", "created"}:
                raise _invalid(f"override #{number} must be {{scope, value, action, created}}")
            scope, value, act = validate_override(
                item.get("scope"), item.get("value"), item.get("action", "allow")
            )
            created = item.get("created", _now())
            if not isinstance(created, str) or len(created) > 40:
                raise _invalid(f"override #{number}: created must be a timestamp string")
            entries[(scope, value)] = Override(scope, value, act, created)
        return settings, list(entries.values())

    def import_(self, data: object) -> tuple[Settings, int]:
        """Replace everything with an export, validated in full before anything is written."""
        settings, entries = self.validate_export(data)
        stored = settings.to_json()
        with self._transaction() as conn:
            conn.execute("DELETE FROM settings")
            conn.execute("DELETE FROM overrides")
            conn.executemany(
                "INSERT INTO settings (key, value) VALUES (?, ?)",
                [(key, json.dumps(value)) for key, value in stored.items()],
            )
            conn.executemany(
                "INSERT INTO overrides (scope, value, action, created) VALUES (?, ?, ?, ?)",
                [(e.scope, e.value, e.action.value, e.created) for e in entries],
            )
        return settings, len(entries)

    # -- plumbing ----------------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self.conn)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (the caller sees the error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if kind is None else "ROLLBACK")


# ---------------------------------------------------------------------------------------------
# Command line: `pixelwarden settings export [FILE]` and `pixelwarden settings import FILE`.


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "settings", help="export or import settings and overrides (JSON)"
    )
    actions = parser.add_subparsers(dest="settings_command", required=True)
    export = actions.add_parser("export", help="write settings and overrides as JSON")
    export.add_argument("file", nargs="?", help="output file (default: standard output)")
    export.set_defaults(func=_run_export)
    imp = actions.add_parser("import", help="replace settings and overrides from a JSON export")
    imp.add_argument("file", help="a file written by `pixelwarden settings export` ('-' = stdin)")
    imp.set_defaults(func=_run_import)


def _run_export(args: argparse.Namespace) -> int:
    store = SettingsStore.open()
    try:
        text = json.dumps(store.export(), indent=2, ensure_ascii=False) + "\n"
    finally:
        store.close()
    if args.file:
        Path(args.file).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _run_import(args: argparse.Namespace) -> int:
    try:
        raw = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        data = json.loads(raw)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"pixelwarden: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    store = SettingsStore.open()
    try:
        settings, count = store.import_(data)
    except PixelWardenError as exc:
        print(f"pixelwarden: {exc.code}: {exc.message} (nothing was changed)", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"imported settings (mode {settings.mode.value}) and {count} overrides into {store.path}")
    return 0
