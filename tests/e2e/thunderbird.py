"""Starting and watching a real Thunderbird for the end-to-end run.

Thunderbird runs with a throw-away profile and a throw-away HOME (where ``pixelwarden install``
put the native-messaging manifest, and where the host keeps its settings). Its stdout carries the
add-on test driver's reports: lines ``PIXELWARDEN-E2E {json}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

REPORT_PREFIX = "PIXELWARDEN-E2E "
# Thunderbird prints `console.log("PIXELWARDEN-E2E " + json)` as `console.log: "<JSON string>"`.
_CONSOLE_STRING = re.compile(r'console\.\w+: (".*")\s*$')
_RAW_REPORT = re.compile(r"PIXELWARDEN-E2E (\{.*\})\s*$")


def parse_report(line: str) -> dict[str, object] | None:
    """The test driver's report carried by one stdout line, or None."""
    if REPORT_PREFIX.strip() not in line:
        return None
    quoted = _CONSOLE_STRING.search(line)
    if quoted:
        with contextlib.suppress(json.JSONDecodeError):
            line = json.loads(quoted.group(1))
    match = _RAW_REPORT.search(line)
    if not match:
        return None
    try:
        report = json.loads(match.group(1))
    except json.JSONDecodeError:
        return {"event": "unparsable", "line": line.strip()}
    return report if isinstance(report, dict) else None


_chosen_binary: str | None = None


def use_thunderbird(path: str) -> str:
    """Run this Thunderbird instead of the one on PATH (e.g. an older ESR unpacked elsewhere).

    Give the program itself (``.../usr/lib/thunderbird/thunderbird``): Debian's
    ``/usr/bin/thunderbird`` wrapper always starts ``/usr/lib/thunderbird``, wherever it lies.
    """
    global _chosen_binary
    resolved = Path(path).expanduser().resolve()
    if not (resolved.is_file() and os.access(resolved, os.X_OK)):
        raise FileNotFoundError(f"no Thunderbird program at {path}")
    _chosen_binary = str(resolved)
    return _chosen_binary


def thunderbird_binary() -> str:
    found = _chosen_binary or os.environ.get("THUNDERBIRD") or shutil.which("thunderbird")
    if not found:
        raise FileNotFoundError(
            "thunderbird not found (apt-get install thunderbird, or THUNDERBIRD=)"
        )
    return found


def thunderbird_version(binary: str) -> str:
    result = subprocess.run(
        [binary, "--version"], check=False, capture_output=True, text=True, timeout=60
    )
    words = result.stdout.strip().splitlines()[-1].split() if result.stdout.strip() else []
    return words[-1] if words else "unknown"


def isolated_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a Thunderbird that reads and writes nothing of the user's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in ("PATH", "LANG", "LC_ALL", "TZ", "DISPLAY", "TERM", "XAUTHORITY")
    }
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "TMPDIR": str(home / "tmp"),
            "MOZ_CRASHREPORTER_DISABLE": "1",
            "MOZ_DISABLE_AUTO_SAFE_MODE": "1",
            "MOZ_DBUS_REMOTE": "0",
            "NO_AT_BRIDGE": "1",
        }
    )
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    if extra:
        env.update(extra)
    return env


class Thunderbird:
    """One Thunderbird process (its own session/process group), with its reports collected."""

    def __init__(
        self,
        profile: Path,
        env: Mapping[str, str],
        log_path: Path,
        headless: bool = True,
        on_report: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        args = [thunderbird_binary(), "--no-remote", "-profile", str(profile.resolve())]
        if headless:
            args.insert(1, "--headless")
        self.log_path = log_path
        self.reports: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self._on_report = on_report
        self._log = log_path.open("w", encoding="utf-8", errors="replace")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            args,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace")
            self._log.write(line)
            self._log.flush()
            report = parse_report(line)
            if report is None:
                continue
            with self._lock:
                self.reports.append(report)
            if self._on_report is not None:
                self._on_report(report)

    def snapshot(self) -> list[dict[str, object]]:
        with self._lock:
            return list(self.reports)

    def wait_for(
        self, predicate: Callable[[list[dict[str, object]]], bool], timeout: float
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return True
            if self.process.poll() is not None:
                self._reader.join(timeout=2)
                return predicate(self.snapshot())
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """End Thunderbird and everything it started (content processes, the host)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        else:
            # the process group may outlive its leader (the host, content processes)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self._reader.join(timeout=5)
        self._log.close()
