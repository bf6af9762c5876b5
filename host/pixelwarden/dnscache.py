"""The DNS answer cache: CNAME chains kept for their TTL, shared by the CLI and the native host.

One small JSON file under the platformdirs cache folder (``PIXELWARDEN_CACHE_DIR`` overrides it).
Why JSON and not SQLite: the host reads it once at start-up and writes it back every few seconds at
most; a few thousand entries load in about a millisecond and nothing else needs a query language.

Two processes (the CLI and the host) may write it at the same time. Each save takes an advisory
lock, reads what is on disk, merges it with what this process learnt (the later expiry wins), and
replaces the file atomically (write to a temporary file in the same folder, then ``os.replace``),
so a reader sees either the old file or the new one, never half of one. A file that cannot be read
(corrupt, wrong shape, another version) is logged and rebuilt from scratch: the cache only ever
saves look-ups, it never decides anything.

What the file reveals: which of the senders' host names were looked up in the last day. It lives in
the user's own cache folder with owner-only permissions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from .model import CnameAnswer

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILE_NAME = "dns-cache.json"

#: How long failures (servfail, timeout, loop, too_long, error) are remembered: long enough not to
#: hammer a broken resolver while a mailbox is scanned, short enough to recover within a minute.
FAILURE_TTL = 30.0
#: Bounds on the TTL of a good answer: a TTL of 0 would make every message ask again, and a
#: week-long TTL would keep a changed alias (a sender who moved to a tracker) unseen for too long.
MIN_TTL = 5.0
MAX_TTL = 86_400.0
#: Entries kept at most; the ones closest to expiry go first.
MAX_ENTRIES = 10_000

#: Statuses that are answers to keep for the records' TTL; "pending" and "skipped" are never stored.
GOOD_STATUSES = frozenset({"ok"})
FAILURE_STATUSES = frozenset({"servfail", "timeout", "loop", "too_long", "error"})


def default_cache_dir() -> Path:
    """``PIXELWARDEN_CACHE_DIR`` or the platform's user cache folder for pixelwarden."""
    override = os.environ.get("PIXELWARDEN_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs  # imported here: it costs ~25 ms and only the edges need it

    return Path(platformdirs.user_cache_dir("pixelwarden"))


class DnsCache:
    """CNAME answers by host name, each with an expiry time (wall clock: shared by processes)."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path if path is not None else default_cache_dir() / FILE_NAME
        self.max_entries = max_entries
        self._clock = clock
        # host -> (status, chain, expires_at)
        self._entries: dict[str, tuple[str, tuple[str, ...], float]] = {}
        self._dirty = False
        self._last_save = 0.0
        self.hits = 0
        self.misses = 0
        self._entries = self._read_file()

    # -- reading and writing answers -------------------------------------------------------------

    def get(self, host: str) -> CnameAnswer | None:
        """The cached answer for ``host`` if it has not expired yet."""
        entry = self._entries.get(host)
        if entry is not None and entry[2] > self._clock():
            self.hits += 1
            return CnameAnswer(entry[0], entry[1])
        self.misses += 1
        return None

    def put(self, host: str, answer: CnameAnswer, ttl: float | None = None) -> None:
        """Remember ``answer``: good answers for ``ttl`` (clamped), failures for FAILURE_TTL."""
        if answer.status in GOOD_STATUSES:
            lifetime = min(max(ttl if ttl is not None else MIN_TTL, MIN_TTL), MAX_TTL)
        elif answer.status in FAILURE_STATUSES:
            lifetime = FAILURE_TTL
        else:
            return  # "pending", "skipped": not an answer
        self._entries[host] = (answer.status, tuple(answer.chain), self._clock() + lifetime)
        self._dirty = True
        if len(self._entries) > self.max_entries * 1.1:
            self._entries = self._bounded(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._dirty = True

    # -- persistence -----------------------------------------------------------------------------

    def save(self) -> None:
        """Merge with the file on disk, replace it atomically; errors are logged, never raised."""
        if not self._dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._locked():
                merged = self._read_file()
                for host, entry in self._entries.items():
                    other = merged.get(host)
                    if other is None or other[2] < entry[2]:
                        merged[host] = entry
                merged = self._bounded(merged)
                self._write_file(merged)
            self._entries = merged
            self._dirty = False
            self._last_save = self._clock()
        except OSError as error:
            log.warning("could not save the DNS cache %s: %s", self.path, error)

    def save_if_due(self, interval: float = 2.0) -> None:
        """Save at most every ``interval`` seconds (the host calls this after each message)."""
        if self._dirty and self._clock() - self._last_save >= interval:
            self.save()

    def _bounded(
        self, entries: dict[str, tuple[str, tuple[str, ...], float]]
    ) -> dict[str, tuple[str, tuple[str, ...], float]]:
        now = self._clock()
        live = {host: entry for host, entry in entries.items() if entry[2] > now}
        if len(live) <= self.max_entries:
            return live
        keep = sorted(live.items(), key=lambda item: item[1][2], reverse=True)[: self.max_entries]
        return dict(keep)

    def _read_file(self) -> dict[str, tuple[str, tuple[str, ...], float]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as error:
            log.warning("could not read the DNS cache %s: %s", self.path, error)
            return {}
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                raise ValueError("unknown format")
            entries: dict[str, tuple[str, tuple[str, ...], float]] = {}
            now = self._clock()
            for host, value in data["entries"].items():
                status, chain, expires = value
                if not (isinstance(status, str) and isinstance(chain, list)):
                    raise ValueError(f"bad entry for {host!r}")
                if status not in GOOD_STATUSES | FAILURE_STATUSES:
                    raise ValueError(f"bad status for {host!r}")
                if float(expires) > now:
                    entries[str(host)] = (status, tuple(str(hop) for hop in chain), float(expires))
            return entries
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            # A corrupt cache costs only look-ups: start afresh, the next save rewrites it.
            log.warning("DNS cache %s is unreadable (%s); rebuilding it", self.path, error)
            self._dirty = True
            return {}

    def _write_file(self, entries: dict[str, tuple[str, tuple[str, ...], float]]) -> None:
        data = {
            "version": FORMAT_VERSION,
            "entries": {
                host: [status, list(chain), round(expires, 3)]
                for host, (status, chain, expires) in entries.items()
            },
        }
        fd, tmp = tempfile.mkstemp(prefix=".dns-cache-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An advisory lock beside the file, so two savers do not lose each other's answers."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                import fcntl
            except ImportError:  # Windows: atomic replace alone still keeps the file whole
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
