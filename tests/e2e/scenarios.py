"""The labelled end-to-end scenarios: one function each, run in this order by ``run_all``.

Each builds a `Scenario` (which messages, which fault, which hooks at which marker), lets the
harness run it in a real Thunderbird, then applies the shared rules of ``checks``. Scenario names
are what ``run_e2e.py --only`` takes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from checks import (
    BADGE_HOST_DOWN,
    Checks,
    badge_text,
    check_display,
    check_load_rest,
    check_relaxed,
    check_scenario_wide,
    resources_of,
    unallowed_requests,
    verdict_of,
)
from dnsserver import load_zone
from harness import Harness, MessageFile, RunningScenario, Scenario
from labels import Labels, load_labels
from messages import read_messages
from screen import screenshot
from urls import normalise

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
SCREENSHOTS_DOC = HERE.parents[1] / "docs" / "screenshots"
RECIPIENT = "reader@home.example"  # the fixtures' reader (To:), given to the host as identity


@dataclass
class Suite:
    """What every scenario needs: the harness, the checks, the fixtures and their labels."""

    harness: Harness
    checks: Checks
    files: list[MessageFile]
    by_name: dict[str, MessageFile]
    labels: dict[str, Labels]
    zone: dict[str, str]
    recipients: list[str]
    update_docs: bool = False


def strict(suite: Suite) -> None:
    outcome = suite.harness.run(Scenario("strict", suite.files, load_rest=True), suite.recipients)
    print(f"e2e: strict + load-rest over {len(suite.files)} messages: {outcome.seconds:.1f} s")
    for n, f in enumerate(suite.files, start=1):
        check_display(suite.checks, outcome, n, f.name, f.raw, suite.labels[f.name])
        if suite.labels[f.name].third_party_groups:
            check_load_rest(suite.checks, outcome, n, f.name, suite.labels[f.name])
    check_scenario_wide(suite.checks, outcome, suite.labels.values(), suite.zone)


def host_killed(suite: Suite) -> None:
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
        [suite.by_name[n] for n in names],
        hooks={
            "begin/2": kill,
            "end/2": restore,
        },
    )
    outcome = suite.harness.run(scenario, suite.recipients)
    print(f"e2e: host killed mid-run: {outcome.seconds:.1f} s")
    suite.checks.check("[host-killed] the host was running and got killed", bool(killed), killed)
    check_display(
        suite.checks, outcome, 1, names[0], suite.by_name[names[0]].raw, suite.labels[names[0]]
    )
    down = outcome.window(2)
    suite.checks.check("[host-killed] message 2 shown", down.complete and down.report is not None)
    suite.checks.check("[host-killed] message 2: nothing loads", not down.requests, down.requests)
    suite.checks.check(
        "[host-killed] message 2: badge says the host is down",
        badge_text(down.report) == BADGE_HOST_DOWN,
        badge_text(down.report),
    )
    check_display(
        suite.checks, outcome, 3, names[2], suite.by_name[names[2]].raw, suite.labels[names[2]]
    )
    check_scenario_wide(suite.checks, outcome, suite.labels.values(), suite.zone)


def host_hung(suite: Suite) -> None:
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
        [suite.by_name[n] for n in [names[0], names[0], names[1]]],
        hooks={"begin/2": freeze, "end/2": thaw},
    )
    outcome = suite.harness.run(scenario, suite.recipients)
    print(f"e2e: host hung mid-run: {outcome.seconds:.1f} s")
    suite.checks.check("[host-hung] the host was running and got frozen", bool(frozen), frozen)
    check_display(
        suite.checks, outcome, 1, names[0], suite.by_name[names[0]].raw, suite.labels[names[0]]
    )
    hung = outcome.window(2)
    suite.checks.check("[host-hung] message 2 shown", hung.complete and hung.report is not None)
    suite.checks.check("[host-hung] message 2: nothing loads", not hung.requests, hung.requests)
    suite.checks.check(
        "[host-hung] message 2: badge says the host is failing",
        badge_text(hung.report) == BADGE_HOST_DOWN,
        badge_text(hung.report),
    )
    check_display(
        suite.checks, outcome, 3, names[1], suite.by_name[names[1]].raw, suite.labels[names[1]]
    )


def host_missing(suite: Suite) -> None:
    names = ["01-newsletter-known-tracker.eml", "06-personal-signature.eml"]
    scenario = Scenario("host-missing", [suite.by_name[n] for n in names], install_host=False)
    outcome = suite.harness.run(scenario, suite.recipients)
    print(f"e2e: host not installed: {outcome.seconds:.1f} s")
    suite.checks.check("[host-missing] driver finished", outcome.done)
    for n, name in enumerate(names, start=1):
        window = outcome.window(n)
        suite.checks.check(
            f"[host-missing] {name}: shown", window.complete and window.report is not None
        )
        suite.checks.check(f"[host-missing] {name}: nothing loads", not window.requests)
        suite.checks.check(
            f"[host-missing] {name}: badge says the host is missing",
            badge_text(window.report) == BADGE_HOST_DOWN,
            badge_text(window.report),
        )
        host = (window.report or {}).get("host") or {}
        suite.checks.check(
            f"[host-missing] {name}: host state missing",
            isinstance(host, dict) and host.get("state") == "missing",
            host,
        )
    suite.checks.check(
        "[host-missing] no request at all",
        not outcome.entries or all(e.marker for e in outcome.entries),
    )


def dns_down(suite: Suite) -> None:
    names = ["03-cname-cloaked.eml", "01-newsletter-known-tracker.eml"]
    # Nothing listens on this port: every look-up fails (the host reports a timeout).
    scenario = Scenario("dns-down", [suite.by_name[n] for n in names], resolver="127.0.0.1:54")
    outcome = suite.harness.run(scenario, suite.recipients)
    print(f"e2e: DNS server down: {outcome.seconds:.1f} s")
    check_scenario_wide(suite.checks, outcome, suite.labels.values(), suite.zone)
    for n, name in enumerate(names, start=1):
        window = outcome.window(n)
        tag = f"[dns-down] {name}"
        suite.checks.check(f"{tag}: shown", window.complete and window.report is not None)
        bad = unallowed_requests(window, window.report)
        suite.checks.check(f"{tag}: every request was allowed by the host", not bad, bad)
        cloaked = [e.url for e in window.requests if e.host == "email.shop.example"]
        suite.checks.check(
            f"{tag}: cloaked first-party content stays blocked",
            not cloaked,
            cloaked,
        )
        for resource in resources_of(window.report):
            if resource["url"].startswith("https://email.shop.example/"):
                suite.checks.check(
                    f"{tag}: host blocks {resource['url'][:60]}",
                    resource.get("action") == "block",
                    resource.get("reasons"),
                )
        verdict = verdict_of(window.report)
        count = verdict.get("trackers_blocked") if verdict else None
        suite.checks.check(
            f"{tag}: badge equals the trackers blocked",
            badge_text(window.report) == str(count),
            f"badge {badge_text(window.report)!r}, host {count}",
        )


def dns_slow(suite: Suite) -> None:
    names = ["03-cname-cloaked.eml", "01-newsletter-known-tracker.eml"]
    # Slower than the host's per-message DNS budget (250 ms), faster than its query timeout
    # (2 s): the first answer blocks first-party content as pending, the update allows it.
    scenario = Scenario("dns-slow", [suite.by_name[n] for n in names], dns_delay=0.8)
    outcome = suite.harness.run(scenario, suite.recipients)
    print(f"e2e: slow DNS (late decisions): {outcome.seconds:.1f} s")
    check_scenario_wide(suite.checks, outcome, suite.labels.values(), suite.zone)
    for n, name in enumerate(names, start=1):
        check_display(suite.checks, outcome, n, name, suite.by_name[name].raw, suite.labels[name])
    answered = dict(suite.harness.dns.resolver.answered)
    early = [
        f"{e.url} at {e.time:.3f}, DNS answered {answered.get(e.host)}"
        for w in outcome.windows.values()
        for e in w.requests
        if e.method != "CONNECT" and not (answered.get(e.host, float("inf")) <= e.time)
    ]
    suite.checks.check(
        "[dns-slow] nothing loaded before DNS answered for its name", not early, early
    )
    suite.checks.check(
        "[dns-slow] first-party content did load after the late answers",
        any(w.requests for w in outcome.windows.values()),
    )


def relaxed(suite: Suite) -> None:
    names = ["01-newsletter-known-tracker.eml", "05-srcset.eml"]
    scenario = Scenario("relaxed", [suite.by_name[n] for n in names], mode="relaxed")
    outcome = suite.harness.run(scenario, suite.recipients)
    print(f"e2e: relaxed mode: {outcome.seconds:.1f} s")
    check_scenario_wide(suite.checks, outcome, suite.labels.values(), suite.zone)
    for n, name in enumerate(names, start=1):
        check_relaxed(suite.checks, outcome, n, name, suite.labels[name])


def overrides(suite: Suite) -> None:
    """The user's standing choices, set through the host's own settings import: an allowed
    sender and an allowed domain load third-party content (never trackers); a blocked domain
    loads nothing, not even first-party content."""
    newsletter, gallery, bakery = (
        "01-newsletter-known-tracker.eml",
        "05-srcset.eml",
        "02-first-party-hashed-pixel.eml",
    )
    scenario = Scenario(
        "overrides",
        [suite.by_name[n] for n in (newsletter, gallery, bakery)],
        overrides=[
            {"scope": "sender", "value": "news@shop.example", "action": "allow"},
            {"scope": "domain", "value": "gallery.example", "action": "allow"},
            {"scope": "domain", "value": "bakery.example", "action": "block"},
        ],
    )
    outcome = suite.harness.run(scenario, suite.recipients)
    print(f"e2e: allowed sender, allowed domain, blocked domain: {outcome.seconds:.1f} s")
    check_scenario_wide(suite.checks, outcome, suite.labels.values(), suite.zone)
    for n, name in ((1, newsletter), (2, gallery)):
        check_relaxed(suite.checks, outcome, n, name, suite.labels[name])
    window = outcome.window(3)
    tag = f"[overrides] {bakery}"
    suite.checks.check(f"{tag}: shown", window.complete and window.report is not None)
    nothing = not window.requests
    suite.checks.check(f"{tag}: a blocked domain loads nothing", nothing, window.requests)
    reasons = [r.get("reasons") for r in resources_of(window.report)]
    suite.checks.check(
        f"{tag}: the host says the user blocked it",
        bool(reasons) and all("user_block_domain" in (r or []) for r in reasons),
        reasons,
    )


def wall_down(suite: Suite) -> None:
    """The user has let Thunderbird load remote content itself: no add-on can stop that (the
    requests never pass through any WebExtension API), so the add-on must notice and warn."""
    name = "01-newsletter-known-tracker.eml"
    scenario = Scenario(
        "wall-down",
        [suite.by_name[name]],
        extra_prefs={"mailnews.message_display.disable_remote_image": False},
    )
    outcome = suite.harness.run(scenario, suite.recipients)
    print(f"e2e: Thunderbird's own remote content allowed: {outcome.seconds:.1f} s")
    window = outcome.window(1)
    report = window.report or {}
    tracker_requests = [
        e.url for e in window.requests if e.method != "CONNECT" and suite.labels[name].forbidden(e)
    ]
    suite.checks.check(
        "[wall-down] Thunderbird itself fetched the tracker (what the wall normally stops)",
        bool(tracker_requests),
        "no tracker request: is the pref still honoured?",
    )
    seen = {normalise(u) for u in report.get("thunderbird_loaded") or [] if isinstance(u, str)}
    missed = [u for u in tracker_requests if normalise(u) not in seen]
    suite.checks.check(
        "[wall-down] the display script noticed every tracker load", not missed, missed
    )
    popup = report.get("popup") or {}
    flagged = [
        item
        for item in (popup.get("thunderbird_loaded") or [] if isinstance(popup, dict) else [])
        if isinstance(item, dict) and item.get("tracker")
    ]
    suite.checks.check("[wall-down] the popup warns about the tracker", bool(flagged), popup)


def screenshots(suite: Suite) -> None:
    if suite.harness.display is None:
        suite.checks.check("screenshots: Xvfb available", False, "Xvfb did not start")
        return
    shots = suite.harness.output / "screenshots"
    taken: dict[str, bool] = {}

    def shoot(name: str) -> Callable[[RunningScenario], None]:
        def hook(running: RunningScenario) -> None:
            time.sleep(0.5)  # let the last paint land
            taken[name] = screenshot(running.display, shots / f"{name}.png")

        return hook

    newsletter = suite.by_name["01-newsletter-known-tracker.eml"]
    # Twice: the first display without the popup, the second with it open.
    scenario = Scenario(
        "screenshots",
        [newsletter, newsletter],
        headless=False,
        popup=[2],
        hooks={"end/1": shoot("newsletter"), "popup/2": shoot("popup")},
    )
    outcome = suite.harness.run(scenario, suite.recipients)
    print(f"e2e: screenshots: {outcome.seconds:.1f} s")
    suite.checks.check("[screenshots] newsletter with the badge", taken.get("newsletter", False))
    opened = [r.get("opened") for r in outcome.events("popup")]
    suite.checks.check("[screenshots] the driver opened the popup", opened == [True], opened)
    suite.checks.check("[screenshots] the open popup", taken.get("popup", False))
    if not suite.update_docs:
        return
    # Only on request (make screenshots): a routine run must not leave the working tree dirty.
    SCREENSHOTS_DOC.mkdir(parents=True, exist_ok=True)
    for name, ok in taken.items():
        if ok:
            shutil.copyfile(shots / f"{name}.png", SCREENSHOTS_DOC / f"{name}.png")
            print(f"e2e: updated {SCREENSHOTS_DOC / f'{name}.png'}")


SCENARIOS: dict[str, Callable[[Suite], None]] = {
    "strict": strict,
    "host-killed": host_killed,
    "host-hung": host_hung,
    "host-missing": host_missing,
    "dns-down": dns_down,
    "dns-slow": dns_slow,
    "relaxed": relaxed,
    "overrides": overrides,
    "wall-down": wall_down,
    "screenshots": screenshots,
}


def known_gaps() -> dict[str, str]:
    gaps = load_labels(FIXTURES / "labels.json")[1].get("known_gaps")
    return dict(gaps) if isinstance(gaps, dict) else {}


def run_all(harness: Harness, checks: Checks, only: set[str] | None, update_docs: bool) -> None:
    labels, _ = load_labels(FIXTURES / "labels.json")
    files = read_messages(FIXTURES)
    by_name = {f.name: f for f in files}
    checks.check(
        "fixtures: every message is labelled", set(by_name) == set(labels), sorted(by_name)
    )
    unknown = sorted((only or set()) - set(SCENARIOS))
    checks.check(
        "scenarios named by --only exist", not unknown, f"{unknown}; see {list(SCENARIOS)}"
    )
    suite = Suite(
        harness=harness,
        checks=checks,
        files=files,
        by_name=by_name,
        labels=labels,
        zone=load_zone(FIXTURES / "zone.json"),
        recipients=[RECIPIENT],
        update_docs=update_docs,
    )
    for name, scenario in SCENARIOS.items():
        if only is None or name in only:
            scenario(suite)
