"""The real host process on a pipe, for the host tests and the benchmark (bench/bench_host.py)."""

from __future__ import annotations

import json
import os
import queue
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
HOST_COMMAND = [PYTHON, "-m", "pixelwarden.host"]
KNOWN_ERROR_CODES = {
    "frame_too_large",
    "truncated_frame",
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "invalid_field",
    "unknown_type",
    "unknown_request",
    "invalid_settings",
    "too_large",
    "unreadable",
    "not_a_message",
    "reply_too_large",
    "engine_unavailable",
}


def frame(obj: Any) -> bytes:
    payload = obj if isinstance(obj, bytes) else json.dumps(obj).encode("utf-8")
    return struct.pack("=I", len(payload)) + payload


def parse_frames(data: bytes) -> list[dict[str, Any]]:
    """Every frame of a host's stdout; fails if anything but whole frames is there."""
    replies = []
    while data:
        assert len(data) >= 4, f"stray bytes on stdout: {data!r}"
        (length,) = struct.unpack("=I", data[:4])
        assert len(data) >= 4 + length, "a reply frame is cut short"
        replies.append(json.loads(data[4 : 4 + length].decode("utf-8")))
        data = data[4 + length :]
    return replies


def make_host_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a host process: its own data, log and cache folders, and HOME."""
    env = dict(os.environ)
    for name in ("DATA", "LOG", "CACHE"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        env[f"PIXELWARDEN_{name}_DIR"] = str(folder)
    env["HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    return env


class Host:
    """The real host process, driven through its pipes with framed bytes."""

    def __init__(self, env: dict[str, str], command: list[str] | None = None) -> None:
        self.process = subprocess.Popen(
            command or HOST_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.stray = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr = b""
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        out = self.process.stdout
        assert out is not None
        while True:
            header = out.read(4)
            if len(header) < 4:
                self.stray += header
                break
            (length,) = struct.unpack("=I", header)
            payload = out.read(length)
            if len(payload) < length:
                self.stray += header + payload
                break
            self.replies.put(json.loads(payload.decode("utf-8")))
        self.replies.put(None)

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        self._stderr = self.process.stderr.read()

    def send_bytes(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, obj: Any) -> None:
        self.send_bytes(frame(obj))

    def reply(self, timeout: float = 20.0) -> dict[str, Any]:
        item = self.replies.get(timeout=timeout)
        assert item is not None, f"the host closed its output; stderr: {self._stderr[-2000:]!r}"
        return item

    def request(self, obj: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
        self.send(obj)
        reply = self.reply(timeout)
        assert reply["id"] == obj.get("id"), reply
        return reply

    def close(self, timeout: float = 30.0) -> int:
        """Close stdin (Thunderbird closing the port) and return the exit status."""
        assert self.process.stdin is not None
        if not self.process.stdin.closed:
            self.process.stdin.close()
        status = self.process.wait(timeout=timeout)
        self._reader.join(timeout)
        return status

    def remaining(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            item = self.replies.get(timeout=30)
            if item is None:
                return items
            items.append(item)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def run_host_bytes(env: dict[str, str], data: bytes, timeout: float = 60.0) -> tuple[int, bytes]:
    """Feed ``data`` to a fresh host as its whole input; (exit status, stdout)."""
    result = subprocess.run(
        HOST_COMMAND,
        input=data,
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=timeout,
    )
    return result.returncode, result.stdout


def engine_available() -> bool:
    try:
        import pixelwarden.decide  # noqa: F401
        import pixelwarden.extract  # noqa: F401
    except ImportError:
        return False
    return True


needs_engine = pytest.mark.skipif(
    not engine_available(),
    reason="the engine (pixelwarden.extract / decide) is not there yet",
)
