"""Extraction cost against parse-only passes of the same HTML.

    .venv/bin/python bench/bench_parsers.py [--runs N]

For a 100 KB and a 1 MB synthetic newsletter (bench/newsletter.py), prints p50/p99 of:
- ``extract``: pixelwarden.extract.extract (everything: parse, styles, CSS, URLs);
- ``lxml target``: lxml's streaming HTML parser with a target that does nothing (the floor for
  the chosen parser);
- ``selectolax``: Lexbor parse plus a walk over every node (the fastest alternative measured).
The runs are interleaved so that load from other processes hits them alike; CPU time is shown
next to wall time because a shared machine makes wall time noisy.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree
from pixelwarden import extract as extract_module
from pixelwarden.extract import extract


class _NullTarget:
    def start(self, tag: str, attrib: object) -> None:
        pass

    def end(self, tag: str) -> None:
        pass

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        return None


def lxml_parse_only(html: str) -> None:
    parser = etree.HTMLParser(target=_NullTarget(), recover=True, no_network=True)
    parser.feed(html)
    parser.close()


def lexbor_parse_only(html: str) -> None:
    """The fastest parse measured: Lexbor builds its tree and nothing reads it."""
    from selectolax.lexbor import LexborHTMLParser

    LexborHTMLParser(html)


def selectolax_parse_only(html: str) -> None:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    root = tree.root
    if root is not None:
        for node in root.traverse():
            node.attributes  # noqa: B018 - touch every node's attributes, like a real pass


def extract_cold(html: str) -> object:
    """extract with the remembered style attributes forgotten: a sender never seen before."""
    extract_module.forget_remembered()
    return extract(html)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _newsletter(size: int) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from newsletter import newsletter

    return newsletter(size)


def run(size: int, runs: int) -> None:
    html = _newsletter(size)
    passes: dict[str, Callable[[str], object]] = {
        "extract (cold style cache)": extract_cold,
        "extract (warm style cache)": extract,
        "lxml target (parse only)": lxml_parse_only,
        "selectolax (parse + walk)": selectolax_parse_only,
    }
    times: dict[str, list[float]] = {name: [] for name in passes}
    cpu: dict[str, list[float]] = {name: [] for name in passes}
    for fn in passes.values():  # warm-up (imports, caches)
        fn(html)
    gc.collect()
    for _ in range(runs):
        for name, fn in passes.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(html)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    result = extract(html)
    print(
        f"\n{len(html) / 1000:.0f} KB newsletter: {len(result.references)} references, "
        f"{result.image_count} images, {result.text_chars} text characters, {runs} runs"
    )
    floor = statistics.median(cpu["lxml target (parse only)"])
    for name, values in times.items():
        p50 = statistics.median(values)
        p99 = _percentile(values, 0.99)
        cpu50 = statistics.median(cpu[name])
        print(
            f"  {name:28s} wall p50 {p50 * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms"
            f"  | CPU p50 {cpu50 * 1000:7.2f} ms ({cpu50 / floor:4.2f}× lxml parse-only)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=0, help="runs per size (default 200 / 40)")
    args = parser.parse_args()
    run(100_000, args.runs or 200)
    run(1_000_000, args.runs or 40)


if __name__ == "__main__":
    main()
