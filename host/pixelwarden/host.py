"""`pixelwarden host`: the native-messaging host process that Thunderbird starts.

Thunderbird runs the launcher named in the host manifest with argv ``[manifest path, add-on id]``
and keeps the process for as long as the add-on's port is open. This module is the process:
binary stdio, frames in and out (framing.py), one asyncio task per request (protocol.py), and
logging to a rotating file, because stdout belongs to the channel.

Concurrency: a thread reads frames (blocking reads work the same on every platform, pipes
included), hands them to the event loop through a small bounded queue (back-pressure instead of
unbounded memory), and every request runs as its own task, so a request waiting for DNS never
holds up the next one. Classification runs in a worker thread so that a huge message does not
stall a `hello` either. Replies are written whole, one at a time, by a writer thread, so the
loop never waits on a full pipe.

End of input (Thunderbird closed the port): requests already read are answered, then the
process exits with status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from . import __version__
from .framing import FrameError, iter_frames
from .model import PixelWardenError
from .protocol import Session, encode_reply, frame_error_reply
from .settings import SettingsStore

log = logging.getLogger("pixelwarden.host")

LOG_FILE = "host.log"
LOG_BYTES = 1_000_000
LOG_BACKUPS = 3
QUEUE_FRAMES = 4  # frames read ahead of the loop at most
MAX_IN_FLIGHT = 256  # requests being answered at once (each `update` may wait seconds for DNS)
MAX_IN_FLIGHT_BYTES = 256 * 1024 * 1024


def log_dir() -> Path:
    override = os.environ.get("PIXELWARDEN_LOG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_log_dir("pixelwarden"))


def setup_logging() -> None:
    """Log to a rotating file; to stderr (which Thunderbird shows in its console) if impossible."""
    root = logging.getLogger("pixelwarden")
    root.setLevel(logging.INFO)
    handler: logging.Handler
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            folder / LOG_FILE, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        handler = logging.StreamHandler(sys.stderr)
        print(f"pixelwarden host: cannot write logs ({exc}); logging to stderr", file=sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(message)s"))
    root.addHandler(handler)


def claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    """Binary stdin and a private copy of stdout for frames; file descriptor 1 then points at
    stderr, so a stray print (ours or a library's, even from C) cannot corrupt the channel."""
    stdin_fd, stdout_fd = sys.stdin.fileno(), sys.stdout.fileno()
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        msvcrt.setmode(stdin_fd, os.O_BINARY)
        msvcrt.setmode(stdout_fd, os.O_BINARY)
    sys.stdout.flush()
    channel_fd = os.dup(stdout_fd)
    os.dup2(sys.stderr.fileno(), stdout_fd)
    sys.stdout = sys.stderr
    inp = os.fdopen(os.dup(stdin_fd), "rb", buffering=1 << 16)
    out = os.fdopen(channel_fd, "wb", buffering=0)
    return inp, out  # type: ignore[return-value]


class Channel:
    """Writes whole frames from its own thread, in the order they were queued.

    The event loop never blocks on a full pipe: if the other end writes a batch of requests
    before reading any reply, the host keeps reading (and answering into this queue) instead of
    both sides waiting on each other.
    """

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.closed = False
        self.replies = 0
        self._frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="pixelwarden-stdout", daemon=True)
        self._thread.start()

    def send(self, frame: bytes) -> None:
        self._frames.put(frame)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop."""
        self._frames.put(None)
        self._thread.join(timeout)

    def _write(self) -> None:
        while (frame := self._frames.get()) is not None:
            if self.closed:
                continue  # the other end has gone: drop, but keep draining the queue
            try:
                view = memoryview(frame)
                while view:
                    written = self.out.write(view)
                    view = view[written if written is not None else len(view) :]
                self.out.flush()
                self.replies += 1
            except (OSError, ValueError) as exc:
                log.info("reply channel closed: %s", type(exc).__name__)
                self.closed = True


class InFlight:
    """Bounds the requests being answered at once, by number and by bytes.

    Without it a client writing faster than the host answers would make the host hold every
    request in memory. One request larger than the byte budget is still taken, alone. Only the
    serving loop acquires; tasks release when their reply is queued.
    """

    def __init__(self, max_requests: int = MAX_IN_FLIGHT, max_bytes: int = MAX_IN_FLIGHT_BYTES):
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.requests = 0
        self.bytes = 0
        self._room: asyncio.Future[None] | None = None

    def _fits(self, size: int) -> bool:
        if self.requests == 0:
            return True
        return self.requests < self.max_requests and self.bytes + size <= self.max_bytes

    async def acquire(self, size: int) -> None:
        while not self._fits(size):
            self._room = asyncio.get_running_loop().create_future()
            await self._room
        self.requests += 1
        self.bytes += size

    def release(self, size: int) -> None:
        self.requests -= 1
        self.bytes -= size
        if self._room is not None and not self._room.done():
            self._room.set_result(None)


async def serve(inp: BinaryIO, out: BinaryIO, session: Session) -> None:
    """Answer every frame of ``inp`` on ``out`` until end of input."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | FrameError | None] = asyncio.Queue(maxsize=QUEUE_FRAMES)
    channel = Channel(out)

    def read_frames() -> None:
        try:
            for item in iter_frames(inp):
                asyncio.run_coroutine_threadsafe(queue.put(item), loop).result()
        except Exception as exc:  # a read error is an end of input, never a crash
            log.warning("reading requests stopped: %s", exc)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may already be gone
                asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

    budget = InFlight()

    async def answer(item: bytes | FrameError, size: int) -> None:
        try:
            if isinstance(item, FrameError):
                log.info("frame error: %s", item.code)
                reply = frame_error_reply(item)
            else:
                reply = await session.reply_to(item)
            channel.send(encode_reply(reply))
        finally:
            budget.release(size)

    reader = threading.Thread(target=read_frames, name="pixelwarden-stdin", daemon=True)
    reader.start()
    tasks: set[asyncio.Task[None]] = set()
    while (item := await queue.get()) is not None:
        size = len(item) if isinstance(item, bytes) else 0
        await budget.acquire(
            size
        )  # when full, reading stops: the client waits, memory does not grow
        task = asyncio.create_task(answer(item, size))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    channel.close()
    log.info("end of input after %d replies", channel.replies)


def open_store() -> tuple[SettingsStore, list[str]]:
    """The settings store, or an in-memory one (with a warning) if the file cannot be used."""
    try:
        return SettingsStore.open(), []
    except (PixelWardenError, OSError) as exc:
        message = exc.message if isinstance(exc, PixelWardenError) else str(exc)
        log.error("settings unavailable, using defaults for this session: %s", message)
        return SettingsStore.open(Path(":memory:")), [f"settings unavailable: {message}"]


def run_host(argv: list[str]) -> int:
    """The host's entry point: ``argv`` is what Thunderbird passes (manifest path, add-on id)."""
    inp, out = claim_stdio()
    setup_logging()
    log.info("pixelwarden host %s started (pid %d, args %s)", __version__, os.getpid(), argv)
    store, warnings = open_store()
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pixelwarden-classify")
    session = Session(store=store, executor=executor, warnings=warnings)

    async def main() -> None:
        try:
            await serve(inp, out, session)
        finally:
            session.close()  # inside the loop: late DNS tasks are cancelled where they live

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_host(sys.argv[1:]))
