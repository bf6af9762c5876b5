"""The DNS server the host resolves through during an end-to-end run (dnslib, loopback only).

The zone maps names to CNAME targets (``{"email.shop.example": "u7.wl.sendgrid.net"}``); every
other name answers an A record 127.0.0.1 (and AAAA ::1): the proxy handles everything anyway, and
nothing outside the private network namespace exists. Every question is logged, so the run can show
which names the host looked up.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from dnslib import AAAA, CNAME, QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

_TTL = 60
_MAX_CHAIN = 8


def load_zone(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: a zone is a JSON object mapping names to CNAME targets")
    return {_norm(k): _norm(v) for k, v in data.items()}


def _norm(name: str) -> str:
    return name.strip().lower().rstrip(".")


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: dict[str, str]) -> None:
        self.zone = zone
        self.delay = 0.0  # seconds before each answer: a slow resolver (late DNS decisions)
        self.queries: list[tuple[str, str]] = []
        self.answered: dict[str, float] = {}  # name -> when it was first answered (epoch)
        self._lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        name = _norm(str(request.q.qname))
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            self.queries.append((name, qtype))
        if self.delay:
            time.sleep(self.delay)  # one thread per question: others are not held up
        with self._lock:
            self.answered.setdefault(name, time.time())
        # Follow the zone's CNAMEs the way a recursive resolver would: the whole chain, then
        # the address of the last name.
        seen: set[str] = set()
        while name in self.zone and name not in seen and len(seen) < _MAX_CHAIN:
            seen.add(name)
            target = self.zone[name]
            reply.add_answer(RR(name + ".", QTYPE.CNAME, rdata=CNAME(target + "."), ttl=_TTL))
            if qtype == "CNAME":
                return reply
            name = target
        if qtype in ("A", "ANY"):
            reply.add_answer(RR(name + ".", QTYPE.A, rdata=A("127.0.0.1"), ttl=_TTL))
        elif qtype == "AAAA":
            reply.add_answer(RR(name + ".", QTYPE.AAAA, rdata=AAAA("::1"), ttl=_TTL))
        return reply


class ZoneDNSServer:
    """UDP and TCP on 127.0.0.1:``port`` (53 inside the namespace)."""

    def __init__(self, zone: dict[str, str], port: int = 53, address: str = "127.0.0.1") -> None:
        self.resolver = ZoneResolver(zone)
        self.address = address
        self.port = port
        self._servers = [
            DNSServer(self.resolver, port=port, address=address, tcp=tcp, logger=_Quiet())
            for tcp in (False, True)
        ]

    def start(self) -> ZoneDNSServer:
        for server in self._servers:
            server.start_thread()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()

    @property
    def queries(self) -> list[tuple[str, str]]:
        with self.resolver._lock:
            return list(self.resolver.queries)


class _Quiet:
    """dnslib logs every packet to stdout by default; the resolver keeps its own log."""

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return lambda *args, **kwargs: None
