"""Fixtures for the DNS and list-update tests: a DNS server and an HTTP server, both on loopback."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakedns import FakeDNS, Zone

#: Hosts and chains of the mailing-service families the issue names, plus the awkward cases.
LONG_HOPS = 9  # one more than uncloak.MAX_HOPS


def standard_zone() -> Zone:
    zone = Zone()
    # Mailing services on a customer's subdomain.
    zone.cname("email.shop.example", "u1234567.wl068.sendgrid.net", ttl=300)
    zone.cname("u1234567.wl068.sendgrid.net", "sendgrid.net", ttl=600)
    zone.exists.add("sendgrid.net")
    zone.cname("mg.shop.example", "mailgun.org", ttl=120)
    zone.exists.add("mailgun.org")
    zone.cname("click.e.bank.example", "x.exacttarget.com", ttl=3600)
    zone.exists.add("x.exacttarget.com")
    # A CDN alias of the sender's own images.
    zone.cname("images.shop.example", "d123.cloudfront.net", ttl=60)
    zone.exists.add("d123.cloudfront.net")
    # Plain first-party host, no alias.
    zone.exists.add("www.shop.example")
    # A loop, a chain of exactly 8 hops, and one of LONG_HOPS hops.
    zone.cname("a.loop.example", "b.loop.example")
    zone.cname("b.loop.example", "a.loop.example")
    for i in range(8):
        zone.cname(f"h{i}.eight.example", f"h{i + 1}.eight.example")
    zone.exists.add("h8.eight.example")
    for i in range(LONG_HOPS):
        zone.cname(f"h{i}.long.example", f"h{i + 1}.long.example")
    zone.exists.add(f"h{LONG_HOPS}.long.example")
    # The same, on a sender's own subdomains.
    zone.cname("ring.shop.example", "ring2.shop.example")
    zone.cname("ring2.shop.example", "ring.shop.example")
    zone.cname("deep.shop.example", "h0.long.example")
    # Failures and slowness.
    zone.servfail.add("broken.shop.example")
    zone.cname("slow.shop.example", "mailgun.org", ttl=300)
    zone.delays["slow.shop.example"] = 0.8
    zone.cname("dangling.shop.example", "gone.example")
    # An internationalised name (bücher.shop.example).
    zone.cname("xn--bcher-kva.shop.example", "sendgrid.net")
    return zone


@pytest.fixture
def zone() -> Zone:
    return standard_zone()


@pytest.fixture
def dns_server(zone: Zone) -> Iterator[FakeDNS]:
    with FakeDNS(zone) as server:
        yield server


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache folder: nothing touches the user's real one."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("PIXELWARDEN_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("PIXELWARDEN_DATA_DIR", str(folder))
    return folder


# -- HTTP -------------------------------------------------------------------------------------


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    delay: float = 0.0  # seconds before the body starts
    drip: float = 0.0  # seconds between 1 KiB chunks
    truncate_to: int | None = None  # announce the full length, send only this many bytes
    headers: dict[str, str] = field(default_factory=dict)


class ListServer:
    """An HTTP server on 127.0.0.1 serving ``routes`` (path -> Route); it logs request paths."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers.items())))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.delay:
                    time.sleep(route.delay)
                etag = route.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                body = route.body if route.truncate_to is None else route.body[: route.truncate_to]
                try:
                    for start in range(0, len(body), 1024):
                        self.wfile.write(body[start : start + 1024])
                        if route.drip:
                            self.wfile.flush()
                            time.sleep(route.drip)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if route.truncate_to is not None:
                    self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            daemon=True,
        )

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> ListServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def http_server() -> Iterator[ListServer]:
    server = ListServer().start()
    try:
        yield server
    finally:
        server.stop()
