"""Speed of the tracker database: load time and time per URL for `TrackerDB.match` (figures only).

URLs: every remote reference of the shared corpus (when present) plus a fixed mix of tracker,
content and ordinary URLs, so that both the hit and the miss paths are measured.
Target (trackers brief): <= 5 us per URL on one core.

    .venv/bin/python bench/bench_trackers.py [--corpus ../shared/corpus]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from pixelwarden.trackers import TrackerDB

MIX = [
    "https://shop.us5.list-manage.com/track/open.php?u=3a7c2f1b9e&id=8d1f0c2b4a&e=5c2e9a1f07",
    "https://mcusercontent.com/65696a478a009df233f128d88/images/18e89cf0-99a4-dc42.png",
    "https://url4213.shop.example/wf/open?upn=u001.s4A7ZqC-2Ftxqw36qkcPzhAm-2BF5M",
    "https://email.mg.shop.example/o/eJwljUEOgyAQAF9TjkQQFA8ceuk_yLKsSoqsAUzj71vTZE4zh4k",
    "https://email.mg.shop.example/o/logo.png",
    "https://a1b2c3d4.r.us-east-1.awstrack.me/I0/0100018c1e5a8f10-2b0e4f7c-000000/Ab1=349",
    "https://news.shop.example/images/2024/summer/hero-banner-1200x600.jpg",
    "https://images.shop.example/spacer.gif",
    "https://substackcdn.com/image/fetch/w_1456,c_limit/https%3A%2F%2Fsubstack.png",
    "https://eotrx.substackcdn.com/open?token=eyJtIjoiMTIzIn0&user_id=1&post_id=2",
    "https://6778953.fs1.hubspotusercontent-na1.net/hubfs/6778953/logo.png",
    "https://www.shop.example/e2t/o/*W2PPG2f7XTbBMV93q3t1V2lKd0/*V4MJPv7hj9XpN5lqd/5/f18",
    "https://fonts.googleapis.com/css2?family=Inter:wght@400;700&display=swap",
    "https://d111111abcdef8.cloudfront.net/assets/img/logo@2x.png",
    "https://www.linkedin.com/emimp/ip_Ab12Cd34.gif",
    "https://Pixel.Bücher.example/o.gif",
]

_SRC = re.compile(rb"""(?:src|background|href)=3?D?["']?(https?://[^"'\s>]+)""", re.IGNORECASE)


def corpus_urls(corpus: Path) -> list[str]:
    urls: list[str] = []
    if not corpus.is_dir():
        return urls
    for path in sorted(corpus.rglob("*")):
        if path.is_file() and path.suffix in {".eml", ".html"}:
            data = path.read_bytes()
            urls += [
                m.group(1).decode("latin-1").replace("&amp;", "&") for m in _SRC.finditer(data)
            ]
    return urls


def per_url_us(db: TrackerDB, urls: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Microseconds per URL, wall clock and process CPU time, one figure per pass over all URLs.

    CPU time is the fairer figure on a shared machine: it leaves out the time other jobs held
    the core.
    """
    match = db.match
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter_ns(), time.process_time_ns()
        for url in urls:
            match(url)
        cpu.append((time.process_time_ns() - start_cpu) / 1000 / len(urls))
        wall.append((time.perf_counter_ns() - start) / 1000 / len(urls))
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
    parser.add_argument("--corpus", type=Path, default=default)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    text = resources.files("pixelwarden").joinpath("data", "trackers.json").read_bytes()
    loads = []
    for _ in range(20):
        start = time.perf_counter()
        db = TrackerDB.from_json(text)
        loads.append((time.perf_counter() - start) * 1000)
    print(f"tracker database: {len(db)} services, {len(db.hosting)} hosting providers")
    print(f"load + index (from_json): median {statistics.median(loads):.2f} ms")

    cmd = [sys.executable, "-X", "importtime", "-c", "import pixelwarden.trackers"]
    stderr = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    cumulative = [
        int(line.split("|")[1]) for line in stderr.splitlines() if "pixelwarden.trackers" in line
    ]
    print(
        f"import pixelwarden.trackers: {cumulative[-1] / 1000:.1f} ms (cumulative, -X importtime)"
    )

    sets = {"mix": MIX * 50}
    found = corpus_urls(args.corpus)
    if found:
        sets["corpus"] = found
    else:
        print(f"(shared corpus not found at {args.corpus}: corpus figures skipped)")
    for name, urls in sets.items():
        hits = sum(1 for u in urls if db.match(u))
        wall, cpu = per_url_us(db, urls, args.repeat)
        print(
            f"match() over {name}: {len(urls)} URLs ({hits} trackers): "
            f"CPU median {statistics.median(cpu):.2f} us/URL; "
            f"wall median {statistics.median(wall):.2f}, best {min(wall):.2f}, "
            f"worst pass {max(wall):.2f}"
        )


if __name__ == "__main__":
    main()
