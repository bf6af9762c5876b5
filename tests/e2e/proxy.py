"""The whole "internet" of the end-to-end run: a logging HTTP(S) proxy that never forwards.

Thunderbird is pointed at this proxy for http and https. Every request it attempts lands here and
is logged with its full URL: plain requests arrive in absolute form, https ones as ``CONNECT``
followed by TLS that this proxy terminates with a per-host certificate from the run's throw-away
CA (``testca.TestCA``), so the log tells a pixel from a logo on the same host. Nothing is ever
forwarded; every request is answered locally with a small valid image, font or stylesheet.

Markers: the add-on's test driver fetches ``http://marker.pixelwarden.test/<what>`` around each
message (``begin/<n>``, ``end/<n>``) and before screenshots. They land in the same log, which is how
requests are attributed to messages. The harness may hook a marker (``on_marker``): the proxy calls
the hook *before* answering, so the driver waits while the harness kills the host or takes a
screenshot.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import socketserver
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from testca import TestCA

MARKER_HOST = "marker.pixelwarden.test"

# A 1x1 transparent GIF: the classic open-pixel answer.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
STYLESHEET = b"/* pixelwarden e2e stylesheet */\n.pw-e2e-linked { color: #1f5f99; }\n"
# Not a usable font: Thunderbird only has to request it for the log to prove what loaded.
FONT = b"wOF2" + bytes(60)

_SIZE = re.compile(r"(\d{1,4})x(\d{1,4})")
_COLOUR = re.compile(r"(?:^|[-_/])([0-9a-fA-F]{6})(?=[-_./]|$)")
_MAX_SIDE = 1200


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour truecolour PNG."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


def answer_for(path: str, accept: str) -> tuple[str, bytes]:
    """Content type and body for a request, chosen by the path's extension, then by Accept.

    Image paths may carry a size and a colour (``/banner-600x120-2b6cb0.png``) so that the demo and
    the screenshots show something; otherwise a 1x1 GIF or a 48x48 grey PNG.
    """
    lower = path.lower().split("?", 1)[0]
    if lower.endswith(".css") or accept.startswith("text/css"):
        return "text/css", STYLESHEET
    if lower.endswith((".woff2", ".woff", ".ttf", ".otf")) or accept.startswith(
        ("font/", "application/font")
    ):
        return "font/woff2", FONT
    if lower.endswith(".gif"):
        return "image/gif", PIXEL_GIF
    width = height = 48
    size = _SIZE.search(lower)
    if size:
        width = max(1, min(_MAX_SIDE, int(size.group(1))))
        height = max(1, min(_MAX_SIDE, int(size.group(2))))
    colour = _COLOUR.search(lower)
    hex_rgb = colour.group(1) if colour else "9aa5b1"
    rgb = (int(hex_rgb[0:2], 16), int(hex_rgb[2:4], 16), int(hex_rgb[4:6], 16))
    return "image/png", png(width, height, rgb)


@dataclass
class Entry:
    """One request that reached the proxy."""

    seq: int
    time: float
    method: str
    url: str
    host: str
    marker: str | None = None  # "begin/3", "end/3", ... for the test driver's markers
    headers: dict[str, str] = field(default_factory=dict)  # the few that matter for privacy

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "time": round(self.time, 3),
            "method": self.method,
            "host": self.host,
            "url": self.url,
            "marker": self.marker,
            "headers": self.headers,
        }


MarkerHook = Callable[[str], None]
_LOGGED_HEADERS = ("cookie", "referer", "origin", "accept", "user-agent", "range")


class LoggingProxy:
    """Logs and answers every request; forwards nothing. Runs in background threads."""

    def __init__(
        self,
        ca: TestCA,
        log_path: Path | None = None,
        port: int = 0,
        web_root: Path | None = None,
    ) -> None:
        self.ca = ca
        self.web_root = web_root
        self.log_path = log_path
        self.on_marker: MarkerHook | None = None
        self._entries: list[Entry] = []
        self._lock = threading.Lock()
        self._log_file = log_path.open("a", encoding="utf-8") if log_path else None
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 60

            def handle(self) -> None:
                # A client that hangs up or fails the TLS handshake ends its own connection only.
                with contextlib.suppress(OSError, ssl.SSLError, ValueError):
                    proxy._serve(self.connection, self.rfile, tunnel=None)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", port), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LoggingProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def entries(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def wait_for_marker(self, marker: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.marker == marker for e in self.entries()):
                return True
            time.sleep(0.05)
        return False

    # -- internals -----------------------------------------------------------------------------

    def _record(
        self,
        method: str,
        url: str,
        host: str,
        headers: dict[str, str],
        marker: str | None,
    ) -> Entry:
        with self._lock:
            entry = Entry(len(self._entries), time.time(), method, url, host, marker, headers)
            self._entries.append(entry)
            if self._log_file:
                self._log_file.write(json.dumps(entry.to_json()) + "\n")
                self._log_file.flush()
        return entry

    def _serve(self, conn: socket.socket, rfile, tunnel: tuple[str, int] | None) -> None:  # type: ignore[no-untyped-def]
        while True:
            request = _read_request(rfile)
            if request is None:
                return
            method, target, headers = request
            if method == "CONNECT" and tunnel is None:
                host, _, port_text = target.rpartition(":")
                host = host.strip("[]").lower()
                port = int(port_text) if port_text.isdigit() else 443
                # Logged now: even if no request follows, the host was contacted.
                self._record("CONNECT", f"{host}:{port}", host, _pick(headers), None)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                tls = self.ca.server_context(host).wrap_socket(conn, server_side=True)
                self._serve(tls, tls.makefile("rb"), tunnel=(host, port))
                return
            url, host = _absolute_url(target, headers, tunnel)
            marker = None
            if host == MARKER_HOST:
                marker = urlsplit(url).path.strip("/") or "-"
            self._record(method, url, host, _pick(headers), marker)
            if marker is not None and self.on_marker is not None:
                try:
                    self.on_marker(marker)
                except Exception as error:  # noqa: BLE001 - a failing hook must not wedge the driver
                    print(
                        f"e2e proxy: marker hook failed on {marker}: {error!r}",
                        flush=True,
                    )
            keep_alive = headers.get("connection", "").lower() != "close"
            self._respond(conn, method, url, headers, marker, keep_alive)
            if not keep_alive:
                return

    def _web_file(self, host: str, path: str) -> tuple[str, bytes] | None:
        """A file of the fake web (``web_root/<host>/<path>``), for content that must say
        something, such as a stylesheet with its own ``url()`` references."""
        if self.web_root is None or not host:
            return None
        candidate = (self.web_root / host.lower() / path.lstrip("/")).resolve()
        if self.web_root.resolve() not in candidate.parents or not candidate.is_file():
            return None
        types = {".css": "text/css", ".png": "image/png", ".gif": "image/gif"}
        return types.get(candidate.suffix, "application/octet-stream"), candidate.read_bytes()

    def _respond(
        self,
        conn: socket.socket,
        method: str,
        url: str,
        headers: dict[str, str],
        marker: str | None,
        keep_alive: bool,
    ) -> None:
        parts = urlsplit(url)
        if marker is not None:
            content_type, body = "text/plain", b"ok\n"
        else:
            content_type, body = self._web_file(parts.hostname or "", parts.path) or answer_for(
                parts.path, headers.get("accept", "")
            )
        lines = [
            "HTTP/1.1 200 OK",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            "Access-Control-Allow-Origin: *",
            # A cookie on every answer: a later request that carries it proves credentials leaked.
            "Set-Cookie: pw_e2e=seen; Path=/; SameSite=None"
            + ("; Secure" if parts.scheme == "https" else ""),
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
        if method != "HEAD":
            payload += body
        conn.sendall(payload)


def _pick(headers: dict[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in _LOGGED_HEADERS if name in headers}


def _read_request(rfile) -> tuple[str, str, dict[str, str]] | None:  # type: ignore[no-untyped-def]
    line = rfile.readline(65537)
    while line in (b"\r\n", b"\n"):
        line = rfile.readline(65537)
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) < 2:
        return None
    method, target = parts[0].upper(), parts[1]
    headers: dict[str, str] = {}
    while True:
        raw = rfile.readline(65537)
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        rfile.read(length)
    return method, target, headers


def _absolute_url(
    target: str, headers: dict[str, str], tunnel: tuple[str, int] | None
) -> tuple[str, str]:
    if tunnel is not None:
        host, port = tunnel
        authority = host if port == 443 else f"{host}:{port}"
        return f"https://{authority}{target}", host
    if "://" in target:  # absolute form: a proxied plain-http request
        parts = urlsplit(target)
        return target, (parts.hostname or "").lower()
    host_header = headers.get("host", "")
    return f"http://{host_header}{target}", host_header.split(":")[0].lower()
