"""The native-messaging protocol, version 1 (docs/protocol.md): requests in, replies out.

One handler per request type, found through ``HANDLERS``. Handlers take the `Session` (the
host's state: settings store, tracker data, DNS, the recent classify requests) and the request
object, and return the reply's own fields; `Session.reply_to` wraps them into ``{"id", "ok",
"protocol", ...}`` and turns every failure into an error reply, so a request always gets exactly
one answer and nothing a request contains can stop the host.

Privacy: nothing here logs a URL, an address or any other message content.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from . import __version__
from .framing import MAX_REPLY_BYTES, FrameError, decode, encode, is_finite_number
from .model import (
    CnameAnswer,
    Extraction,
    Kind,
    Message,
    PixelWardenError,
    Reference,
    Verdict,
)
from .settings import SettingsStore

log = logging.getLogger("pixelwarden.protocol")

PROTOCOL_VERSION = 1

MAX_ID_CHARS = 256
MAX_RENDERED = 50_000
MAX_URL_CHARS = 65_536
MAX_HEADER_VALUES = 1_000
# The add-on's later `update` requests refer to a classify by its id: the last ones are kept.
REMEMBERED_REQUESTS = 128
# How long an `update` may wait for late DNS answers before they count as timeouts (fail closed).
LATE_DNS_TIMEOUT = 4.0

# Headers that classification reads; anything else the add-on sends is ignored.
_USED_HEADERS = (
    "from",
    "to",
    "cc",
    "delivered-to",
    "x-original-to",
    "message-id",
    "authentication-results",
    "subject",
)

Reply = dict[str, Any]
Handler = Callable[["Session", Mapping[str, Any]], Awaitable[Reply]]


def invalid(message: str) -> PixelWardenError:
    return PixelWardenError("invalid_field", message)


# ---------------------------------------------------------------------------------------------
# Reading fields


def request_id(obj: Mapping[str, Any]) -> int | float | str | None:
    """The request's id if it is a usable one (number or short string), else None."""
    value = obj.get("id")
    if isinstance(value, str) and len(value) <= MAX_ID_CHARS:
        return value
    if is_finite_number(value):
        return value  # type: ignore[no-any-return]
    return None


def _str(obj: Mapping[str, Any], name: str, *, optional: bool = False, limit: int = 0) -> Any:
    value = obj.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string" + (" or null" if optional else ""))
    if limit and len(value) > limit:
        raise invalid(f"{name} is longer than {limit} characters")
    return value


def _object(obj: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = obj.get(name)
    if not isinstance(value, dict):
        raise invalid(f"{name} must be an object")
    return value


def _size(value: object, name: str) -> int | None:
    """A rendered width or height: a non-negative number (rounded to CSS pixels) or null."""
    if value is None:
        return None
    if not is_finite_number(value) or value < 0:  # type: ignore[operator]
        raise invalid(f"{name} must be a non-negative number or null")
    return min(round(value), 1_000_000)  # type: ignore[call-overload, no-any-return]


# What Thunderbird would fetch, from the element and attribute that reference it.
_KIND_BY_ATTRIBUTE = {"@font-face": Kind.FONT, "@import": Kind.STYLESHEET}
_KIND_BY_ELEMENT = {
    "link": Kind.STYLESHEET,
    "iframe": Kind.FRAME,
    "frame": Kind.FRAME,
    "video": Kind.MEDIA,
    "audio": Kind.MEDIA,
    "track": Kind.MEDIA,
    "object": Kind.OBJECT,
    "embed": Kind.OBJECT,
    "applet": Kind.OBJECT,
}


def kind_of(element: str, attribute: str) -> Kind:
    if attribute in _KIND_BY_ATTRIBUTE:
        return _KIND_BY_ATTRIBUTE[attribute]
    if element == "video" and attribute == "poster":
        return Kind.IMAGE
    if element == "source":  # <picture><source srcset> is an image, <video><source src> media
        return Kind.IMAGE if attribute == "srcset" else Kind.MEDIA
    return _KIND_BY_ELEMENT.get(element, Kind.IMAGE)


def parse_rendered(value: object) -> tuple[Reference, ...]:
    """The references the add-on's display script saw in the rendered document."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid("rendered must be a list")
    if len(value) > MAX_RENDERED:
        raise invalid(f"rendered holds more than {MAX_RENDERED} references")
    refs = []
    for number, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid(f"rendered[{number}] must be an object")
        where = f"rendered[{number}]"
        url = item.get("url")
        if not isinstance(url, str) or not url or len(url) > MAX_URL_CHARS:
            raise invalid(f"{where}.url must be a non-empty string of at most {MAX_URL_CHARS}")
        element = item.get("element", "img")
        attribute = item.get("attribute", "src")
        if not isinstance(element, str) or not isinstance(attribute, str):
            raise invalid(f"{where}.element and .attribute must be strings")
        element, attribute = element.lower()[:64], attribute.lower()[:64]
        hidden = item.get("hidden", False)
        if not isinstance(hidden, bool):
            raise invalid(f"{where}.hidden must be true or false")
        kind_name = item.get("kind")
        if kind_name is not None and kind_name not in (k.value for k in Kind):
            raise invalid(f"{where}.kind must be one of {[k.value for k in Kind]}")
        refs.append(
            Reference(
                url=clean_text(url),
                kind=Kind(kind_name) if kind_name else kind_of(element, attribute),
                element=element,
                attribute=attribute,
                width=_size(item.get("width"), f"{where}.width"),
                height=_size(item.get("height"), f"{where}.height"),
                hidden=hidden,
                quoted=bool(item.get("quoted", False) is True),
                via=_redirect_source(item, where),
            )
        )
    return tuple(refs)


def _redirect_source(item: Mapping[str, Any], where: str) -> str | None:
    """The allowed URL that redirected to this one, when the add-on reports a redirect hop."""
    if item.get("origin") != "redirect":
        return None
    via = item.get("via")
    if not isinstance(via, str) or not via or len(via) > MAX_URL_CHARS:
        raise invalid(f"{where}.via must be the URL that redirected here")
    return clean_text(via)


def clean_text(value: str) -> str:
    """``value`` without lone surrogates: JSON may carry "\\ud800", which is no character and
    which neither UTF-8 nor the HTML parser accept; each becomes U+FFFD."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _header_block(headers: Mapping[str, Any]) -> bytes:
    """The headers classification needs, as a raw header block for the MIME reader.

    Only known names are written, and line breaks inside values are flattened, so a value can
    never smuggle in a header of its own.
    """
    lines = []
    for name in _USED_HEADERS:
        values = headers.get(name)
        if values is None:
            continue
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise invalid(f"headers[{name!r}] must be a list of strings")
        if len(values) > MAX_HEADER_VALUES:
            raise invalid(f"headers[{name!r}] holds more than {MAX_HEADER_VALUES} values")
        for value in values:
            flat = " ".join(value.replace("\r", "\n").split("\n"))
            lines.append(f"{name}: {clean_text(flat)}\r\n")
    return "".join(lines).encode("utf-8")


def message_from_request(value: object) -> Message:
    """A model.Message from classify's ``message`` object (headers read like a real mail's)."""
    if not isinstance(value, dict):
        raise invalid("message must be an object")
    key = value.get("key")
    if key is not None and not (is_finite_number(key) or isinstance(key, str)):
        raise invalid("message.key must be a number")
    message_id = _str(value, "message_id", optional=True, limit=998)
    html = _str(value, "html", optional=True)
    text = _str(value, "text", optional=True)
    raw_headers = value.get("headers", {})
    if not isinstance(raw_headers, dict):
        raise invalid("message.headers must be an object of lower-case name: [values]")
    headers = {str(k).lower(): v for k, v in raw_headers.items()}
    source = f"thunderbird:{key}" if key is not None else "thunderbird"
    block = _header_block(headers)
    from .mime import parse_message

    parsed = parse_message(block + b"\r\n" if block else b"X-Empty: 1\r\n\r\n", source)
    return replace(
        parsed,
        message_id=parsed.message_id or (message_id.strip().strip("<>") if message_id else None),
        html=clean_text(html) if html is not None else None,
        text=clean_text(text) if text is not None else None,
    )


# ---------------------------------------------------------------------------------------------
# State


@dataclass
class Remembered:
    """A classify request, kept so that `update` can decide it again with late DNS answers."""

    message: Message
    rendered: tuple[Reference, ...]
    extraction: Extraction
    answers: dict[str, CnameAnswer]
    pending: tuple[str, ...]
    late: asyncio.Task[dict[str, CnameAnswer]] | None = None


@dataclass
class Stats:
    since: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    messages: int = 0
    trackers_blocked: int = 0
    blocked: int = 0
    allowed: int = 0

    def count(self, verdict: Verdict) -> None:
        self.messages += 1
        self.trackers_blocked += verdict.trackers_blocked
        self.blocked += verdict.blocked
        self.allowed += verdict.allowed

    def to_json(self) -> Reply:
        return {
            "messages": self.messages,
            "trackers_blocked": self.trackers_blocked,
            "blocked": self.blocked,
            "allowed": self.allowed,
            "since": self.since,
        }


def _load_uncloaker_class() -> Any:
    try:
        from .uncloak import Uncloaker
    except ImportError:  # the DNS edge is optional: without it pending hosts stay blocked
        return None
    return Uncloaker


def _lists_stamp() -> float:
    """When the downloaded lists last changed (their folder's mtime; 0 when there is none).

    The lists module replaces files atomically inside that folder, which updates its mtime, so a
    long-running host picks up `pixelwarden lists update` without a restart, for one stat().
    """
    from .settings import data_dir

    try:
        return (data_dir() / "lists").stat().st_mtime
    except OSError:
        return 0.0


def _load_lists() -> Any:
    """The downloaded tracker lists (`pixelwarden lists update`), or None."""
    try:
        lists = importlib.import_module("pixelwarden.lists")
        return lists.load_matcher()
    except ImportError:
        return None
    except Exception as exc:  # broken lists must not stop classification by the bundled data
        log.warning("tracker lists unavailable: %s", exc)
        return None


def _load_dns_cache() -> Any:
    try:
        from .dnscache import DnsCache

        return DnsCache()
    except Exception as exc:  # no cache is slower, never wrong
        log.warning("DNS cache unavailable: %s", exc)
        return None


@dataclass
class Session:
    """Everything the handlers share for the life of one host process."""

    store: SettingsStore
    trackers: Any = None  # trackers.TrackerDB, loaded on first use
    lists: Any = None  # decide.ListMatcher or None
    executor: Executor | None = None  # where classification runs (None: in the loop's thread)
    warnings: list[str] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    uncloaker_class: Any = field(default_factory=_load_uncloaker_class)
    late_dns_timeout: float = LATE_DNS_TIMEOUT
    _uncloaker: Any = None
    _uncloaker_resolver: str | None = None
    _dns_cache: Any = None
    _requests: OrderedDict[Any, Remembered] = field(default_factory=OrderedDict)
    classifying: dict[Any, asyncio.Future[None]] = field(default_factory=dict)
    _lists_stamp: float | None = None
    warmed: bool = False

    # -- the engine ----------------------------------------------------------------------------

    def knowledge(self, answers: Mapping[str, CnameAnswer] | None = None) -> Any:
        from .decide import Knowledge

        if self.trackers is None:
            from .trackers import TrackerDB

            self.trackers = TrackerDB.bundled()
        stamp = _lists_stamp()
        if stamp != self._lists_stamp:
            # First use, or `pixelwarden lists update` replaced a list since: (re)load them.
            self.lists = _load_lists()
            self._lists_stamp = stamp
        parts = self.store.to_knowledge_parts()
        return Knowledge(
            trackers=self.trackers,
            mode=parts.mode,
            overrides=parts.overrides,
            identities=parts.identities,
            uncloak=parts.uncloak,
            dns=dict(answers or {}),
            lists=self.lists,
        )

    async def extract(self, message: Message) -> Extraction:
        from .extract import extract

        if not message.html:
            return Extraction((), 0, 0)
        html = message.html
        return await self._run(lambda: extract(html, None))

    async def classify(
        self,
        message: Message,
        knowledge: Any,
        rendered: tuple[Reference, ...],
        extraction: Extraction,
    ) -> Verdict:
        from .decide import classify

        return await self._run(
            lambda: classify(message, knowledge, extra_urls=rendered, extraction=extraction)
        )

    async def _run(self, work: Callable[[], Any]) -> Any:
        """CPU-bound work off the loop's thread, so that other requests are still answered."""
        if self.executor is None:
            return work()
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    def warm_up(self) -> None:
        """Load the engine (HTML reader, tracker data, public suffix list) ahead of the first
        message, so that the first display does not pay ~100 ms of imports. Thread-safe: it
        only fills module-level caches."""
        try:
            from .decide import classify  # noqa: F401
            from .extract import extract, reader_kind
            from .mime import parse_message
            from .party import registrable_domain
            from .process import tune_for_messages
            from .trackers import TrackerDB

            TrackerDB.bundled()
            registrable_domain("www.example.com")
            extract('<img src="https://www.example.com/a.png">', None)
            parse_message(b"From: a@example.com\r\n\r\n", "warm-up")
            tuning = tune_for_messages()  # message after message (see process.py)
            log.info(
                "HTML reader: %s; freed memory kept for reuse: %s; %d objects frozen",
                reader_kind(),
                tuning.freed_memory_kept,
                tuning.objects_frozen,
            )
        except Exception as exc:  # the first classify will report it properly
            log.warning("warm-up failed: %s", exc)

    def uncloaker(self, resolver: str | None) -> Any:
        """The DNS edge for the configured resolver, or None when it is not available."""
        if self.uncloaker_class is None:
            return None
        if self._uncloaker is None or resolver != self._uncloaker_resolver:
            if self._uncloaker is not None:
                self._uncloaker.close()
            if self._dns_cache is None:
                self._dns_cache = _load_dns_cache()
            self._uncloaker = self.uncloaker_class(resolver, cache=self._dns_cache)
            self._uncloaker_resolver = resolver
        return self._uncloaker

    async def resolve(self, hosts: tuple[str, ...]) -> tuple[dict[str, CnameAnswer], Any]:
        """Answers within the budget; the uncloaker (to finish the rest later) or None."""
        parts = self.store.to_knowledge_parts()
        try:
            uncloaker = self.uncloaker(parts.resolver)
        except PixelWardenError as exc:
            log.warning("DNS uncloaking unavailable: %s", exc.message)
            uncloaker = None
        if uncloaker is None:
            # Nobody will ever answer: say so now rather than leave the add-on waiting.
            return {host: CnameAnswer("error") for host in hosts}, None
        try:
            answers = await uncloaker.resolve(
                hosts, budget=parts.dns_budget_ms / 1000, keep_pending=True
            )
        except Exception as exc:
            log.warning("DNS look-up failed: %s", type(exc).__name__)
            return {host: CnameAnswer("error") for host in hosts}, None
        return dict(answers), uncloaker

    def remember(self, key: Any, entry: Remembered) -> None:
        old = self._requests.pop(key, None)
        if old is not None and old.late is not None:
            old.late.cancel()
        self._requests[key] = entry
        while len(self._requests) > REMEMBERED_REQUESTS:
            _, dropped = self._requests.popitem(last=False)
            if dropped.late is not None:
                dropped.late.cancel()

    def recall(self, key: Any) -> Remembered | None:
        return self._requests.get(key)

    def close(self) -> None:
        for entry in self._requests.values():
            if entry.late is not None:
                entry.late.cancel()
        self._requests.clear()
        if self._uncloaker is not None:
            try:
                self._uncloaker.close()
            except Exception as exc:
                log.warning("closing the DNS edge: %s", exc)
        self.store.close()

    # -- requests and replies ------------------------------------------------------------------

    async def reply_to(self, payload: bytes) -> Reply:
        """Exactly one reply for one frame's payload, whatever it holds."""
        try:
            obj = decode(payload)
        except UnicodeDecodeError as exc:
            return error_reply(None, "invalid_utf8", f"request is not UTF-8 ({exc.reason})")
        except ValueError as exc:
            return error_reply(None, "invalid_json", f"request is not JSON ({exc})")
        if not isinstance(obj, dict):
            what = type(obj).__name__
            return error_reply(None, "not_an_object", f"request must be a JSON object, not {what}")
        rid = request_id(obj)
        if rid is None:
            why = "missing" if "id" not in obj else "not a number or a string of <= 256 characters"
            return error_reply(None, "invalid_field", f"id is {why}")
        kind = obj.get("type")
        if not isinstance(kind, str):
            return error_reply(rid, "invalid_field", "type must be a string")
        handler = HANDLERS.get(kind)
        if handler is None:
            return error_reply(rid, "unknown_type", f"unknown request type {kind[:64]!r}", kind)
        started = time.perf_counter()
        try:
            fields = await handler(self, obj)
        except PixelWardenError as exc:
            log.info("%s %r: %s", kind, rid, exc.code)
            return error_reply(rid, exc.code, exc.message, kind)
        except asyncio.CancelledError:
            raise
        except ImportError as exc:  # a module of the engine is missing from this installation
            log.error("%s %r: engine unavailable: %s", kind, rid, exc)
            return error_reply(rid, "engine_unavailable", f"the host is incomplete: {exc}", kind)
        except Exception:
            log.exception("%s %r failed", kind, rid)
            return error_reply(rid, "internal_error", "the host failed on this request", kind)
        log.debug("%s %r answered in %.1f ms", kind, rid, (time.perf_counter() - started) * 1000)
        return {"id": rid, "ok": True, "protocol": PROTOCOL_VERSION, "type": kind, **fields}


def error_reply(rid: Any, code: str, message: str, kind: str | None = None) -> Reply:
    reply: Reply = {"id": rid, "ok": False, "protocol": PROTOCOL_VERSION}
    if kind is not None:
        reply["type"] = kind
    reply["error"] = {"code": code, "message": message}
    return reply


def frame_error_reply(error: FrameError) -> Reply:
    return error_reply(error.request_id, error.code, error.message)


# ---------------------------------------------------------------------------------------------
# Keeping replies under Thunderbird's 1 MB limit


def _keep_order(resource: Mapping[str, Any]) -> int:
    """Which resources survive trimming first: allowed ones (the add-on loads only what it is
    told), then blocked trackers (the popup names them), then the rest (blocked anyway: the
    add-on blocks every URL the reply does not mention)."""
    if resource.get("action") == "allow":
        return 0
    return 1 if resource.get("tracker") else 2


def encode_reply(reply: Reply, limit: int = MAX_REPLY_BYTES) -> bytes:
    """The reply as one frame under ``limit`` bytes: trimmed (``"truncated": true``) if needed."""
    frame = encode(reply)
    if len(frame) - 4 <= limit:
        return frame
    verdict = reply.get("verdict")
    if isinstance(verdict, dict) and isinstance(verdict.get("resources"), list):
        resources: list[Mapping[str, Any]] = verdict["resources"]
        pending = list(reply.get("pending", []))
        skeleton = {
            **reply,
            "truncated": True,
            "omitted": len(resources),
            "pending": pending[:1000],
        }
        skeleton["verdict"] = {**verdict, "resources": []}
        budget = limit - (len(encode(skeleton)) - 4) - 64
        kept: list[tuple[int, Mapping[str, Any]]] = []
        ranked = sorted(enumerate(resources), key=lambda pair: _keep_order(pair[1]))
        for index, resource in ranked:
            size = len(json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode()) + 1
            if size <= budget:
                kept.append((index, resource))
                budget -= size
        kept.sort(key=lambda pair: pair[0])
        skeleton["verdict"]["resources"] = [resource for _, resource in kept]
        skeleton["omitted"] = len(resources) - len(kept)
        frame = encode(skeleton)
        if len(frame) - 4 <= limit:
            return frame
    return encode(
        error_reply(
            reply.get("id"),
            "reply_too_large",
            f"the reply would exceed {limit} bytes even when trimmed",
            reply.get("type"),
        )
    )


# ---------------------------------------------------------------------------------------------
# Handlers


async def handle_hello(session: Session, request: Mapping[str, Any]) -> Reply:
    addon_version = _str(request, "addon_version", limit=64)
    log.info("hello from add-on %s", addon_version)
    if session.executor is not None and not session.warmed:
        # A message display usually follows: load the engine now, after this quick reply.
        session.warmed = True
        session.executor.submit(session.warm_up)
    current = session.store.settings()
    return {
        "host_version": __version__,
        "addon_version": addon_version,
        "lists": list_status(),
        "settings": {
            "mode": current.mode.value,
            "uncloak": current.uncloak,
            "resolver": current.resolver,
        },
        "uncloaking_available": session.uncloaker_class is not None,
        "warnings": list(session.warnings) + list(session.store.warnings),
    }


def list_status() -> list[dict[str, Any]]:
    """Name, last update and age of each downloaded list, if the list module is there."""
    try:
        lists = importlib.import_module("pixelwarden.lists")
    except ImportError:
        return []
    status = getattr(lists, "list_status", None)
    if status is None:
        return []
    try:
        return [dict(entry) for entry in status()]
    except Exception as exc:
        log.warning("list status unavailable: %s", exc)
        return []


def _classify_reply(verdict: Verdict) -> Reply:
    return {"verdict": verdict.to_json(), "pending": list(verdict.dns_pending)}


async def handle_classify(session: Session, request: Mapping[str, Any]) -> Reply:
    rid = request_id(request)
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    session.classifying[rid] = finished
    try:
        return await _classify(session, request, rid)
    finally:
        finished.set_result(None)
        if session.classifying.get(rid) is finished:
            del session.classifying[rid]


async def _classify(session: Session, request: Mapping[str, Any], rid: Any) -> Reply:
    message = message_from_request(request.get("message"))
    rendered = parse_rendered(request.get("rendered"))
    knowledge = session.knowledge()
    extraction = await session.extract(message)
    verdict = await session.classify(message, knowledge, rendered, extraction)
    answers: dict[str, CnameAnswer] = {}
    late = None
    if verdict.dns_pending and knowledge.uncloak:
        # Privacy invariant 2: `classify` lists only names that would load once confirmed.
        answers, uncloaker = await session.resolve(verdict.dns_pending)
        knowledge = replace(knowledge, dns=answers)
        verdict = await session.classify(message, knowledge, rendered, extraction)
        if verdict.dns_pending and uncloaker is not None:
            # The rest keeps resolving in the background; `update` collects it.
            late = asyncio.create_task(
                uncloaker.resolve_all(verdict.dns_pending, timeout=session.late_dns_timeout)
            )
    session.remember(
        request_id(request),
        Remembered(message, rendered, extraction, answers, verdict.dns_pending, late),
    )
    session.stats.count(verdict)
    return _classify_reply(verdict)


async def handle_update(session: Session, request: Mapping[str, Any]) -> Reply:
    original = request_id({"id": request.get("request")})
    if original is None:
        raise invalid("request must be the id of an earlier classify request")
    running = session.classifying.get(original)
    if running is not None:  # the update overtook its classify (both are in flight)
        await asyncio.shield(running)
    entry = session.recall(original)
    if entry is None:
        raise PixelWardenError(
            "unknown_request", "no recent classify request has this id (classify again)"
        )
    if entry.late is not None:
        try:
            late = await asyncio.wait_for(
                asyncio.shield(entry.late), session.late_dns_timeout + 1.0
            )
        except (TimeoutError, asyncio.CancelledError):
            late = {}
        except Exception as exc:
            log.warning("late DNS look-up failed: %s", type(exc).__name__)
            late = {}
        entry.answers.update(late)
        entry.late = None
    for host in entry.pending:
        # Whatever is still unanswered now is final: fail closed.
        if entry.answers.get(host, CnameAnswer("pending")).status == "pending":
            entry.answers[host] = CnameAnswer("timeout")
    entry.pending = ()
    # Decided again with the current settings too: an allow since the classify shows here.
    knowledge = session.knowledge(entry.answers)
    verdict = await session.classify(entry.message, knowledge, entry.rendered, entry.extraction)
    return {"request": original, **_classify_reply(verdict)}


def _overrides_reply(session: Session) -> Reply:
    return {"overrides": [entry.to_json() for entry in session.store.overrides()]}


def _scope_value(request: Mapping[str, Any]) -> tuple[Any, Any]:
    return request.get("scope"), request.get("value")


def _as_field_error(exc: PixelWardenError) -> PixelWardenError:
    return invalid(exc.message) if exc.code == "invalid_settings" else exc


def _set_override(session: Session, request: Mapping[str, Any], action: str) -> Reply:
    scope, value = _scope_value(request)
    try:
        entry = session.store.set_override(scope, value, action)
    except PixelWardenError as exc:
        raise _as_field_error(exc) from None
    return {"override": entry.to_json(), **_overrides_reply(session)}


async def handle_allow(session: Session, request: Mapping[str, Any]) -> Reply:
    return _set_override(session, request, "allow")


async def handle_block(session: Session, request: Mapping[str, Any]) -> Reply:
    return _set_override(session, request, "block")


async def handle_revoke(session: Session, request: Mapping[str, Any]) -> Reply:
    scope, value = _scope_value(request)
    try:
        removed = session.store.revoke(scope, value)
    except PixelWardenError as exc:
        raise _as_field_error(exc) from None
    return {"revoked": removed, **_overrides_reply(session)}


async def handle_settings_get(session: Session, request: Mapping[str, Any]) -> Reply:
    return {"settings": session.store.settings().to_json(), **_overrides_reply(session)}


async def handle_settings_set(session: Session, request: Mapping[str, Any]) -> Reply:
    patch = request.get("settings")
    if not isinstance(patch, dict):
        raise PixelWardenError("invalid_settings", "settings must be an object")
    return {"settings": session.store.update(patch).to_json()}


async def handle_stats(session: Session, request: Mapping[str, Any]) -> Reply:
    return session.stats.to_json()


HANDLERS: dict[str, Handler] = {
    "hello": handle_hello,
    "classify": handle_classify,
    "update": handle_update,
    "allow": handle_allow,
    "block": handle_block,
    "revoke": handle_revoke,
    "settings.get": handle_settings_get,
    "settings.set": handle_settings_set,
    "stats": handle_stats,
}
