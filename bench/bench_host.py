"""`make bench`: round trip of the native host through a pipe, reported as figures (never asserted).

Starts the real host (`python -m pixelwarden.cli host`) in private folders, as Thunderbird does, and
times, from the first byte written to the last byte of the reply read:
- `hello` (framing, dispatch and the pipe: the floor of any request);
- `classify` of a ~100 KB newsletter (bench/newsletter.py) with the rendered references the add-on
  would also send, uncloaking off (no DNS: this measures the host, not a resolver);
- the same classify with 8 requests in flight at once (Thunderbird opening several messages).
Also: start-up to the first `hello` reply, and the first classify after it.
Reference (performance-notes.md): 3.6 ms for a 116 KiB message with a full classification; a new
process per message costs 85-330 ms.

    .venv/bin/python bench/bench_host.py [--runs 300] [--size 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from newsletter import generate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


class Pipe:
    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pixelwarden.cli", "host"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )

    def send(self, obj: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        payload = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        self.process.stdin.write(struct.pack("=I", len(payload)) + payload)
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        (length,) = struct.unpack("=I", self.process.stdout.read(4))
        reply: dict[str, Any] = json.loads(self.process.stdout.read(length))
        return reply

    def round_trip(self, obj: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        self.send(obj)
        reply = self.receive()
        return (time.perf_counter() - start) * 1000, reply

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def rendered_of(html: str) -> list[dict[str, Any]]:
    """What a display script would report: every src of an <img>, with its declared size."""
    out = []
    for tag in re.findall(r"<img\b[^>]*>", html, flags=re.I):
        src = re.search(r'src="([^"]+)"', tag)
        if not src or not src.group(1).startswith("http"):
            continue
        width = re.search(r'width="(\d+)"', tag)
        height = re.search(r'height="(\d+)"', tag)
        out.append(
            {
                "url": src.group(1).replace("&amp;", "&"),
                "element": "img",
                "attribute": "src",
                "width": int(width.group(1)) if width else None,
                "height": int(height.group(1)) if height else None,
                "hidden": False,
            }
        )
    return out


def report(name: str, values: list[float]) -> None:
    print(
        f"{name:<44} p50 {percentile(values, 50):7.2f} ms   p99 {percentile(values, 99):7.2f} ms"
        f"   mean {statistics.fmean(values):7.2f} ms   (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pixelwarden-bench-") as folder:
        env = dict(os.environ)
        for name in ("DATA", "LOG", "CACHE"):
            env[f"PIXELWARDEN_{name}_DIR"] = str(Path(folder) / name.lower())

        start = time.perf_counter()
        pipe = Pipe(env)
        _, hello = pipe.round_trip({"id": 0, "type": "hello", "addon_version": "bench"})
        startup = (time.perf_counter() - start) * 1000
        assert hello["ok"], hello
        pipe.round_trip({"id": 1, "type": "settings.set", "settings": {"uncloak": False}})

        html = generate(args.size, seed=1)
        brand = re.search(r"https://(?:img|cdn)\.(\w+)\.example", html)
        sender = f"news@{brand.group(1) if brand else 'shop'}.example"
        message = {
            "key": 1,
            "message_id": "<bench@example>",
            "headers": {"from": [f"News <{sender}>"], "to": ["reader@mail.example"]},
            "html": html,
            "text": None,
        }
        rendered = rendered_of(html)
        request = {"id": 2, "type": "classify", "message": message, "rendered": rendered}
        size = len(json.dumps(request).encode("utf-8"))

        # The host loads the engine in the background after `hello`; a message display follows
        # the add-on's start by far more than this.
        time.sleep(0.5)
        first, _ = pipe.round_trip(request)
        for _ in range(20):  # warm-up: caches
            pipe.round_trip(request)
        hellos = [
            pipe.round_trip({"id": 3, "type": "hello", "addon_version": "b"})[0]
            for _ in range(args.runs)
        ]
        classify_times = []
        reply: dict[str, Any] = {}
        for i in range(args.runs):
            request["id"] = 10 + i
            elapsed, reply = pipe.round_trip(request)
            classify_times.append(elapsed)
        assert reply["ok"], reply
        reply_size = len(json.dumps(reply, separators=(",", ":")).encode("utf-8"))

        # Eight in flight at once: time from the batch's first byte to each reply.
        concurrent: list[float] = []
        for batch in range(max(1, args.runs // 8)):
            start = time.perf_counter()
            for n in range(8):
                request["id"] = f"c{batch}-{n}"
                pipe.send(request)
            for _ in range(8):
                pipe.receive()
                concurrent.append((time.perf_counter() - start) * 1000)
        pipe.close()

    verdict = reply["verdict"]
    print(
        f"host round trip through a pipe: request {size / 1024:.0f} KiB "
        f"({len(html) / 1024:.0f} KiB HTML, {len(rendered)} rendered references), "
        f"reply {reply_size / 1024:.1f} KiB, {len(verdict['resources'])} resources "
        f"({verdict['trackers_blocked']} trackers blocked, {verdict['allowed']} allowed)"
    )
    print(f"{'start-up to first hello reply':<44} {startup:7.1f} ms")
    print(f"{'first classify (0.5 s after hello)':<44} {first:7.1f} ms")
    report("hello", hellos)
    report(f"classify {args.size // 1000} KB newsletter", classify_times)
    report("classify, 8 in flight (per reply)", concurrent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
