"""Speed and memory of reading mail: address-leak search, MIME parsing, mbox streaming.

Figures only, never asserted. Run from the repository root:
    .venv/bin/python bench/bench_mail.py [--corpus ../shared/corpus] [--mbox-mb 200]
Targets: leak search <= 20 us per URL for 3 addresses; MIME parsing well inside the engine's
budget (100 KB p99 <= 10 ms, 1 MB p99 <= 60 ms for the whole classification); an mbox of any
size streamed in bounded memory.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import quopri
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pixelwarden.leaks import LeakDetector
from pixelwarden.mime import parse_message
from pixelwarden.sources import iter_sources

ADDRESSES = ("jane.doe@mail.example.org", "j.doe+news@example.com", "jdoe@corp.example")
# Rough URL harvest for timing only (the real extractor is extract.py).
_URL = re.compile(
    r"""(?:src|href|background)\s*=\s*["']?(https?://[^"'\s>]+)"""
    r"""|url\(\s*["']?(https?://[^"')\s]+)""",
    re.I,
)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def corpus_urls(corpus: Path) -> list[str]:
    urls: list[str] = []
    for source, raw in iter_sources([str(corpus)]):
        if isinstance(raw, bytes):
            html = parse_message(raw, source).html or ""
            urls.extend(a or b for a, b in _URL.findall(html))
    return urls


def synthetic_urls() -> list[str]:
    address = ADDRESSES[0]
    token = base64.urlsafe_b64encode(f"uid=991&email={address}&list=7".encode()).decode()
    return [
        "https://cdn.shop.example/images/2024/autumn/hero-banner-600x300.jpg",
        f"https://t.shop.example/open/{hashlib.sha256(address.encode()).hexdigest()}.gif",
        f"https://click.mail.example/ls/click?upn={token.rstrip('=')}&s=1",
        "https://t.example.com/o?r=jane.doe%2540mail.example.org&x=%7B%22a%22%3A1%7D",
        "https://www.shop.example/track/open?utm_source=newsletter&utm_medium=email"
        "&utm_campaign=spring_sale_2024&mid=a8f3c2d1e9b74f6a0b1c2d3e4f506172",
    ]


def per_call_us(fn: Callable[[str], object], items: list[str], rounds: int) -> list[float]:
    times: list[float] = []
    for _ in range(rounds):
        for item in items:
            start = time.perf_counter_ns()
            fn(item)
            times.append((time.perf_counter_ns() - start) / 1000)
    return times


def bench_leaks(corpus: Path | None) -> None:
    detector = LeakDetector(ADDRESSES)
    sets = [("synthetic leak-shaped URLs", synthetic_urls())]
    if corpus is not None and corpus.is_dir():
        sets.append(("corpus URLs", corpus_urls(corpus)))
    for label, urls in sets:
        times = per_call_us(detector.find, urls, max(3, 20000 // max(1, len(urls))))
        print(
            f"leaks  {label:<28} n={len(urls):5}  mean {statistics.fmean(times):5.1f} us  "
            f"p50 {statistics.median(times):5.1f} us  p99 {percentile(times, 99):5.1f} us  "
            f"(3 addresses)"
        )
    start = time.perf_counter()
    for _ in range(1000):
        LeakDetector(ADDRESSES)
    print(f"leaks  detector for 3 addresses built in {(time.perf_counter() - start) * 1000:.1f} us")


def newsletter_message(size: int, encoding: str) -> bytes:
    row = (
        '<tr><td style="padding:4px"><a href="https://shop.example/p?id=12345&utm_source=nl">'
        '<img src="https://cdn.example/i/12345.jpg" width="120" height="90" alt="Produkt é">'
        "</a> Some text here.</td></tr>\n"
    ).encode()
    html = (row * (size // len(row) + 1))[:size]
    body = {"base64": base64.encodebytes, "quoted-printable": quopri.encodestring}.get(
        encoding, lambda b: b
    )(html)
    return (
        b"From: Shop <news@shop.example>\nTo: jane@mail.example.org\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/alternative; boundary="zz"\n\n--zz\n'
        b"Content-Type: text/plain; charset=utf-8\n\nplain\n--zz\n"
        b"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: "
        + encoding.encode()
        + b"\n\n"
        + body
        + b"\n--zz--\n"
    )


def bench_mime(corpus: Path | None) -> None:
    for size, runs in ((100_000, 200), (1_000_000, 40)):
        for encoding in ("quoted-printable", "base64", "8bit"):
            data = newsletter_message(size, encoding)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                parse_message(data, "bench.eml")
                times.append((time.perf_counter() - start) * 1000)
            print(
                f"mime   {size // 1000:>5} KB HTML, {encoding:<16} "
                f"p50 {statistics.median(times):6.2f} ms  p99 {percentile(times, 99):6.2f} ms"
            )
    if corpus is None or not corpus.is_dir():
        print("mime   corpus not found, skipped")
        return
    messages = [(s, r) for s, r in iter_sources([str(corpus)]) if isinstance(r, bytes)]
    times = []
    start_all = time.perf_counter()
    for _ in range(5):
        for source, raw in messages:
            start = time.perf_counter()
            parse_message(raw, source)
            times.append((time.perf_counter() - start) * 1000)
    rate = len(times) / (time.perf_counter() - start_all)
    print(
        f"mime   corpus ({len(messages)} messages)       p50 {statistics.median(times):6.2f} ms"
        f"  p99 {percentile(times, 99):6.2f} ms  {rate:6.0f} msg/s"
    )


_STREAM = """
import resource, sys, time
from pixelwarden.sources import iter_sources
start = time.perf_counter(); count = size = 0
for source, raw in iter_sources([sys.argv[1]]):
    count += 1; size += len(raw)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"sources mbox {size / 2**20:.0f} MiB, {count} messages: {size / 2**20 / elapsed:.0f} MiB/s, "
      f"peak RSS {peak:.0f} MiB")
"""


def bench_mbox(megabytes: int) -> None:
    message = newsletter_message(50_000, "quoted-printable") + b"\n>From a quoted line\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.mbox"
        with path.open("wb") as handle:
            written = 0
            while written < megabytes * 2**20:
                chunk = b"From news@shop.example Mon Jan  1 00:00:00 2024\n" + message + b"\n"
                handle.write(chunk)
                written += len(chunk)
        subprocess.run([sys.executable, "-c", _STREAM, str(path)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus"))
    parser.add_argument("--mbox-mb", type=int, default=200)
    args = parser.parse_args()
    bench_leaks(args.corpus)
    bench_mime(args.corpus)
    bench_mbox(args.mbox_mb)


if __name__ == "__main__":
    main()
