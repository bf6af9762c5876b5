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
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import netns
from checks import (
    Checks,
    allowed_urls,
    badge_text,
    resources_of,
    unallowed_requests,
    verdict_of,
)
from dnsserver import ZoneDNSServer, load_zone
from harness import Harness, Scenario
from messages import read_messages, recipients_of, same_subject, subject_of
from scenarios import FIXTURES, known_gaps, run_all
from screen import Xvfb
from testca import TestCA
from thunderbird import thunderbird_binary, thunderbird_version, use_thunderbird
from urls import normalise

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_OUTPUT = REPO / "build" / "e2e"


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


CANARY_ID = "canary@pixelwarden.test"


def build_canary(output: Path) -> Path:
    """The canary add-on (tests/e2e/canary/), packed: a harness check that needs no Pixel Warden."""
    target = output / "canary.xpi"
    with zipfile.ZipFile(target, "w") as package:
        for path in sorted((HERE / "canary").iterdir()):
            package.write(path, path.name)
    return target


def canary_run(harness: Harness, checks: Checks) -> None:
    files = read_messages(FIXTURES)[:2]
    outcome = harness.run(Scenario("canary", files), recipients_of(files))
    print(f"e2e: canary: {outcome.seconds:.1f} s")
    checks.check("[canary] finished", outcome.done, f"see {outcome.directory}")
    fetched = {str(r.get("url")): r.get("status") for r in outcome.events("fetch")}
    checks.check(
        "[canary] http and https answered through the proxy",
        set(fetched.values()) == {200} and len(fetched) == 4,
        fetched,
    )
    logged = [(e.method, e.url) for e in outcome.entries]
    checks.check(
        "[canary] the proxy saw the https request with its full URL (TLS terminated)",
        ("GET", "https://tls.shop.example/canary-20x10-ff0000.png") in logged,
        logged,
    )
    checks.check(
        "[canary] nothing else reached the proxy (quiet profile)",
        len([e for e in outcome.entries if e.method != "CONNECT"]) == 4,
        logged,
    )
    inbox = next(iter(outcome.events("inbox")), {}).get("subjects")
    checks.check(
        "[canary] the harness's mbox is the Inbox",
        inbox is not None
        and sorted(map(same_subject, inbox)) == sorted(subject_of(f.raw) for f in files),
        inbox,
    )


def run_inside(args: argparse.Namespace) -> int:
    netns.bring_loopback_up()
    checks = Checks(None if args.messages else known_gaps())
    started = time.monotonic()
    if not checks.check("network: only loopback exists", netns.only_loopback()):
        print(checks.summary())
        return 1
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    version = thunderbird_version(thunderbird_binary())
    addon = "the canary (tests/e2e/canary)" if args.canary else args.xpi
    print(f"e2e: Thunderbird {version}, add-on {addon}", flush=True)
    zone_file = (
        Path(args.zone) if args.zone else (None if args.messages else FIXTURES / "zone.json")
    )
    dns = ZoneDNSServer(load_zone(zone_file), port=53).start()
    ca = TestCA(output / "ca")
    if args.canary:
        harness = Harness(output, build_canary(output), ca, dns, addon_id=CANARY_ID)
    else:
        harness = Harness(output, Path(args.xpi), ca, dns)
    xvfb = None
    try:
        if not (args.messages or args.canary or args.no_screenshots) and shutil.which("Xvfb"):
            xvfb = Xvfb()
            harness.display = xvfb.display
        if args.canary:
            canary_run(harness, checks)
        elif args.messages:
            report = Path(args.report).resolve() if args.report else None
            folder_run(harness, checks, Path(args.messages), report, version)
        else:
            only = set(args.only.split(",")) if args.only else None
            run_all(harness, checks, only, args.update_docs)
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
    parser.add_argument(
        "--thunderbird",
        metavar="PATH",
        help="the Thunderbird program to run (default: $THUNDERBIRD, else `thunderbird` on PATH)",
    )
    parser.add_argument("--only", help="comma-separated scenarios: strict,host-killed,...")
    parser.add_argument("--no-screenshots", action="store_true")
    parser.add_argument("--no-apt", action="store_true", help="never install system packages")
    parser.add_argument(
        "--canary",
        action="store_true",
        help="check the harness alone with a tiny test add-on (no Pixel Warden needed)",
    )
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
    if args.thunderbird:
        try:
            args.thunderbird = use_thunderbird(args.thunderbird)
        except FileNotFoundError as error:
            sys.exit(f"e2e: {error}")
    if not netns.inside():
        if not args.no_apt:
            ensure_system_packages()
        args.xpi = "" if args.canary else str(find_xpi(args.xpi))
        sys.argv = [sys.argv[0], *_argv(args)]
        netns.reexec_isolated()
    return run_inside(args)


def _argv(args: argparse.Namespace) -> list[str]:
    out = ["--output", args.output, "--no-apt"]
    if args.xpi:
        out += ["--xpi", args.xpi]
    for name in ("messages", "report", "zone", "only", "thunderbird"):
        value = getattr(args, name)
        if value:
            out += [f"--{name}", value]
    if args.no_screenshots:
        out.append("--no-screenshots")
    if args.update_docs:
        out.append("--update-docs")
    if args.canary:
        out.append("--canary")
    return out


if __name__ == "__main__":
    sys.exit(main())
