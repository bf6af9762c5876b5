"""`pixelwarden`: scan mail files with the engine, run the native host, manage the installation.

Start-up time matters (the native host is started by Thunderbird, the scanner by scripts), so the
heavy modules (rich, dnspython, the HTML reader) are imported only by the commands that use them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .model import Mode, PixelWardenError

if TYPE_CHECKING:
    from .decide import Knowledge

EXIT_OK = 0
EXIT_USAGE = 2


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return value


def _address(value: str) -> str:
    value = value.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise argparse.ArgumentTypeError(f"not an e-mail address: {value!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixelwarden",
        description="Pixel Warden: decides which remote content of an e-mail may load.",
    )
    parser.add_argument("--version", action="version", version=f"pixelwarden {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    scan = commands.add_parser(
        "scan", help="classify every remote resource of .eml, mbox, Maildir or .html files"
    )
    scan.add_argument("--json", action="store_true", help="JSON Lines, one object per message")
    scan.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.STRICT.value)
    scan.add_argument(
        "--dns-server", type=_host_port, metavar="HOST:PORT", help="resolver for CNAME uncloaking"
    )
    scan.add_argument("--no-dns", action="store_true", help="no CNAME uncloaking (no DNS at all)")
    scan.add_argument(
        "--recipient",
        action="append",
        type=_address,
        default=[],
        metavar="ADDR",
        help="an address of yours to look for in URLs (repeatable)",
    )
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.set_defaults(func=_cmd_scan)

    host = commands.add_parser("host", help="the native-messaging host (started by Thunderbird)")
    host.add_argument("args", nargs="*", help="manifest path and add-on id, passed by Thunderbird")
    host.set_defaults(func=_cmd_host)

    _register_optional(commands)
    return parser


def _register_optional(commands: Any) -> None:
    """Commands contributed by the installation, settings and list modules."""
    from . import doctor, install, lists, settings

    for module in (install, doctor, settings, lists):
        module.add_commands(commands)


def _cmd_host(args: argparse.Namespace) -> int:
    from .host import run_host

    return run_host(list(args.args))


# --- scan ---------------------------------------------------------------------------------------


def _knowledge(args: argparse.Namespace) -> Knowledge:
    from .decide import Knowledge
    from .lists import load_matcher
    from .trackers import TrackerDB

    return Knowledge(
        trackers=TrackerDB.bundled(),
        mode=Mode(args.mode),
        identities=tuple(args.recipient),
        uncloak=not args.no_dns,
        lists=load_matcher(),
    )


def scan_messages(
    paths: Sequence[str], knowledge: Knowledge, dns_server: str | None = None
) -> Iterator[dict[str, Any]]:
    """One JSON-ready object per message: its verdict, or the error that stopped it."""
    from .decide import classify
    from .extract import extract
    from .mime import parse_message
    from .sources import iter_sources
    from .uncloak import Uncloaker

    uncloaker = Uncloaker(resolver=dns_server) if knowledge.uncloak else None
    for source, data in iter_sources(paths):
        if isinstance(data, PixelWardenError):
            yield {"source": source, "error": data.to_json()}
            continue
        try:
            message = parse_message(data, source)  # bare .html comes as an HtmlDocument
            extraction = extract(message.html, None) if message.html else None
            verdict = classify(message, knowledge, extraction=extraction)
            if verdict.dns_pending and uncloaker is not None:
                # Resolve the first-party names that would load, within the budget, and decide
                # again: what is still unanswered stays blocked.
                answers = uncloaker.resolve_sync(verdict.dns_pending)
                verdict = classify(message, replace(knowledge, dns=answers), extraction=extraction)
        except PixelWardenError as err:
            yield {"source": source, "error": err.to_json()}
            continue
        yield verdict.to_json()


def _cmd_scan(args: argparse.Namespace) -> int:
    from .process import tune_for_messages

    knowledge = _knowledge(args)
    tune_for_messages()  # message after message (see process.py)
    results = scan_messages(args.paths, knowledge, args.dns_server)
    if args.json:
        out = sys.stdout
        for result in results:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            out.flush()
        return EXIT_OK
    _print_tables(results, sys.stdout)
    return EXIT_OK


def _print_tables(results: Iterator[dict[str, Any]], out: TextIO) -> None:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    from rich.text import Text

    # Message-derived strings are shown as Text, never as markup: a URL may contain "[bold]".

    console = Console(file=out)
    err_console = Console(stderr=True)
    with Progress(console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("scanning", total=None)
        for result in results:
            bar.advance(task)
            if "error" in result:
                console.print(
                    Text(f"{result['source']}: ", style="bold red")
                    + Text(f"{result['error']['code']}: {result['error']['message']}")
                )
                continue
            title = (
                f"{result['source']}  from {result['from'] or '?'}  "
                f"({result['trackers_blocked']} trackers blocked, {result['blocked']} blocked, "
                f"{result['allowed']} allowed{', image-only' if result['image_only'] else ''})"
            )
            table = Table(title=Text(title), title_justify="left", expand=False)
            for column in ("action", "kind", "party", "company", "url", "reasons"):
                table.add_column(column, overflow="fold")
            for res in result["resources"]:
                action = res["action"] + (" (tracker)" if res["tracker"] else "")
                style = "red" if res["tracker"] else ("yellow" if res["action"] == "block" else "")
                cells = (
                    action,
                    res["kind"],
                    res["party"],
                    res["company"] or "",
                    res["url"],
                    ", ".join(res["reasons"]),
                )
                table.add_row(*(Text(cell) for cell in cells), style=style)
            console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PixelWardenError as err:
        print(f"pixelwarden: {err.code}: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
