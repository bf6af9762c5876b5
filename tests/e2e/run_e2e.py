"""Pixel Warden end to end, in a real Thunderbird: prove that no tracker request ever leaves.

    make e2e                                   # labelled fixtures + fault cases + screenshots
    make e2e MESSAGES=DIR REPORT=FILE [ZONE=F] # any folder of .eml files, no labels needed

Everything runs in a private network namespace where only loopback exists (see netns.py):
Thunderbird (headless, or under Xvfb for screenshots), the native host (started by Thunderbird
through native messaging), a logging proxy that never forwards (proxy.py) and the DNS server the
host resolves through (dnsserver.py). The add-on's test driver (extension/TEST-DRIVER.md) opens
every message of the Inbox in turn and reports the badge, the popup model and the host's decisions.

Exit status: 0 when every check passed, 1 otherwise; the last line says "N passed, N failed".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import netns
from dnsserver import ZoneDNSServer, load_zone
from harness import (
    LOAD_REST,
    Harness,
    MessageFile,
    Outcome,
    RunningScenario,
    Scenario,
    Window,
)
from labels import Labels, load_labels
from proxy import Entry
from tbprofile import WINDOW_SIZE
from testca import TestCA
from thunderbird import thunderbird_binary, thunderbird_version
from urls import host_of, normalise

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FIXTURES = HERE / "fixtures"
DEFAULT_OUTPUT = REPO / "build" / "e2e"
SCREENSHOTS_DOC = REPO / "docs" / "screenshots"
APT_PACKAGES = ["thunderbird", "xvfb", "libnss3-tools", "imagemagick", "x11-apps"]
BADGE_HOST_DOWN = "×"
Report = dict[str, Any]  # one decoded line of the test driver (or a part of it)


# --------------------------------------------------------------------------------------------
# Before entering the namespace: packages and the add-on build (these need the outside world).


def ensure_system_packages() -> None:
    needed = {
        "thunderbird": "thunderbird",
        "Xvfb": "xvfb",
        "certutil": "libnss3-tools",
        "convert": "imagemagick",
        "xwd": "x11-apps",
    }
    missing = sorted({pkg for tool, pkg in needed.items() if shutil.which(tool) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        print(f"e2e: missing {' '.join(missing)}; as root: apt-get install -y {' '.join(missing)}")
        return
    print(f"e2e: installing {' '.join(missing)}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


def find_xpi(explicit: str | None) -> Path:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            sys.exit(f"e2e: no add-on package at {path} (run `make xpi`)")
        return path.resolve()
    candidates = sorted((REPO / "build").glob("pixelwarden-*.xpi"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        sys.exit("e2e: no build/pixelwarden-*.xpi (run `make xpi`)")
    return candidates[-1].resolve()


# --------------------------------------------------------------------------------------------
# Checks


class Checks:
    """Pass/fail bookkeeping, with known gaps (``known_gaps`` in fixtures/labels.json).

    A known gap is a check that fails because of a product gap someone has written down with its
    reason: it is reported as XFAIL and does not fail the run. When it starts passing it is an
    XPASS, which does fail the run, so that the entry gets removed and the check guards again.
    """

    def __init__(self, known_gaps: dict[str, str] | None = None) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.expected: list[str] = []
        self.known_gaps = dict(known_gaps or {})

    def _gap(self, name: str) -> str | None:
        return next((why for key, why in self.known_gaps.items() if key in name), None)

    def check(self, name: str, ok: bool, detail: object = "") -> bool:
        gap = self._gap(name)
        if ok and gap is None:
            self.passed += 1
        elif ok:
            text = f"{name}: passes now; remove it from known_gaps ({gap})"
            self.failed.append(text)
            print(f"XPASS {text}", flush=True)
        else:
            shown = str(detail)
            if len(shown) > 400:
                shown = shown[:400] + " ..."
            text = f"{name}: {shown}" if shown else name
            if gap is not None:
                self.expected.append(text)
                print(f"XFAIL {text} [known gap: {gap}]", flush=True)
            else:
                self.failed.append(text)
                print(f"FAIL {text}", flush=True)
        return ok

    def summary(self) -> str:
        known = f", {len(self.expected)} known gaps" if self.expected else ""
        return f"{self.passed} passed, {len(self.failed)} failed{known}"


# --------------------------------------------------------------------------------------------
# Messages


def read_messages(folder: Path) -> list[MessageFile]:
    files = sorted(p for p in folder.rglob("*.eml") if p.is_file())
    return [MessageFile(str(p.relative_to(folder)), p.read_bytes()) for p in files]


_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|tr)\s*:\s*)+", re.IGNORECASE)


def subject_of(raw: bytes) -> str:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    return same_subject(str(headers.get("subject", "") or ""))


def same_subject(subject: object) -> str:
    """Thunderbird's message list drops "Re:" (it keeps a flag instead); compare without it."""
    return _REPLY_PREFIX.sub("", str(subject or "")).strip()


def recipients_of(files: Iterable[MessageFile]) -> list[str]:
    found: set[str] = set()
    for f in files:
        headers = BytesHeaderParser(policy=default_policy).parsebytes(f.raw)
        for _, address in getaddresses([str(v) for v in headers.get_all("to", [])]):
            if "@" in address:
                found.add(address.lower())
    return sorted(found)[:50]


# --------------------------------------------------------------------------------------------
# What the host decided, from the driver's report


def verdict_of(report: Report | None) -> Report | None:
    if not report:
        return None
    verdict = report.get("verdict")
    return verdict if isinstance(verdict, dict) else None


def resources_of(report: Report | None) -> list[Report]:
    verdict = verdict_of(report)
    resources = verdict.get("resources", []) if verdict else []
    return [r for r in resources if isinstance(r, dict)]


def allowed_urls(report: Report | None) -> set[str]:
    return {normalise(r["url"]) for r in resources_of(report) if r.get("action") == "allow"}


def badge_text(report: Report | None) -> str | None:
    badge = report.get("badge") if report else None
    if isinstance(badge, dict):
        text = badge.get("text")
        return text if isinstance(text, str) else None
    return None


def unallowed_requests(window: Window, report: Report | None) -> list[str]:
    """Requests of a message window that the host did not allow (the run's own failure rule)."""
    allowed = allowed_urls(report)
    allowed_hosts = {host_of(u) for u in allowed}
    bad = []
    for entry in window.requests:
        if entry.method == "CONNECT":
            if entry.host not in allowed_hosts:
                bad.append(f"CONNECT {entry.url}")
        elif normalise(entry.url) not in allowed:
            bad.append(f"{entry.method} {entry.url}")
    return bad


def privacy_headers(window: Window) -> list[str]:
    return [
        f"{e.url} sent {name}"
        for e in window.requests
        for name in ("cookie", "referer")
        if name in e.headers
    ]


# --------------------------------------------------------------------------------------------
# The labelled suite


def check_display(
    checks: Checks, outcome: Outcome, n: int, name: str, raw: bytes, labels: Labels
) -> None:
    tag = f"[{outcome.scenario.name}] {name}"
    window = outcome.window(n)
    report = window.report
    checks.check(f"{tag}: shown between its markers", window.complete, "markers missing")
    if not checks.check(f"{tag}: driver reported the display", report is not None, "no report"):
        return
    assert report is not None
    message = report.get("message") or {}
    checks.check(
        f"{tag}: driver showed the right message",
        isinstance(message, dict) and same_subject(message.get("subject")) == subject_of(raw),
        f"subject {message.get('subject') if isinstance(message, dict) else None!r}",
    )
    checks.check(
        f"{tag}: display settled",
        report.get("outcome") == "settled",
        report.get("outcome"),
    )
    verdict = verdict_of(report)
    if not checks.check(f"{tag}: host answered", verdict is not None, report.get("host")):
        return
    assert verdict is not None
    requested = {normalise(e.url) for e in window.requests if e.method != "CONNECT"}
    injected = {normalise(u) for u in report.get("injected") or [] if isinstance(u, str)}
    forbidden = [f"{e.url} ({why})" for e in window.requests if (why := labels.forbidden(e))]
    checks.check(f"{tag}: no tracker or link requested", not forbidden, forbidden)
    checks.check(
        f"{tag}: every request was allowed by the host",
        not (bad := unallowed_requests(window, report)),
        bad,
    )
    checks.check(
        f"{tag}: no cookie or referrer sent",
        not (leaks := privacy_headers(window)),
        leaks,
    )
    # (srcset/picture alternates excepted: one candidate per image is enough, as in Thunderbird)
    alternates = {normalise(u) for g in labels.first_party_any + labels.third_party_any for u in g}
    unfetched = sorted(allowed_urls(report) - requested - alternates)
    checks.check(f"{tag}: everything the host allowed was fetched", not unfetched, unfetched)
    for group in labels.first_party_groups:
        wanted = {normalise(u) for u in group}
        checks.check(
            f"{tag}: first-party {group[0]} loaded",
            bool(wanted & requested),
            "not requested",
        )
        checks.check(f"{tag}: first-party {group[0]} put back", bool(wanted & injected), injected)
    for group in labels.third_party_groups:
        wanted = {normalise(u) for u in group}
        checks.check(
            f"{tag}: third-party {group[0]} stays blocked in strict mode",
            not (wanted & requested),
            "requested",
        )
    if labels.no_requests:
        checks.check(f"{tag}: no request at all", not window.requests, window.requests)
    trackers = [r for r in resources_of(report) if r.get("tracker")]
    blocked_trackers = [r for r in trackers if r.get("action") == "block"]
    checks.check(f"{tag}: trackers are blocked", len(blocked_trackers) == len(trackers), trackers)
    count = verdict.get("trackers_blocked")
    checks.check(
        f"{tag}: host blocked at least {labels.min_trackers} trackers",
        isinstance(count, int) and count >= labels.min_trackers,
        count,
    )
    checks.check(
        f"{tag}: badge equals the trackers blocked",
        badge_text(report) == str(count),
        f"badge {badge_text(report)!r}, host {count}",
    )
    for resource in resources_of(report):
        why = labels.forbidden(_as_entry(resource["url"]))
        if why:
            checks.check(
                f"{tag}: host blocks labelled {resource['url'][:80]}",
                resource.get("action") == "block"
                and bool(resource.get("tracker") or "link" in why),
                resource.get("reasons"),
            )
    checks.check(
        f"{tag}: image-only flag",
        bool(verdict.get("image_only")) == labels.image_only,
        verdict.get("image_only"),
    )
    loaded = report.get("thunderbird_loaded") or []
    checks.check(f"{tag}: Thunderbird's own wall held", not loaded, loaded)


def check_load_rest(checks: Checks, outcome: Outcome, n: int, name: str, labels: Labels) -> None:
    tag = f"[{outcome.scenario.name}] {name} load-rest"
    window = outcome.window(n, LOAD_REST)
    report = window.report
    checks.check(f"{tag}: shown between its markers", window.complete, "markers missing")
    if not checks.check(f"{tag}: driver reported", report is not None, "no report"):
        return
    forbidden = [f"{e.url} ({why})" for e in window.requests if (why := labels.forbidden(e))]
    checks.check(f"{tag}: still no tracker or link requested", not forbidden, forbidden)
    checks.check(
        f"{tag}: every request was allowed by the host",
        not (bad := unallowed_requests(window, report)),
        bad,
    )
    requested = {normalise(e.url) for e in window.requests if e.method != "CONNECT"}
    for group in labels.third_party_groups:
        wanted = {normalise(u) for u in group}
        checks.check(f"{tag}: third-party {group[0]} loaded", bool(wanted & requested), requested)
    verdict = verdict_of(report)
    count = verdict.get("trackers_blocked") if verdict else None
    checks.check(
        f"{tag}: badge still equals the trackers blocked",
        badge_text(report) == str(count),
        f"badge {badge_text(report)!r}, host {count}",
    )


def check_relaxed(checks: Checks, outcome: Outcome, n: int, name: str, labels: Labels) -> None:
    """Relaxed mode: everything but trackers loads at display time."""
    tag = f"[{outcome.scenario.name}] {name}"
    window = outcome.window(n)
    report = window.report
    checks.check(f"{tag}: shown and reported", window.complete and report is not None)
    forbidden = [f"{e.url} ({why})" for e in window.requests if (why := labels.forbidden(e))]
    checks.check(f"{tag}: no tracker or link requested", not forbidden, forbidden)
    bad = unallowed_requests(window, report)
    checks.check(f"{tag}: every request was allowed by the host", not bad, bad)
    requested = {normalise(e.url) for e in window.requests if e.method != "CONNECT"}
    for group in labels.first_party_groups + labels.third_party_groups:
        wanted = {normalise(u) for u in group}
        checks.check(f"{tag}: {group[0]} loaded", bool(wanted & requested), "not requested")
    verdict = verdict_of(report)
    count = verdict.get("trackers_blocked") if verdict else None
    checks.check(
        f"{tag}: badge equals the trackers blocked",
        badge_text(report) == str(count) and isinstance(count, int) and count >= 1,
        f"badge {badge_text(report)!r}, host {count}",
    )


def _as_entry(url: str) -> Entry:
    return Entry(0, 0.0, "GET", url, host_of(url))


def check_scenario_wide(
    checks: Checks, outcome: Outcome, all_labels: Iterable[Labels], zone: dict[str, str]
) -> None:
    tag = f"[{outcome.scenario.name}]"
    checks.check(f"{tag} driver finished", outcome.done, f"see {outcome.directory}")
    errors = [(r.get("where"), r.get("message")) for r in outcome.events("error")]
    checks.check(f"{tag} driver reported no error", not errors, errors)
    noise = [f"{e.method} {e.url}" for e in outcome.unattributed]
    checks.check(f"{tag} no request outside the message windows", not noise, noise[:10])
    # Tracker URLs and paths of every fixture, over the whole log of the scenario.
    everywhere = Labels(
        tracker_urls=tuple(u for lab in all_labels for u in lab.tracker_urls),
        tracker_paths=tuple(p for lab in all_labels for p in lab.tracker_paths),
    )
    hits = [e.url for e in outcome.entries if everywhere.forbidden(e)]
    checks.check(f"{tag} no tracker URL anywhere in the proxy log", not hits, hits)
    # Privacy: the host looks up only names whose content would load (first party).
    # (In relaxed mode third-party content loads too, so its names may be looked up as well.)
    relaxed = outcome.scenario.mode == "relaxed"
    first_party_hosts = {
        host_of(r["url"])
        for w in outcome.windows.values()
        for r in resources_of(w.report)
        if r.get("party") == "first" or (relaxed and not r.get("tracker"))
    }
    # Following a first-party name's CNAME chain hop by hop is part of resolving that name.
    permitted = set(first_party_hosts)
    frontier = list(first_party_hosts)
    while frontier:
        target = zone.get(frontier.pop())
        if target and target not in permitted:
            permitted.add(target)
            frontier.append(target)
    odd = sorted({q for q, _ in outcome.dns_queries} - permitted)
    checks.check(f"{tag} DNS questions only for first-party names", not odd, odd)


# --------------------------------------------------------------------------------------------
# Screenshots


def screenshot(display: str | None, target: Path) -> bool:
    if display is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    xwd = subprocess.run(
        ["xwd", "-root", "-silent", "-display", display],
        check=False,
        capture_output=True,
        timeout=30,
    )
    if xwd.returncode != 0:
        print(f"e2e: xwd failed: {xwd.stderr.decode(errors='replace')}", flush=True)
        return False
    convert = subprocess.run(
        ["convert", "xwd:-", "-strip", f"png:{target}"],
        check=False,
        input=xwd.stdout,
        capture_output=True,
    )
    return convert.returncode == 0 and target.exists()


class Xvfb:
    """A virtual screen on a display number Xvfb picks itself (-displayfd): the X sockets live
    in the shared /tmp, so a fixed number would collide with another run on the same machine."""

    def __init__(self) -> None:
        width, height = WINDOW_SIZE
        read_end, write_end = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24"]
            + ["-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        number = b""
        with os.fdopen(read_end, "rb") as pipe:
            while not number.endswith(b"\n"):
                chunk = pipe.read(1)
                if not chunk:
                    break
                number += chunk
        self.display = f":{number.decode().strip()}" if number.strip() else None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --------------------------------------------------------------------------------------------
# Runs


def labelled_suite(harness: Harness, checks: Checks, only: set[str] | None) -> None:
    labels, _ = load_labels(FIXTURES / "labels.json")
    zone = load_zone(FIXTURES / "zone.json")
    files = read_messages(FIXTURES)
    by_name = {f.name: f for f in files}
    recipients = ["reader@home.example"]
    checks.check(
        "fixtures: every message is labelled",
        set(by_name) == set(labels),
        sorted(by_name),
    )

    def wanted(name: str) -> bool:
        return only is None or name in only

    if wanted("strict"):
        outcome = harness.run(Scenario("strict", files, load_rest=True), recipients)
        print(f"e2e: strict + load-rest over {len(files)} messages: {outcome.seconds:.1f} s")
        for n, f in enumerate(files, start=1):
            check_display(checks, outcome, n, f.name, f.raw, labels[f.name])
            if labels[f.name].third_party_groups:
                check_load_rest(checks, outcome, n, f.name, labels[f.name])
        check_scenario_wide(checks, outcome, labels.values(), zone)

    if wanted("host-killed"):
        names = [
            "01-newsletter-known-tracker.eml",
            "02-first-party-hashed-pixel.eml",
            "05-srcset.eml",
        ]
        killed: list[int] = []

        def kill(running: RunningScenario) -> None:
            running.hide_manifest()  # so that the add-on cannot restart it during message 2
            killed.extend(running.kill_host())

        def restore(running: RunningScenario) -> None:
            running.restore_manifest()
            # The add-on retries at once when a message is shown while the host is down, but at
            # most once a second (extension/TEST-DRIVER.md §3): the host is "back" for the next
            # message once that second has passed.
            time.sleep(1.5)

        scenario = Scenario(
            "host-killed",
            [by_name[n] for n in names],
            hooks={
                "begin/2": kill,
                "end/2": restore,
            },
        )
        outcome = harness.run(scenario, recipients)
        print(f"e2e: host killed mid-run: {outcome.seconds:.1f} s")
        checks.check("[host-killed] the host was running and got killed", bool(killed), killed)
        check_display(checks, outcome, 1, names[0], by_name[names[0]].raw, labels[names[0]])
        down = outcome.window(2)
        checks.check("[host-killed] message 2 shown", down.complete and down.report is not None)
        checks.check("[host-killed] message 2: nothing loads", not down.requests, down.requests)
        checks.check(
            "[host-killed] message 2: badge says the host is down",
            badge_text(down.report) == BADGE_HOST_DOWN,
            badge_text(down.report),
        )
        check_display(checks, outcome, 3, names[2], by_name[names[2]].raw, labels[names[2]])
        check_scenario_wide(checks, outcome, labels.values(), zone)

    if wanted("host-hung"):
        names = ["01-newsletter-known-tracker.eml", "02-first-party-hashed-pixel.eml"]
        frozen: list[int] = []

        def freeze(running: RunningScenario) -> None:
            frozen.extend(running.freeze_host())

        def thaw(running: RunningScenario) -> None:
            for pid in frozen:  # the add-on has given up on it and started another one
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

        scenario = Scenario(
            "host-hung",
            [by_name[n] for n in [names[0], names[0], names[1]]],
            hooks={"begin/2": freeze, "end/2": thaw},
        )
        outcome = harness.run(scenario, recipients)
        print(f"e2e: host hung mid-run: {outcome.seconds:.1f} s")
        checks.check("[host-hung] the host was running and got frozen", bool(frozen), frozen)
        check_display(checks, outcome, 1, names[0], by_name[names[0]].raw, labels[names[0]])
        hung = outcome.window(2)
        checks.check("[host-hung] message 2 shown", hung.complete and hung.report is not None)
        checks.check("[host-hung] message 2: nothing loads", not hung.requests, hung.requests)
        checks.check(
            "[host-hung] message 2: badge says the host is failing",
            badge_text(hung.report) == BADGE_HOST_DOWN,
            badge_text(hung.report),
        )
        check_display(checks, outcome, 3, names[1], by_name[names[1]].raw, labels[names[1]])

    if wanted("host-missing"):
        names = ["01-newsletter-known-tracker.eml", "06-personal-signature.eml"]
        scenario = Scenario("host-missing", [by_name[n] for n in names], install_host=False)
        outcome = harness.run(scenario, recipients)
        print(f"e2e: host not installed: {outcome.seconds:.1f} s")
        checks.check("[host-missing] driver finished", outcome.done)
        for n, name in enumerate(names, start=1):
            window = outcome.window(n)
            checks.check(f"[host-missing] {name}: shown", window.complete and window.report)
            checks.check(f"[host-missing] {name}: nothing loads", not window.requests)
            checks.check(
                f"[host-missing] {name}: badge says the host is missing",
                badge_text(window.report) == BADGE_HOST_DOWN,
                badge_text(window.report),
            )
            host = (window.report or {}).get("host") or {}
            checks.check(
                f"[host-missing] {name}: host state missing",
                isinstance(host, dict) and host.get("state") == "missing",
                host,
            )
        checks.check(
            "[host-missing] no request at all",
            not outcome.entries or all(e.marker for e in outcome.entries),
        )

    if wanted("dns-down"):
        names = ["03-cname-cloaked.eml", "01-newsletter-known-tracker.eml"]
        # Nothing listens on this port: every look-up fails at once.
        scenario = Scenario("dns-down", [by_name[n] for n in names], resolver="127.0.0.1:54")
        outcome = harness.run(scenario, recipients)
        print(f"e2e: DNS server down: {outcome.seconds:.1f} s")
        check_scenario_wide(checks, outcome, labels.values(), zone)
        for n, name in enumerate(names, start=1):
            window = outcome.window(n)
            tag = f"[dns-down] {name}"
            checks.check(f"{tag}: shown", window.complete and window.report is not None)
            bad = unallowed_requests(window, window.report)
            checks.check(f"{tag}: every request was allowed by the host", not bad, bad)
            cloaked = [e.url for e in window.requests if e.host == "email.shop.example"]
            checks.check(
                f"{tag}: cloaked first-party content stays blocked",
                not cloaked,
                cloaked,
            )
            for resource in resources_of(window.report):
                if resource["url"].startswith("https://email.shop.example/"):
                    checks.check(
                        f"{tag}: host blocks {resource['url'][:60]}",
                        resource.get("action") == "block",
                        resource.get("reasons"),
                    )
            verdict = verdict_of(window.report)
            count = verdict.get("trackers_blocked") if verdict else None
            checks.check(
                f"{tag}: badge equals the trackers blocked",
                badge_text(window.report) == str(count),
                f"badge {badge_text(window.report)!r}, host {count}",
            )

    if wanted("dns-slow"):
        names = ["03-cname-cloaked.eml", "01-newsletter-known-tracker.eml"]
        # Slower than the host's per-message DNS budget (250 ms), faster than its query timeout
        # (2 s): the first answer blocks first-party content as pending, the update allows it.
        scenario = Scenario("dns-slow", [by_name[n] for n in names], dns_delay=0.8)
        outcome = harness.run(scenario, recipients)
        print(f"e2e: slow DNS (late decisions): {outcome.seconds:.1f} s")
        check_scenario_wide(checks, outcome, labels.values(), zone)
        for n, name in enumerate(names, start=1):
            check_display(checks, outcome, n, name, by_name[name].raw, labels[name])
        answered = dict(harness.dns.resolver.answered)
        early = [
            f"{e.url} at {e.time:.3f}, DNS answered {answered.get(e.host)}"
            for w in outcome.windows.values()
            for e in w.requests
            if e.method != "CONNECT" and not (answered.get(e.host, float("inf")) <= e.time)
        ]
        checks.check("[dns-slow] nothing loaded before DNS answered for its name", not early, early)
        checks.check(
            "[dns-slow] first-party content did load after the late answers",
            any(w.requests for w in outcome.windows.values()),
        )

    if wanted("relaxed"):
        names = ["01-newsletter-known-tracker.eml", "05-srcset.eml"]
        scenario = Scenario("relaxed", [by_name[n] for n in names], mode="relaxed")
        outcome = harness.run(scenario, recipients)
        print(f"e2e: relaxed mode: {outcome.seconds:.1f} s")
        check_scenario_wide(checks, outcome, labels.values(), zone)
        for n, name in enumerate(names, start=1):
            check_relaxed(checks, outcome, n, name, labels[name])

    if wanted("wall-down"):
        wall_down(harness, checks, by_name, labels, recipients)

    if wanted("screenshots"):
        screenshots(harness, checks, by_name, recipients)


def wall_down(
    harness: Harness,
    checks: Checks,
    by_name: dict[str, MessageFile],
    labels: dict[str, Labels],
    recipients: list[str],
) -> None:
    """The user has let Thunderbird load remote content itself: no add-on can stop that (the
    requests never pass through any WebExtension API), so the add-on must notice and warn."""
    name = "01-newsletter-known-tracker.eml"
    scenario = Scenario(
        "wall-down",
        [by_name[name]],
        extra_prefs={"mailnews.message_display.disable_remote_image": False},
    )
    outcome = harness.run(scenario, recipients)
    print(f"e2e: Thunderbird's own remote content allowed: {outcome.seconds:.1f} s")
    window = outcome.window(1)
    report = window.report or {}
    tracker_requests = [
        e.url for e in window.requests if e.method != "CONNECT" and labels[name].forbidden(e)
    ]
    checks.check(
        "[wall-down] Thunderbird itself fetched the tracker (what the wall normally stops)",
        bool(tracker_requests),
        "no tracker request: is the pref still honoured?",
    )
    seen = {normalise(u) for u in report.get("thunderbird_loaded") or [] if isinstance(u, str)}
    missed = [u for u in tracker_requests if normalise(u) not in seen]
    checks.check("[wall-down] the display script noticed every tracker load", not missed, missed)
    popup = report.get("popup") or {}
    flagged = [
        item
        for item in (popup.get("thunderbird_loaded") or [] if isinstance(popup, dict) else [])
        if isinstance(item, dict) and item.get("tracker")
    ]
    checks.check("[wall-down] the popup warns about the tracker", bool(flagged), popup)


def screenshots(
    harness: Harness, checks: Checks, by_name: dict[str, MessageFile], recipients: list[str]
) -> None:
    if harness.display is None:
        checks.check("screenshots: Xvfb available", False, "Xvfb did not start")
        return
    shots = harness.output / "screenshots"
    taken: dict[str, bool] = {}

    def shoot(name: str) -> Callable[[RunningScenario], None]:
        def hook(running: RunningScenario) -> None:
            time.sleep(0.5)  # let the last paint land
            taken[name] = screenshot(running.display, shots / f"{name}.png")

        return hook

    newsletter = by_name["01-newsletter-known-tracker.eml"]
    # Twice: the first display without the popup, the second with it open.
    scenario = Scenario(
        "screenshots",
        [newsletter, newsletter],
        headless=False,
        popup=[2],
        hooks={"end/1": shoot("newsletter"), "popup/2": shoot("popup")},
    )
    outcome = harness.run(scenario, recipients)
    print(f"e2e: screenshots: {outcome.seconds:.1f} s")
    checks.check("[screenshots] newsletter with the badge", taken.get("newsletter", False))
    opened = [r.get("opened") for r in outcome.events("popup")]
    checks.check("[screenshots] the driver opened the popup", opened == [True], opened)
    checks.check("[screenshots] the open popup", taken.get("popup", False))
    if not harness.update_docs:
        return
    # Only on request (make screenshots): a routine run must not leave the working tree dirty.
    SCREENSHOTS_DOC.mkdir(parents=True, exist_ok=True)
    for name, ok in taken.items():
        if ok:
            shutil.copyfile(shots / f"{name}.png", SCREENSHOTS_DOC / f"{name}.png")
            print(f"e2e: updated {SCREENSHOTS_DOC / f'{name}.png'}")


def folder_run(
    harness: Harness, checks: Checks, folder: Path, report_path: Path | None, version: str
) -> None:
    files = read_messages(folder)
    if not checks.check(f"{folder}: holds .eml files", bool(files), "none found"):
        return
    outcome = harness.run(
        Scenario("messages", files, settle_ms=15000, quiet_ms=500), recipients_of(files)
    )
    print(f"e2e: {len(files)} messages from {folder}: {outcome.seconds:.1f} s")
    checks.check("[messages] driver finished", outcome.done, f"see {outcome.directory}")
    messages = []
    blocked_everywhere: set[str] = set()
    for window in outcome.windows.values():
        for resource in resources_of(window.report):
            if resource.get("action") == "block":
                blocked_everywhere.add(normalise(resource["url"]))
    for n, f in enumerate(files, start=1):
        window = outcome.window(n)
        report = window.report
        checks.check(f"[messages] {f.name}: shown", window.complete and report is not None)
        bad = unallowed_requests(window, report)
        checks.check(f"[messages] {f.name}: no request the host did not allow", not bad, bad)
        messages.append(
            {
                "file": f.name,
                "badge": badge_text(report),
                "outcome": (report or {}).get("outcome"),
                "requests": [
                    {"method": e.method, "host": e.host, "url": e.url} for e in window.requests
                ],
                "decisions": resources_of(report),
                "not_allowed": bad,
                # informational: allowed but not fetched (srcset alternates, fetch refusals, ...)
                "allowed_not_fetched": sorted(
                    allowed_urls(report)
                    - {normalise(e.url) for e in window.requests if e.method != "CONNECT"}
                ),
                "fetches": (report or {}).get("fetches") or [],
            }
        )
    stray = [f"{e.method} {e.url}" for e in outcome.unattributed]
    checks.check("[messages] no request outside the message windows", not stray, stray[:10])
    hits = [
        e.url
        for e in outcome.entries
        if e.method != "CONNECT" and e.marker is None and normalise(e.url) in blocked_everywhere
    ]
    checks.check("[messages] zero requests for anything the host blocked", not hits, hits[:10])
    report_data = {
        "thunderbird": version,
        "messages": messages,
        "unattributed": [
            {"method": e.method, "host": e.host, "url": e.url} for e in outcome.unattributed
        ],
        "summary": {
            "messages": len(files),
            "requests": sum(len(m["requests"]) for m in messages),
            "requests_not_allowed": sum(len(m["not_allowed"]) for m in messages),
            "requests_for_blocked": len(hits),
            "trackers_blocked": sum(
                int(v.get("trackers_blocked") or 0)
                for w in outcome.windows.values()
                if (v := verdict_of(w.report)) is not None
            ),
            "seconds": round(outcome.seconds, 1),
        },
    }
    target = report_path or (harness.output / "report.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps(report_data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"e2e: report written to {target}")


def run_inside(args: argparse.Namespace) -> int:
    netns.bring_loopback_up()
    known_gaps = {} if args.messages else load_labels(FIXTURES / "labels.json")[1].get("known_gaps")
    checks = Checks(known_gaps if isinstance(known_gaps, dict) else None)
    started = time.monotonic()
    if not checks.check("network: only loopback exists", netns.only_loopback()):
        print(checks.summary())
        return 1
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    version = thunderbird_version(thunderbird_binary())
    print(f"e2e: Thunderbird {version}, add-on {args.xpi}", flush=True)
    zone_file = (
        Path(args.zone) if args.zone else (None if args.messages else FIXTURES / "zone.json")
    )
    dns = ZoneDNSServer(load_zone(zone_file), port=53).start()
    ca = TestCA(output / "ca")
    harness = Harness(output, Path(args.xpi), ca, dns)
    harness.update_docs = args.update_docs
    xvfb = None
    try:
        if not args.messages and not args.no_screenshots and shutil.which("Xvfb"):
            xvfb = Xvfb()
            harness.display = xvfb.display
        if args.messages:
            report = Path(args.report).resolve() if args.report else None
            folder_run(harness, checks, Path(args.messages), report, version)
        else:
            only = set(args.only.split(",")) if args.only else None
            labelled_suite(harness, checks, only)
    finally:
        if xvfb:
            xvfb.stop()
        dns.stop()
    print(f"e2e: {time.monotonic() - started:.1f} s in all; logs under {output}")
    print(checks.summary())
    return 0 if not checks.failed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", help="run over every .eml under this folder (no labels)")
    parser.add_argument("--report", help="where to write the JSON report of --messages")
    parser.add_argument("--zone", help="JSON object: DNS name -> CNAME target")
    parser.add_argument(
        "--xpi", help="the add-on package (default: newest build/pixelwarden-*.xpi)"
    )
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="logs and screenshots")
    parser.add_argument("--only", help="comma-separated scenarios: strict,host-killed,...")
    parser.add_argument("--no-screenshots", action="store_true")
    parser.add_argument("--no-apt", action="store_true", help="never install system packages")
    parser.add_argument(
        "--update-docs", action="store_true", help="copy the screenshots to docs/screenshots/"
    )
    args = parser.parse_args()
    # Absolute paths: Thunderbird is given the profile folder, and a relative one stalls it.
    args.output = str(Path(args.output).resolve())
    if args.messages:
        args.messages = str(Path(args.messages).resolve())
    if args.report:
        args.report = str(Path(args.report).resolve())
    if args.zone:
        args.zone = str(Path(args.zone).resolve())
    if not netns.inside():
        if not args.no_apt:
            ensure_system_packages()
        args.xpi = str(find_xpi(args.xpi))
        sys.argv = [sys.argv[0], *_argv(args)]
        netns.reexec_isolated()
    return run_inside(args)


def _argv(args: argparse.Namespace) -> list[str]:
    out = ["--xpi", args.xpi, "--output", args.output, "--no-apt"]
    for name in ("messages", "report", "zone", "only"):
        value = getattr(args, name)
        if value:
            out += [f"--{name}", value]
    if args.no_screenshots:
        out.append("--no-screenshots")
    if args.update_docs:
        out.append("--update-docs")
    return out


if __name__ == "__main__":
    sys.exit(main())
