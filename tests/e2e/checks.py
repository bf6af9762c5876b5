"""What the end-to-end run asserts, given what happened: the proxy's log, attributed to messages
by the driver's markers, and the driver's reports (badge, popup model, the host's verdict).

The rules are written once here and used by every scenario; each can fail (tests in
test_e2e_harness.py feed them synthetic logs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness import LOAD_REST, Outcome, Window
from labels import Labels
from messages import same_subject, subject_of
from proxy import Entry
from urls import host_of, normalise

BADGE_HOST_DOWN = "×"
Report = dict[str, Any]  # one decoded line of the test driver (or a part of it)


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
    check_popup(checks, tag, report, count, bool(verdict.get("image_only")))
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


def check_popup(
    checks: Checks, tag: str, report: Report, trackers_blocked: object, image_only: bool
) -> None:
    """The popup says what the badge says: the same trackers, each with its reasons."""
    popup = report.get("popup")
    if not checks.check(f"{tag}: popup model reported", isinstance(popup, dict), popup):
        return
    assert isinstance(popup, dict)
    trackers = popup.get("trackers") or {}
    companies = trackers.get("companies") or [] if isinstance(trackers, dict) else []
    entries = [e for c in companies if isinstance(c, dict) for e in c.get("entries") or []]
    checks.check(
        f"{tag}: popup lists every blocked tracker",
        isinstance(trackers, dict)
        and trackers.get("count") == trackers_blocked
        and len(entries) == trackers_blocked,
        f"popup {trackers.get('count') if isinstance(trackers, dict) else None}, "
        f"{len(entries)} entries, host {trackers_blocked}",
    )
    unexplained = [e.get("url") for e in entries if isinstance(e, dict) and not e.get("reasons")]
    checks.check(f"{tag}: every tracker in the popup says why", not unexplained, unexplained)
    checks.check(
        f"{tag}: popup image-only notice as the host says",
        popup.get("image_only") is image_only,
        popup.get("image_only"),
    )


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
    """Everything but trackers loads at display time (relaxed mode, or the user allowed it)."""
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
