"""`make bench`: what CNAME uncloaking and the downloaded lists cost, reported as figures.

DNS, against a real DNS server on loopback (dnslib, tests/dns/fakedns.py), never the network:
- look-ups per message (names handed to the resolver, and CNAME queries sent: one per hop);
- the cache hit rate over a cold pass and a warm pass of the same messages;
- the time uncloaking adds to a message with no cache, a cold cache (empty at the start of the
  pass) and a warm one (p50/p99), plus the one-off cost of importing dnspython on the first look-up.
The server runs in a process of its own; one event loop serves the pass, as in the native host.
Messages: the shared corpus (../shared/corpus, read in place) through the real engine, which names
the first-party hosts that would load; its zone answers every name with an alias chosen by the
name's first label, so that chains of 0-2 hops are walked. Without the corpus, synthetic messages.

Lists: adblock-rust engine build time vs deserialising the cached engine, its size, and the match
time per URL, for an EasyPrivacy-size synthetic list (about 27k rules) and a 50k-name domains list.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "dns"))

from fakedns import FakeDNS, Zone  # noqa: E402 - after the sys.path line


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


# -- the zone ----------------------------------------------------------------------------------


def bench_zone() -> Zone:
    """Every name exists; its first label picks a chain shape like the ones seen in mail."""

    def rule(name: str) -> tuple[str, int] | str | None:
        first = name.split(".", 1)[0]
        if name.endswith((".sendgrid.net", ".cloudfront.net", ".mailgun.org")):
            return "exists"
        if first in {
            "email",
            "click",
            "links",
            "link",
            "track",
            "t",
            "e",
            "go",
            "mail",
        }:
            return ("u1234.wl068.sendgrid.net", 300)  # 2 hops with the next rule
        if first in {"images", "img", "image", "cdn", "static", "media", "assets"}:
            return ("d1a2b3c4.cloudfront.net", 60)
        return "exists"

    zone = Zone(fallback=rule)
    zone.cname("u1234.wl068.sendgrid.net", "sendgrid.net", ttl=600)
    zone.exists.add("sendgrid.net")
    return zone


class ServerProcess:
    """The loopback DNS server in a process of its own, so its CPU does not count as ours."""

    def __enter__(self) -> str:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        return f"127.0.0.1:{self._conn.recv()}"

    def __exit__(self, *exc: object) -> None:
        self._conn.send("stop")
        self._proc.join(timeout=5)


def _serve(conn: object) -> None:
    with FakeDNS(bench_zone()) as server:
        conn.send(server.port)  # type: ignore[attr-defined]
        conn.recv()  # type: ignore[attr-defined]


# -- the messages ------------------------------------------------------------------------------


def corpus_pending(corpus: Path) -> list[list[str]]:
    """Per corpus message, the hosts the engine wants looked up (Verdict.dns_pending)."""
    from pixelwarden.decide import Knowledge, classify
    from pixelwarden.mime import message_from_html, parse_message
    from pixelwarden.sources import iter_sources
    from pixelwarden.trackers import TrackerDB

    knowledge = Knowledge(trackers=TrackerDB.bundled(), uncloak=True)
    out = []
    for source, data in iter_sources([str(corpus)]):
        if isinstance(data, Exception):
            continue
        try:
            if source.lower().endswith((".html", ".htm")):
                message = message_from_html(data, source)
            else:
                message = parse_message(data, source)
            verdict = classify(message, knowledge)
        except Exception as error:  # noqa: BLE001 - a message the engine refuses has no look-ups
            print(f"  skipped {source}: {error!r}")
            continue
        out.append(list(verdict.dns_pending))
    return out


def synthetic_pending(count: int = 200) -> list[list[str]]:
    rng = random.Random(7)
    labels = ["email", "click", "images", "www", "news", "cdn", "links", "static"]
    out = []
    for i in range(count):
        domain = f"brand{i % 60}.example"  # senders recur, as in a real mailbox
        out.append([f"{label}.{domain}" for label in rng.sample(labels, rng.randint(1, 4))])
    return out


# -- DNS measurements --------------------------------------------------------------------------


def run_pass(uncloaker: object, messages: list[list[str]], budget: float) -> list[float]:
    """Added time per message (ms), one event loop for the whole pass like the native host."""

    async def go() -> list[float]:
        times = []
        for hosts in messages:
            start = time.perf_counter()
            await uncloaker.resolve(hosts, budget=budget)  # type: ignore[attr-defined]
            times.append((time.perf_counter() - start) * 1000)
        return times

    return asyncio.run(go())


def bench_dns(messages: list[list[str]], label: str, budget: float) -> None:
    from pixelwarden.dnscache import DnsCache
    from pixelwarden.uncloak import Uncloaker, hosts_worth_resolving

    with_hosts = [m for m in messages if m]
    print(
        f"\n== CNAME uncloaking, {label}: {len(messages)} messages, "
        f"{len(with_hosts)} with first-party hosts to check =="
    )
    wanted = [len(hosts_worth_resolving(m)[0]) for m in messages]
    print(
        f"names to look up per message: mean {statistics.mean(wanted):.2f}, "
        f"max {max(wanted, default=0)}, total {sum(wanted)} "
        f"({len({h for m in messages for h in m})} distinct)"
    )

    with tempfile.TemporaryDirectory() as tmp, ServerProcess() as address:
        cache = DnsCache(Path(tmp) / "dns-cache.json")
        uncloaker = Uncloaker(address, cache=cache)

        start = time.perf_counter()
        import dns.asyncresolver  # noqa: F401 - the one-off import the first look-up pays

        import_ms = (time.perf_counter() - start) * 1000

        cold = run_pass(uncloaker, messages, budget)
        cold_queries = uncloaker.queries
        cold_hits, cold_misses = cache.hits, cache.misses
        cache.save()
        warm_cache = DnsCache(Path(tmp) / "dns-cache.json")  # as a new process would load it
        warm_uncloaker = Uncloaker(address, cache=warm_cache)
        warm = run_pass(warm_uncloaker, messages, budget)
        uncached = run_pass(Uncloaker(address, cache=None), messages, budget)

    n = max(len(messages), 1)
    print(
        f"CNAME queries sent (one per hop): cold pass {cold_queries} "
        f"({cold_queries / n:.2f} per message), warm pass {warm_uncloaker.queries}"
    )
    cold_rate = cold_hits / max(cold_hits + cold_misses, 1)
    warm_rate = warm_cache.hits / max(warm_cache.hits + warm_cache.misses, 1)
    print(
        f"cache hit rate: cold pass {cold_rate:.1%} (senders recurring within the pass), "
        f"warm pass {warm_rate:.1%}"
    )
    for name, times in (
        ("no cache (every name asked)", uncached),
        ("cold cache (empty at start)", cold),
        ("warm cache", warm),
    ):
        busy = [t for t, m in zip(times, messages, strict=True) if m]
        print(
            f"added time per message, {name}: p50 {percentile(busy, 50):.2f} ms, "
            f"p99 {percentile(busy, 99):.2f} ms, max {max(busy, default=0):.2f} ms "
            f"(messages with hosts); mean over all {statistics.mean(times or [0]):.2f} ms"
        )
    print(
        f"one-off dnspython import on the first look-up: {import_ms:.0f} ms "
        f"(budget per message {budget * 1000:.0f} ms)"
    )


# -- list measurements -------------------------------------------------------------------------


def synthetic_adblock(rules: int, rng: random.Random) -> str:
    lines = ["! synthetic EasyPrivacy-size list"]
    for i in range(rules):
        word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10)))
        shape = i % 4
        if shape == 0:
            lines.append(f"||{word}{i}.example^$third-party")
        elif shape == 1:
            lines.append(f"/{word}/pixel{i}.gif?")
        elif shape == 2:
            lines.append(f".{word}{i}.example/t/$image")
        else:
            lines.append(f"||{word}.example^*/open?id=$image")
    return "\n".join(lines) + "\n"


def bench_lists() -> None:
    import adblock
    from pixelwarden.lists import ListSource, load_matcher, update_lists

    rng = random.Random(3)
    adblock_text = synthetic_adblock(27_000, rng)
    domains_text = "\n".join(f"t{i}.customer{i % 5000}.example" for i in range(50_000)) + "\n"
    print(f"\n== tracker lists (adblock {adblock.__version__}) ==")
    sys.path.insert(0, str(ROOT / "tests" / "dns"))
    from conftest import ListServer, Route

    with tempfile.TemporaryDirectory() as tmp:
        server = ListServer().start()
        try:
            server.routes["/a.txt"] = Route(adblock_text.encode())
            server.routes["/d.txt"] = Route(domains_text.encode())
            registry = [
                ListSource("synthetic_adblock", server.url("/a.txt"), "adblock", min_rules=1),
                ListSource("synthetic_domains", server.url("/d.txt"), "domains", min_rules=1),
            ]
            start = time.perf_counter()
            update_lists(registry, data_dir=tmp)
            update_ms = (time.perf_counter() - start) * 1000
        finally:
            server.stop()
        cache_dir = Path(tmp) / "cache"
        cold = load_matcher(data_dir=tmp, cache_dir=cache_dir, registry=registry)
        start = time.perf_counter()
        warm = load_matcher(data_dir=tmp, cache_dir=cache_dir, registry=registry)
        warm_total = (time.perf_counter() - start) * 1000
        assert cold is not None and warm is not None
        from pixelwarden import lists as lists_module

        folder = Path(tmp) / "lists"
        sidecar = lists_module._read_sidecar(folder, "synthetic_domains")
        assert sidecar is not None
        start = time.perf_counter()
        lists_module._load_domains(folder, sidecar)
        domains_s = time.perf_counter() - start
        sizes = {p.name.split("-")[0]: p.stat().st_size for p in cache_dir.rglob("*.bin")}
        size_text = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sorted(sizes.items()))
        print(f"update (download from loopback, validate, store) of both lists: {update_ms:.0f} ms")
        print(
            f"adblock engine (27k rules): build {cold.build_seconds * 1000:.0f} ms vs "
            f"deserialise from cache ~{(warm.load_seconds - domains_s) * 1000:.0f} ms; "
            f"serialised {size_text}"
        )
        print(
            f"domains list (50k names) as a name set: {domains_s * 1000:.0f} ms to load "
            f"(read, sha256 check, split); load_matcher total, warm: {warm_total:.0f} ms"
        )
        urls = [
            f"https://{w}.example/{p}"
            for w, p in zip(
                ("news", "img", "t3.customer3", "cdn", "click", "www") * 50,
                ("o.gif?u=1", "a/b.png", "open", "x.css", "pixel9.gif?", "logo.png") * 50,
                strict=True,
            )
        ]
        start = time.perf_counter()
        for _ in range(5):
            for url in urls:
                warm.match(url, "shop.example")
        per_url = (time.perf_counter() - start) / (5 * len(urls)) * 1e6
        print(f"match: {per_url:.1f} µs per URL over {len(urls)} URLs (both lists)")
        print(f"CNAME-target names from the domains list: {len(warm.extra_cname_targets())}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(ROOT / ".." / "shared" / "corpus"))
    parser.add_argument("--budget", type=float, default=0.25)
    args = parser.parse_args()
    os.environ.setdefault("PIXELWARDEN_CACHE_DIR", tempfile.mkdtemp(prefix="pw-bench-cache-"))

    corpus = Path(args.corpus)
    if corpus.is_dir():
        try:
            pending = corpus_pending(corpus)
        except Exception as error:  # noqa: BLE001 - report and go on with the synthetic set
            print(f"the engine could not read the corpus ({error!r}): synthetic messages only")
        else:
            bench_dns(pending, f"shared corpus {corpus.resolve()}", args.budget)
    else:
        print(f"shared corpus not found at {corpus}: synthetic messages only")
    bench_dns(synthetic_pending(), "synthetic mailbox (60 senders)", args.budget)
    bench_lists()
    return 0


if __name__ == "__main__":
    sys.exit(main())
