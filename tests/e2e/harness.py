"""One end-to-end scenario: a throw-away HOME and profile, Thunderbird, the host, the proxy.

Runs inside the private network namespace (see ``netns``). For each scenario the harness:
installs the host into the throw-away HOME with ``pixelwarden install`` (unless the scenario is
about a missing host), writes the host's settings with ``pixelwarden settings import`` (resolver =
the harness's DNS server), switches the add-on's test driver on through managed storage
(extension/TEST-DRIVER.md), builds the profile (side-loaded .xpi, Local Folders ``Inbox``), starts a
fresh proxy and Thunderbird, waits for the driver's ``done`` line, then ends Thunderbird.

Requests are attributed to messages by the driver's markers: everything the proxy logged between
``begin/<n>[/<phase>]`` and ``end/<n>[/<phase>]`` belongs to message ``n`` in that phase.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dnsserver import ZoneDNSServer
from proxy import Entry, LoggingProxy
from tbprofile import ADDON_ID, create_profile
from testca import TestCA
from thunderbird import Thunderbird, isolated_env

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
WEB_ROOT = Path(__file__).resolve().parent / "fixtures" / "web"  # files the proxy serves as is
MARKER_BASE = "http://marker.pixelwarden.test"
DISPLAY = "display"
LOAD_REST = "load_rest"


@dataclass(frozen=True)
class MessageFile:
    name: str  # file name relative to the folder given (what reports show)
    raw: bytes


@dataclass
class Scenario:
    name: str
    files: list[MessageFile]
    install_host: bool = True
    resolver: str | None = "127.0.0.1:53"
    dns_delay: float = 0.0  # seconds the harness's DNS server waits before each answer
    mode: str = "strict"
    load_rest: bool = False
    popup: bool | list[int] = False  # messages after whose display the driver opens the popup
    headless: bool = True
    # marker ("begin/2", "end/2/load_rest", ...) -> action run before the proxy answers it
    hooks: dict[str, Callable[[RunningScenario], None]] = field(default_factory=dict)
    extra_prefs: dict[str, object] = field(default_factory=dict)  # user.js additions
    # the user's choices, as `pixelwarden settings import` takes them: {scope, value, action}
    overrides: list[dict[str, str]] = field(default_factory=list)
    settle_ms: int = 15000
    quiet_ms: int = 700


@dataclass
class Window:
    """What happened while one message was shown in one phase."""

    n: int
    phase: str
    requests: list[Entry] = field(default_factory=list)
    report: dict[str, object] | None = None
    complete: bool = False  # both markers seen


@dataclass
class Outcome:
    scenario: Scenario
    directory: Path
    done: bool
    seconds: float
    reports: list[dict[str, object]]
    entries: list[Entry]
    windows: dict[tuple[int, str], Window]
    unattributed: list[Entry]  # requests outside every message window (markers excluded)
    dns_queries: list[tuple[str, str]]

    def window(self, n: int, phase: str = DISPLAY) -> Window:
        return self.windows.get((n, phase)) or Window(n, phase)

    def events(self, name: str) -> list[dict[str, object]]:
        return [r for r in self.reports if r.get("event") == name]


class RunningScenario:
    """Handed to marker hooks: what a hook may act on while the driver waits."""

    def __init__(
        self, home: Path, thunderbird: Thunderbird, directory: Path, display: str | None
    ) -> None:
        self.home = home
        self.thunderbird = thunderbird
        self.directory = directory
        self.display = display

    @property
    def manifest(self) -> Path:
        return self.home / ".mozilla" / "native-messaging-hosts" / "pixelwarden.json"

    def host_pids(self) -> list[int]:
        """The native host processes Thunderbird started (its process group, named pixelwarden)."""
        group = self.thunderbird.process.pid
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.getpgid(int(entry.name)) != group:
                    continue
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except (OSError, ProcessLookupError):
                continue
            if b"pixelwarden" in cmdline and b"thunderbird" not in cmdline:
                pids.append(int(entry.name))
        return pids

    def kill_host(self) -> list[int]:
        pids = self.host_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def freeze_host(self) -> list[int]:
        """SIGSTOP the host: alive, connected, and silent (a hung host)."""
        pids = self.host_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        return pids

    def hide_manifest(self) -> None:
        if self.manifest.exists():
            self.manifest.rename(self.manifest.with_suffix(".hidden"))

    def restore_manifest(self) -> None:
        hidden = self.manifest.with_suffix(".hidden")
        if hidden.exists():
            hidden.rename(self.manifest)


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(args, check=False, env=env, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr or result.stdout}")


def write_driver_switch(home: Path, scenario: Scenario) -> Path:
    """Managed storage that switches the add-on's test driver on (extension/TEST-DRIVER.md §1)."""
    path = home / ".mozilla" / "managed-storage" / f"{ADDON_ID}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "name": ADDON_ID,
        "description": "Pixel Warden end-to-end test driver",
        "type": "storage",
        "data": {
            "e2e": {
                "enabled": True,
                "marker_base": MARKER_BASE,
                "load_rest": scenario.load_rest,
                "popup": scenario.popup,
                "settle_ms": scenario.settle_ms,
                "quiet_ms": scenario.quiet_ms,
                "start_delay_ms": 0,
                "exit": False,
            }
        },
    }
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def host_settings(scenario: Scenario, recipients: list[str]) -> dict[str, object]:
    settings: dict[str, object] = {
        "mode": scenario.mode,
        "uncloak": True,
        "resolver": scenario.resolver,
        "identities": recipients,
    }
    return {
        "format": "pixelwarden-settings",
        "version": 1,
        "settings": settings,
        "overrides": scenario.overrides,
    }


def parse_marker(marker: str) -> tuple[str, int, str] | None:
    """``begin/3`` -> ("begin", 3, "display"); ``end/3/load_rest`` -> ("end", 3, "load_rest")."""
    parts = marker.split("/")
    if len(parts) < 2 or parts[0] not in ("begin", "end") or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1]), (parts[2] if len(parts) > 2 else DISPLAY)


def attribute(
    entries: list[Entry], reports: list[dict[str, object]]
) -> tuple[dict[tuple[int, str], Window], list[Entry]]:
    windows: dict[tuple[int, str], Window] = {}
    unattributed: list[Entry] = []
    current: Window | None = None
    for entry in entries:
        if entry.marker is not None:
            parsed = parse_marker(entry.marker)
            if parsed is None:
                continue
            edge, n, phase = parsed
            if edge == "begin":
                current = windows.setdefault((n, phase), Window(n, phase))
            elif current is not None and (current.n, current.phase) == (n, phase):
                current.complete = True
                current = None
            continue
        if current is not None:
            current.requests.append(entry)
        else:
            unattributed.append(entry)
    for report in reports:
        if report.get("event") != "message":
            continue
        number, phase_name = report.get("n"), report.get("phase", DISPLAY)
        if isinstance(number, int) and isinstance(phase_name, str):
            windows.setdefault((number, phase_name), Window(number, phase_name)).report = report
    return windows, unattributed


def _finished(reports: list[dict[str, object]]) -> bool:
    return any(r.get("event") == "done" for r in reports)


class Harness:
    """Shared by every scenario of one run: the CA, the DNS server's log, the output folder."""

    def __init__(
        self, output: Path, xpi: Path, ca: TestCA, dns: ZoneDNSServer, addon_id: str = ADDON_ID
    ) -> None:
        self.output = output
        self.xpi = xpi
        self.addon_id = addon_id
        self.ca = ca
        self.dns = dns
        self.display: str | None = None  # X display for non-headless scenarios

    @staticmethod
    def _wait_until_done(thunderbird: Thunderbird, proxy: LoggingProxy, scenario: Scenario) -> bool:
        """Wait for the driver's ``done``, giving up early when nothing moves any more.

        Progress = a new report line or a new proxy entry. A driver that stalls (or never starts)
        fails the scenario after one settle period plus a margin, not after a global budget.
        """
        start_limit = 90.0  # Thunderbird start, add-on start, host hand-shake, mbox indexing
        stall_limit = scenario.settle_ms / 1000 + 45.0
        last_progress = time.monotonic()
        seen = (0, 0)
        while True:
            reports = thunderbird.snapshot()
            if _finished(reports):
                return True
            if thunderbird.process.poll() is not None:
                return _finished(thunderbird.snapshot())
            now_seen = (len(reports), len(proxy.entries()))
            if now_seen != seen:
                seen, last_progress = now_seen, time.monotonic()
            limit = start_limit if not reports else stall_limit
            if time.monotonic() - last_progress > limit:
                return False
            time.sleep(0.2)

    def run(self, scenario: Scenario, recipients: list[str]) -> Outcome:
        directory = self.output / scenario.name
        shutil.rmtree(directory, ignore_errors=True)
        home = directory / "home"
        home.mkdir(parents=True)
        env = isolated_env(home, {"DISPLAY": self.display} if self.display else None)
        if not scenario.headless and self.display is None:
            raise RuntimeError(f"scenario {scenario.name} needs an X display (Xvfb)")
        if scenario.headless:
            env.pop("DISPLAY", None)
        pixelwarden = str(VENV_BIN / "pixelwarden")
        if scenario.install_host:
            _run([pixelwarden, "install"], env, "pixelwarden install")
        settings_file = directory / "settings.json"
        settings_file.write_text(json.dumps(host_settings(scenario, recipients)), encoding="utf-8")
        _run(
            [pixelwarden, "settings", "import", str(settings_file)],
            env,
            "settings import",
        )
        write_driver_switch(home, scenario)

        queries_before = len(self.dns.queries)
        proxy = LoggingProxy(self.ca, directory / "proxy.jsonl", web_root=WEB_ROOT).start()
        messages = [(i + 1, f.name, f.raw) for i, f in enumerate(scenario.files)]
        profile = create_profile(
            directory / "profile",
            xpi=self.xpi,
            messages=messages,
            proxy_port=proxy.port,
            ca_pem=self.ca.cert_path,
            extra_prefs=scenario.extra_prefs,
            addon_id=self.addon_id,
        )
        started = time.monotonic()
        self.dns.resolver.delay = scenario.dns_delay
        self.dns.resolver.answered.clear()  # per scenario: each host starts with an empty cache
        thunderbird = Thunderbird(
            profile, env, directory / "thunderbird.log", headless=scenario.headless
        )
        running = RunningScenario(home, thunderbird, directory, env.get("DISPLAY"))

        def on_marker(marker: str) -> None:
            hook = scenario.hooks.get(marker)
            if hook is not None:
                hook(running)

        proxy.on_marker = on_marker
        try:
            done = self._wait_until_done(thunderbird, proxy, scenario)
        finally:  # whatever happens, nothing of this scenario outlives it
            seconds = time.monotonic() - started
            thunderbird.stop()
            proxy.stop()
            self.dns.resolver.delay = 0.0
        reports = thunderbird.snapshot()
        (directory / "reports.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in reports), encoding="utf-8"
        )
        entries = proxy.entries()
        windows, unattributed = attribute(entries, reports)
        return Outcome(
            scenario=scenario,
            directory=directory,
            done=done,
            seconds=seconds,
            reports=reports,
            entries=entries,
            windows=windows,
            unattributed=unattributed,
            dns_queries=self.dns.queries[queries_before:],
        )
