"""CNAME uncloaking, the DNS edge: follow each first-party host's alias chain, hop by hop.

The engine (`decide.classify`) lists in ``Verdict.dns_pending`` the sender's own hosts that would
load; this module asks DNS about them and hands back a `CnameAnswer` per host, which the caller
passes to the engine again (``Knowledge.dns``). The judging of the hops (tracker, CDN, cloaked
third party) is the engine's; here is only the I/O, under three constraints:

* **Privacy** (see docs/dns.md): a look-up tells the resolver the sender's host names. We look up
  only what the engine says would load, never names whose labels look per-recipient (a token in
  a DNS label would tell the resolver's operator *who* opened the mail), and at most ``limit``
  names per message. Those not looked up get status ``"skipped"`` with the reason as the only
  item of ``chain`` (``token_label``, ``single_label``, ``invalid_name``, ``limit``); the engine
  keeps them blocked (``dns_skipped:<reason>``).
* **Speed**: look-ups run concurrently under a per-call budget; what has not answered by then is
  ``"pending"`` (blocked until a late answer arrives through `resolve_all`). Answers are cached
  with their TTL (`dnscache.DnsCache`).
* **Start-up**: ``dns.asyncresolver`` costs ~150 ms to import, so it is imported on the first
  look-up that misses the cache, never at ``import pixelwarden``.

Statuses (`CnameAnswer.status`): ``ok`` (``chain`` = every alias after the name itself, empty when
the name has no CNAME or does not exist), ``pending``, ``skipped`` (``chain`` = (reason,)), and the
failures ``servfail``,
``timeout``, ``loop``, ``too_long`` (more than `MAX_HOPS` aliases) and ``error``.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import ipaddress
import re
import sys
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .dnscache import DnsCache
from .model import CnameAnswer, PixelWardenError

if TYPE_CHECKING:
    import dns.asyncresolver

MAX_HOPS = 8
DEFAULT_LIMIT = 8
DEFAULT_BUDGET = 0.25
#: One query's own time limit (``resolver.lifetime``); the per-message budget is usually shorter.
QUERY_TIMEOUT = 2.0
#: Cache time for "this name has no alias / does not exist" when the SOA gives no negative TTL.
NEGATIVE_TTL = 300.0

# Per-recipient labels: a long mix of letters and digits, long hex, or a UUID.
_HEX = re.compile(r"^[0-9a-f]{16,}$")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_DIGITS = re.compile(r"^[0-9]{10,}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def token_label(label: str) -> bool:
    """Does this DNS label look like a per-recipient token rather than a name a person chose?"""
    label = label.lower()
    if _HEX.match(label) or _UUID.match(label) or _DIGITS.match(label):
        return True
    if len(label) >= 20:
        has_digit = any(c.isdigit() for c in label)
        has_alpha = any(c.isalpha() for c in label)
        if has_digit and has_alpha:
            return True
    return False


def to_ascii(host: str) -> str | None:
    """The name as DNS sees it (IDNA, UTS #46 non-transitional like Firefox), or None if invalid."""
    host = host.strip().rstrip(".").lower()
    if not host.isascii():
        try:
            import idna

            host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (ImportError, UnicodeError, ValueError):
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                return None
    if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
        return None
    return host


def skip_reason(host: str) -> str | None:
    """Why ``host`` must not be looked up (``invalid_name``, ``single_label``, ``token_label``).

    None when it may be. IP addresses are not looked up either, but have an answer (no alias).
    """
    name = to_ascii(host)
    if name is None:
        return "invalid_name"
    if "." not in name:
        # A single label would be completed with the local search domains by many resolvers.
        return "single_label"
    if any(token_label(label) for label in name.split(".")):
        return "token_label"
    return None


def hosts_worth_resolving(
    hosts: Iterable[str], limit: int = DEFAULT_LIMIT
) -> tuple[list[str], dict[str, str]]:
    """Split one message's hosts into those to look up (at most ``limit``, first seen first) and
    those skipped, with the reason (``token_label``, ``single_label``, ``invalid_name``, ``limit``).
    """
    chosen: list[str] = []
    skipped: dict[str, str] = {}
    for host in dict.fromkeys(hosts):
        if _is_ip(host):
            continue
        reason = skip_reason(host)
        if reason is None and len(chosen) >= limit:
            reason = "limit"
        if reason is None:
            chosen.append(host)
        else:
            skipped[host] = reason
    return chosen, skipped


def parse_resolver(spec: str) -> tuple[str, int]:
    """``"HOST:PORT"``, ``"HOST"``, ``"[V6]:PORT"`` or a bare IPv6 address → (address, port).

    HOST must be an IP address: resolving the resolver's own name would itself leak.
    """
    text = spec.strip()
    port = 53
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise PixelWardenError("invalid_resolver", f"unterminated [ in resolver {spec!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise PixelWardenError("invalid_resolver", f"bad resolver {spec!r}")
            port = _port(rest[1:], spec)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, spec)
    else:
        host = text
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise PixelWardenError(
            "invalid_resolver", f"resolver must be an IP address with an optional port: {spec!r}"
        ) from None
    return host, port


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise PixelWardenError("invalid_resolver", f"bad port in resolver {spec!r}")
    return int(text)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


_RESOLVER_MODULE = "dns.asyncresolver"


def preload() -> None:
    """Import dnspython in a background thread (the native host may call this at start-up)."""
    if _RESOLVER_MODULE not in sys.modules:
        threading.Thread(
            target=importlib.import_module, args=(_RESOLVER_MODULE,), daemon=True
        ).start()


class Uncloaker:
    """Resolves CNAME chains for the engine, with a cache, a privacy filter and a time budget.

    ``resolver`` is ``None`` (or empty) for the system's resolver, or ``"HOST:PORT"``. ``cache`` is
    the shared on-disk `DnsCache` by default (``True``), a given one, or ``None``/``False`` for
    none. One instance lives as long as the CLI run or the native host; `close` persists the cache
    (it is also saved every few seconds while resolving, and at interpreter exit).
    """

    def __init__(
        self,
        resolver: str | None = None,
        *,
        cache: DnsCache | bool | None = True,
        limit: int = DEFAULT_LIMIT,
        max_hops: int = MAX_HOPS,
        query_timeout: float = QUERY_TIMEOUT,
    ) -> None:
        self.server = parse_resolver(resolver) if resolver else None
        if cache is True:
            # The shared on-disk cache; saved every few seconds while resolving and at exit.
            cache = DnsCache()
            atexit.register(cache.save)
        self.cache: DnsCache | None = cache if isinstance(cache, DnsCache) else None
        self.limit = limit
        self.max_hops = max_hops
        self.query_timeout = query_timeout
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._resolver_error: str | None = None
        # Look-ups in flight, shared between messages that name the same host.
        self._inflight: dict[str, asyncio.Task[tuple[CnameAnswer, float]]] = {}
        self.queries = 0  # DNS queries sent (one per hop), for benchmarks and tests

    # -- public API ------------------------------------------------------------------------------

    async def resolve(
        self,
        hosts: Iterable[str],
        budget: float = DEFAULT_BUDGET,
        *,
        keep_pending: bool = False,
    ) -> dict[str, CnameAnswer]:
        """Answers for one message's hosts within ``budget`` seconds, in the order given.

        Hosts not answered in time are ``"pending"``. With ``keep_pending`` their look-ups go on
        in the background, for a later `resolve_all` to collect (the native host's late updates);
        otherwise they are cancelled (the CLI, which moves on to the next message).
        """
        hosts = list(dict.fromkeys(hosts))
        answers, wanted = self._prepare(hosts)
        return await self._ask(hosts, answers, wanted, budget, keep_pending=keep_pending)

    async def resolve_all(
        self, hosts: Iterable[str], timeout: float = 5.0
    ) -> dict[str, CnameAnswer]:
        """Finish every look-up for ``hosts`` (joining those still in flight).

        Whatever has no answer after ``timeout`` seconds is a ``"timeout"`` failure: the caller
        must be told something final, and fail closed.
        """
        hosts = list(dict.fromkeys(hosts))
        answers, wanted = self._prepare(hosts)
        return await self._ask(hosts, answers, wanted, timeout, keep_pending=False, final=True)

    def resolve_sync(
        self, hosts: Iterable[str], budget: float = DEFAULT_BUDGET
    ) -> dict[str, CnameAnswer]:
        """`resolve` for synchronous callers (``pixelwarden scan``): one message, one budget."""
        hosts = list(dict.fromkeys(hosts))
        answers, wanted = self._prepare(hosts)
        if not wanted:  # all from the cache or skipped: no event loop, no dnspython import
            return {host: answers[host] for host in hosts}
        return asyncio.run(self._ask(hosts, answers, wanted, budget, keep_pending=False))

    def close(self) -> None:
        """Cancel what is still in flight and persist the cache."""
        for task in self._inflight.values():
            task.cancel()
        self._inflight.clear()
        if self.cache is not None:
            self.cache.save()

    # -- internals -------------------------------------------------------------------------------

    def _prepare(self, hosts: list[str]) -> tuple[dict[str, CnameAnswer], list[str]]:
        """Answers known without asking (IPs, cache, skipped names) and the names to ask about."""
        answers: dict[str, CnameAnswer] = {}
        fresh: list[str] = []
        for host in hosts:
            if _is_ip(host):
                answers[host] = CnameAnswer("ok")  # an address has no alias
                continue
            cached = self.cache.get(self._key(host)) if self.cache is not None else None
            if cached is not None:
                answers[host] = cached
            else:
                fresh.append(host)
        # The limit bounds what the resolver learns per message: cached names reveal nothing new,
        # so they do not count against it.
        chosen, skipped = hosts_worth_resolving(fresh, self.limit)
        for host, reason in skipped.items():
            answers[host] = CnameAnswer("skipped", (reason,))
        return answers, chosen

    async def _ask(
        self,
        hosts: list[str],
        answers: dict[str, CnameAnswer],
        wanted: list[str],
        wait: float,
        *,
        keep_pending: bool,
        final: bool = False,
    ) -> dict[str, CnameAnswer]:
        """Look ``wanted`` up, wait at most ``wait`` seconds, and answer for every host."""
        if wanted:
            tasks = {host: self._start(host) for host in wanted}
            await asyncio.wait(set(tasks.values()), timeout=max(wait, 0.0))
            for host, task in tasks.items():
                if task.done():
                    answers[host] = self._collect(task)
                    continue
                if final or not keep_pending:
                    task.cancel()
                    self._inflight.pop(self._key(host), None)
                if final:
                    answers[host] = CnameAnswer("timeout")
                    if self.cache is not None:
                        self.cache.put(self._key(host), answers[host])
                else:
                    answers[host] = CnameAnswer("pending")
        if self.cache is not None:
            self.cache.save_if_due()
        return {host: answers[host] for host in hosts}

    @staticmethod
    def _key(host: str) -> str:
        return to_ascii(host) or host

    def _start(self, host: str) -> asyncio.Task[tuple[CnameAnswer, float]]:
        key = self._key(host)
        task = self._inflight.get(key)
        loop = asyncio.get_running_loop()
        if task is None or task.get_loop() is not loop or task.done():
            task = loop.create_task(self._chain(key))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return task

    def _finished(self, key: str, task: asyncio.Task[tuple[CnameAnswer, float]]) -> None:
        """Every look-up that ends, even one nobody waits for any more, feeds the cache."""
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if task.cancelled() or task.exception() is not None:
            return
        answer, ttl = task.result()
        if self.cache is not None:
            self.cache.put(key, answer, ttl)

    @staticmethod
    def _collect(task: asyncio.Task[tuple[CnameAnswer, float]]) -> CnameAnswer:
        if task.cancelled():
            return CnameAnswer("timeout")
        if task.exception() is not None:
            return CnameAnswer("error")
        return task.result()[0]

    def _get_resolver(self) -> dns.asyncresolver.Resolver | None:
        if self._resolver is not None or self._resolver_error is not None:
            return self._resolver
        import dns.asyncresolver
        import dns.resolver

        try:
            if self.server is None:
                resolver = dns.asyncresolver.Resolver()
            else:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [self.server[0]]
                resolver.port = self.server[1]
        except dns.resolver.NoResolverConfiguration as error:
            self._resolver_error = str(error) or "no resolver configured"
            return None
        resolver.timeout = self.query_timeout
        resolver.lifetime = self.query_timeout
        resolver.cache = None  # our own cache keeps whole chains, across processes
        self._resolver = resolver
        return resolver

    async def _chain(self, host: str) -> tuple[CnameAnswer, float]:
        """Follow ``host``'s aliases one query at a time; (answer, seconds it may be cached)."""
        if _RESOLVER_MODULE not in sys.modules:
            # The first look-up of the process imports dnspython (~150 ms) in a thread, so that
            # the event loop, and with it the per-message budget, is never held up by it.
            await asyncio.to_thread(importlib.import_module, _RESOLVER_MODULE)
        resolver = self._get_resolver()
        if resolver is None:
            return CnameAnswer("error"), 0.0
        import dns.exception
        import dns.name
        import dns.resolver

        chain: list[str] = []
        seen = {host}
        ttl = float("inf")
        name = host
        while True:
            self.queries += 1
            try:
                answer = await resolver.resolve(
                    dns.name.from_text(name), "CNAME", search=False, raise_on_no_answer=True
                )
            except dns.resolver.NXDOMAIN as error:
                # The name (or the alias target) does not exist: nothing would load from it.
                return CnameAnswer("ok", tuple(chain)), min(ttl, _negative_ttl(error))
            except dns.resolver.NoAnswer as error:
                return CnameAnswer("ok", tuple(chain)), min(ttl, _negative_ttl(error))
            except dns.resolver.NoNameservers:
                # dnspython's way of saying every server answered SERVFAIL (or REFUSED).
                return CnameAnswer("servfail", tuple(chain)), 0.0
            except dns.exception.Timeout:
                return CnameAnswer("timeout", tuple(chain)), 0.0
            except (dns.exception.DNSException, OSError, ValueError):
                return CnameAnswer("error", tuple(chain)), 0.0
            rrset = answer.rrset
            if rrset is None or len(rrset) == 0:
                return CnameAnswer("ok", tuple(chain)), min(ttl, NEGATIVE_TTL)
            target = rrset[0].target.to_text(omit_final_dot=True).lower()
            ttl = min(ttl, float(rrset.ttl))
            chain.append(target)
            if target in seen:
                return CnameAnswer("loop", tuple(chain)), 0.0
            if len(chain) > self.max_hops:
                return CnameAnswer("too_long", tuple(chain)), 0.0
            seen.add(target)
            name = target


def _negative_ttl(error: Any) -> float:
    """The negative-caching TTL of a NoAnswer/NXDOMAIN reply: SOA minimum, else NEGATIVE_TTL."""
    responses: list[Any] = []
    try:
        if hasattr(error, "responses"):
            responses = [r for r in error.responses().values() if r is not None]
        else:
            response = error.kwargs.get("response")
            if response is not None:
                responses = [response]
    except (AttributeError, KeyError, TypeError):
        return NEGATIVE_TTL
    ttls = [
        float(min(rrset.ttl, rrset[0].minimum))
        for response in responses
        for rrset in response.authority
        if len(rrset) and hasattr(rrset[0], "minimum")
    ]
    return min(ttls) if ttls else NEGATIVE_TTL
