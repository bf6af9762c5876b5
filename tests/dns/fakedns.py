"""A real DNS server on loopback for tests and benchmarks, written with dnslib.

It answers from a small in-memory zone: CNAME records (with TTLs), names that exist without an
alias, SERVFAIL names, and names whose answer is delayed. Everything else is NXDOMAIN. Every query
is logged so tests can check what the resolver was (or was not) told.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from dnslib import CNAME, QTYPE, RCODE, RR, SOA, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

#: Negative-caching TTL announced in the SOA of NXDOMAIN / no-data replies.
SOA_MINIMUM = 60


def _norm(name: str) -> str:
    return name.rstrip(".").lower()


@dataclass
class Zone:
    cnames: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (target, ttl)
    exists: set[str] = field(default_factory=set)  # NOERROR, no CNAME
    servfail: set[str] = field(default_factory=set)
    delays: dict[str, float] = field(default_factory=dict)  # name -> seconds before answering
    # Optional rule for names not listed: name -> (target, ttl) | "exists" | None (NXDOMAIN)
    fallback: Callable[[str], tuple[str, int] | str | None] | None = None

    def cname(self, name: str, target: str, ttl: int = 300) -> None:
        self.cnames[_norm(name)] = (_norm(target), ttl)


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        qname = _norm(str(request.q.qname))
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((qname, qtype))
        delay = self.zone.delays.get(qname)
        if delay:
            time.sleep(delay)
        reply = request.reply()
        if qname in self.zone.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        rule: tuple[str, int] | str | None = self.zone.cnames.get(qname)
        if rule is None and qname in self.zone.exists:
            rule = "exists"
        if rule is None and self.zone.fallback is not None:
            rule = self.zone.fallback(qname)
        if isinstance(rule, tuple):
            target, ttl = rule
            reply.add_answer(RR(qname + ".", QTYPE.CNAME, rdata=CNAME(target + "."), ttl=ttl))
            return reply
        apex = ".".join(qname.split(".")[-2:]) + "."
        soa = SOA("ns." + apex, "hostmaster." + apex, (1, 3600, 600, 86400, SOA_MINIMUM))
        reply.add_auth(RR(apex, QTYPE.SOA, rdata=soa, ttl=SOA_MINIMUM))
        if rule != "exists":
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class _QuietLogger(DNSLogger):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(log="-recv,-send,-request,-reply,-truncated,-error,-data", prefix=False)

    def log_error(self, handler: object, e: object) -> None:
        pass


class FakeDNS:
    """``with FakeDNS(zone) as dns: ...`` serves ``zone`` on 127.0.0.1:``dns.port`` (UDP)."""

    def __init__(self, zone: Zone | None = None) -> None:
        self.zone = zone or Zone()
        self._resolver = _ZoneResolver(self.zone)
        self._server = DNSServer(self._resolver, address="127.0.0.1", port=0, logger=_QuietLogger())
        # A slow answer may outlive the server's socket at teardown: nothing to report then.
        self._server.server.handle_error = lambda request, client_address: None
        self.port: int = self._server.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"

    @property
    def queries(self) -> list[tuple[str, str]]:
        with self._resolver.lock:
            return list(self._resolver.queries)

    def asked(self, name: str) -> int:
        return sum(1 for q, _ in self.queries if q == _norm(name))

    def start(self) -> Self:
        # A short poll interval keeps shutdown (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=self._server.server.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._server.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
