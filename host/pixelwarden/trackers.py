"""The project's own e-mail tracker database: who runs a tracking endpoint, and how to recognise it.

The data lives in ``data/trackers.json`` (see docs/trackers.md); this module loads it once, checks
it, and indexes it so that judging a URL costs a handful of dict look-ups:

- host rules are keyed by host suffix; a URL's host is walked label by label, most specific first,
  so ``eotrx.substackcdn.com`` (tracking) wins over ``substackcdn.com`` (content);
- path rules that apply on any host (for customer subdomains of mailing services) are keyed by the
  first path segment, and each one also demands a token or query shape, so an ordinary image path
  such as ``/o/logo.png`` never matches.

No rule scan is linear in the size of the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from pixelwarden.model import PixelWardenError

SCHEMA = 1

CATEGORIES = frozenset(
    {"esp", "sales", "analytics", "social", "transactional", "marketing-automation", "advertising",
     "content"}
)  # fmt: skip
"""``advertising``: ad servers and affiliate beacons placed in mail. ``content``: services that only
serve wanted third-party content (dynamic images); they name their hosts but never make a URL a
tracker."""

TOKEN_SHAPES = frozenset({"b64", "hex"})

# scheme (optional), "//", authority, path, query; the fragment is never sent to a server.
_URL = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//([^/?#]*)([^?#]*)(?:\?([^#]*))?")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=~.*")
_HEX_CHARS = frozenset("0123456789abcdefABCDEF-")
# A segment ending like a file name is a file, not a token: `/o/logo.png` is an image path.
_FILE_SUFFIXES = (
    ".png", ".gif", ".jpg", ".jpeg", ".webp", ".svg", ".avif", ".bmp", ".ico",
    ".css", ".woff", ".woff2", ".ttf", ".otf", ".eot", ".js", ".html", ".htm",
)  # fmt: skip


def _error(message: str) -> PixelWardenError:
    return PixelWardenError("tracker_data_invalid", message)


# --- host names -------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _idna_host(host: str) -> str | None:
    """Non-ASCII (or odd) host names: IDNA-encode each label; None when it cannot be encoded."""
    labels = []
    for label in host.lower().split("."):
        if label.isascii():
            labels.append(label)
            continue
        try:
            labels.append(label.encode("idna").decode("ascii"))
        except UnicodeError:
            return None
    return ".".join(labels)


def normalise_host(host: str) -> str | None:
    """The comparable form of a host name: lower case, IDNA (xn--), no trailing dot, no port.

    Returns None for something that is not a host name at all (empty, bad IDNA).
    """
    if host.startswith("["):  # IPv6 literal: keep it as it is, without a port
        end = host.find("]")
        return host[: end + 1].lower() if end > 0 else None
    colon = host.rfind(":")
    if colon >= 0:
        host = host[:colon]
    host = host.rstrip(".")
    if not host:
        return None
    if host.isascii():
        return host.lower()
    return _idna_host(host)


def is_valid_suffix(name: str) -> bool:
    """A host suffix as written in the data file: lower-case ASCII labels, at least two of them."""
    labels = name.split(".")
    return len(labels) >= 2 and len(name) <= 253 and all(_LABEL.match(x) for x in labels)


def _suffixes(host: str) -> Iterator[str]:
    """``a.b.example.com`` → ``a.b.example.com``, ``b.example.com``, ``example.com``, ``com``."""
    while True:
        yield host
        dot = host.find(".")
        if dot < 0:
            return
        host = host[dot + 1 :]


# --- the data model ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenShape:
    """The segment right after a path prefix must look like a per-message token, not a name."""

    shape: str  # "b64": URL-safe base64-like, mixed case and digits; "hex": hex digits and dashes
    min: int  # minimum length of the segment

    def fits(self, segment: str) -> bool:
        if len(segment) < self.min or segment.lower().endswith(_FILE_SUFFIXES):
            return False
        if self.shape == "hex":
            return all(c in _HEX_CHARS for c in segment) and any(c.isdigit() for c in segment)
        # b64: random tokens mix upper case, lower case and digits; slugs and words do not.
        return (
            all(c in _B64_CHARS for c in segment)
            and any(c.isupper() for c in segment)
            and any(c.islower() for c in segment)
            and any(c.isdigit() for c in segment)
        )


@dataclass(frozen=True, slots=True)
class PathRule:
    """A tracking path: on one host suffix, or on any host when ``host`` is None."""

    path: str  # lower-case; "/x/" = anything below, "/x" = exactly /x or below /x/
    host: str | None = None
    params: tuple[str, ...] = ()  # query parameters that must all be present (``?a&b=1``)
    token: TokenShape | None = None  # shape of the segment that follows ``path`` (ends in "/")

    def describe(self) -> str:
        text = f"path {self.path}"
        if self.params:
            text += "?" + "&".join(self.params)
        if self.token:
            text += f"<{self.token.shape}:{self.token.min}+>"
        return f"host {self.host} {text}" if self.host else text

    def matches(self, lpath: str, path: str, query: str) -> bool:
        prefix = self.path
        if prefix.endswith("/"):
            if not lpath.startswith(prefix):
                return False
        elif not (lpath == prefix or lpath.startswith(prefix + "/")):
            return False
        if self.token is not None:
            rest = path[len(prefix) :]
            slash = rest.find("/")
            if not self.token.fits(rest if slash < 0 else rest[:slash]):
                return False
        if self.params:
            # "&a=1&b&" contains "&a=" or "&a&" exactly when parameter a is present.
            padded = f"&{query}&"
            for name in self.params:
                if f"&{name}=" not in padded and f"&{name}&" not in padded:
                    return False
        return True


def _path_and_query(url: str, start: int) -> tuple[str, str]:
    """The path (never empty) and the query of ``url``, whose path begins at ``start``."""
    end = url.find("#", start)
    rest = url[start:] if end < 0 else url[start:end]
    path, _, query = rest.partition("?")
    return path or "/", query


@dataclass(frozen=True, slots=True)
class Service:
    """One tracking service (a mailing service, a sales tool, an analytics or social beacon)."""

    id: str
    name: str
    company: str
    category: str
    source: tuple[str, ...]  # where each fact comes from: a public URL or "trackers-notes.md: …"
    hosts: tuple[str, ...] = ()  # host suffixes that only ever serve tracking endpoints
    paths: tuple[PathRule, ...] = ()
    cname_targets: tuple[str, ...] = ()  # where customers' tracking subdomains point (CNAME)
    content_hosts: tuple[str, ...] = ()  # the service's hosts for wanted content (not trackers)
    note: str = ""

    @property
    def is_tracker(self) -> bool:
        return self.category != "content"


@dataclass(frozen=True, slots=True)
class HostingProvider:
    """A CDN or hosting provider: a CNAME hop into it does not change who serves the content."""

    suffix: str
    name: str
    source: str


@dataclass(frozen=True, slots=True)
class TrackerMatch:
    """Why a URL is a known tracker: the service, and the rule that recognised it."""

    service_id: str
    name: str
    company: str
    category: str
    rule: str  # e.g. "host klclick.com", "host list-manage.com path /track/open.php"
    source: str  # the service's sources, joined with "; "


# --- the database -----------------------------------------------------------------------------

# What a host suffix can be, at one level of the label walk.
_TRACKING, _CONTENT = "tracking", "content"


@dataclass(frozen=True, slots=True)
class _HostEntry:
    service: Service
    kind: str | None  # _TRACKING, _CONTENT, or None when the suffix only carries path rules
    hit: TrackerMatch | None = None  # the answer when ``kind`` is _TRACKING
    rules: tuple[tuple[PathRule, TrackerMatch], ...] = ()


# Hosts whose walk `TrackerDB.match` remembers before starting afresh (a long-running host).
_WALKS_KEPT = 4096


@dataclass(frozen=True, slots=True, eq=False)  # identity equality and hash: one per process
class TrackerDB:
    """The loaded, indexed tracker database. Build it with `bundled()` or `from_dict()`."""

    services: tuple[Service, ...]
    hosting: tuple[HostingProvider, ...]
    updated: str
    # plain dicts: read-only by convention, one attribute look-up cheaper than a mappingproxy
    _by_host: dict[str, _HostEntry]
    _by_segment: dict[str, tuple[tuple[PathRule, TrackerMatch], ...]]
    _cname: Mapping[str, tuple[Service, str]]  # suffix → service, "tracking" | "content"
    _hosting: Mapping[str, HostingProvider]
    _matches: Mapping[tuple[str, str], TrackerMatch]  # (service id, rule text) → shared result
    # host → the entries of its suffixes, most specific first, up to the first that decides
    # alone: what `match` walks, remembered (the same few hosts serve most URLs).
    _walks: dict[str, tuple[_HostEntry, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def bundled(cls) -> TrackerDB:
        """The database shipped with the package (read and indexed once per process)."""
        return _bundled()

    @classmethod
    def from_json(cls, text: str | bytes) -> TrackerDB:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _error(f"tracker data is not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrackerDB:
        """Check and index tracker data shaped like data/trackers.json.

        Raises PixelWardenError("tracker_data_invalid", …) naming the first problem found.
        """
        if not isinstance(data, Mapping):
            raise _error("tracker data must be a JSON object")
        if data.get("schema") != SCHEMA:
            raise _error(f"unsupported tracker data schema {data.get('schema')!r}")
        services = tuple(_parse_service(s) for s in _list(data, "services", "tracker data"))
        hosting = tuple(_parse_hosting(h) for h in _list(data, "hosting", "tracker data"))
        return cls._index(services, hosting, str(data.get("updated", "")))

    @classmethod
    def _index(
        cls, services: tuple[Service, ...], hosting: tuple[HostingProvider, ...], updated: str
    ) -> TrackerDB:
        ids: set[str] = set()
        by_host: dict[str, _HostEntry] = {}
        by_segment: dict[str, list[tuple[PathRule, TrackerMatch]]] = {}
        cname: dict[str, tuple[Service, str]] = {}
        matches: dict[tuple[str, str], TrackerMatch] = {}

        def claim(suffix: str, service: Service, kind: str, hit: TrackerMatch | None) -> None:
            old = by_host.get(suffix)
            if old is not None and (old.kind is not None or old.service is not service):
                raise _error(f"host {suffix!r} is listed twice ({old.service.id}, {service.id})")
            rules = old.rules if old is not None else ()
            by_host[suffix] = _HostEntry(service, kind, hit, rules)

        def remember(service: Service, rule: str) -> TrackerMatch:
            if (service.id, rule) in matches:
                raise _error(f"{service.id}: duplicate rule {rule!r}")
            match = TrackerMatch(
                service.id, service.name, service.company, service.category, rule,
                "; ".join(service.source),
            )  # fmt: skip
            matches[service.id, rule] = match
            return match

        for service in services:
            if service.id in ids:
                raise _error(f"duplicate service id {service.id!r}")
            ids.add(service.id)
            if service.is_tracker:
                for host in service.hosts:
                    claim(host, service, _TRACKING, remember(service, f"host {host}"))
            elif service.hosts or service.paths or service.cname_targets:
                raise _error(f"{service.id}: a content service has only content_hosts")
            for host in service.content_hosts:
                claim(host, service, _CONTENT, None)
            for rule in service.paths:
                found = remember(service, rule.describe())
                if rule.host is None:
                    segment = rule.path[1:].split("/", 1)[0]
                    by_segment.setdefault(segment, []).append((rule, found))
                    continue
                old = by_host.get(rule.host) or _HostEntry(service, None)
                if old.service is not service:
                    raise _error(
                        f"host {rule.host!r} has rules of {old.service.id} and {service.id}"
                    )
                by_host[rule.host] = _HostEntry(
                    service, old.kind, old.hit, old.rules + ((rule, found),)
                )
            for target in service.cname_targets + service.hosts:
                if target in cname and cname[target][0] is not service:
                    raise _error(f"CNAME target {target!r} claimed by {cname[target][0].id}")
                cname[target] = (service, _TRACKING)
            for host in service.content_hosts:
                if host in cname:
                    raise _error(f"{service.id}: {host!r} is both content and tracking")
                cname[host] = (service, _CONTENT)

        hosting_index: dict[str, HostingProvider] = {}
        for provider in hosting:
            if provider.suffix in hosting_index:
                raise _error(f"hosting suffix {provider.suffix!r} is listed twice")
            hosting_index[provider.suffix] = provider

        return cls(
            services=services,
            hosting=hosting,
            updated=updated,
            _by_host=by_host,
            _by_segment={k: tuple(v) for k, v in by_segment.items()},
            _cname=MappingProxyType(cname),
            _hosting=MappingProxyType(hosting_index),
            _matches=MappingProxyType(matches),
        )

    # --- questions ----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Service]:
        return iter(self.services)

    def __len__(self) -> int:
        return len(self.services)

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def match(self, url: str) -> TrackerMatch | None:
        """The known tracker that serves ``url``, or None.

        Host rules first, most specific suffix first: a tracking host matches, a content host
        ends the search (its content is not a tracker, whatever the path), a host with path rules
        matches when one of them does. Then the path rules that apply on any host.
        """
        # This runs for every remote reference of every message (target: a few microseconds).
        # One split gives scheme, authority and first path segment; the full path and the query
        # are cut out only when a rule has to look at them.
        parts = url.split("/", 4)
        if len(parts) < 3 or parts[1] or (parts[0] and parts[0][-1] != ":"):
            return None
        authority = parts[2]
        if "?" in authority or "#" in authority:
            return self._match_slow(url)
        path_at = len(parts[0]) + 2 + len(authority)
        if "@" in authority:
            authority = authority[authority.rfind("@") + 1 :]
        if authority.isascii() and ":" not in authority and not authority.endswith("."):
            host: str | None = authority.lower()
        else:
            host = normalise_host(authority)
        if not host:
            return None

        walk = self._walks.get(host)
        if walk is None:
            walk = self._walk(host)
        for entry in walk:
            if entry.rules:
                path, query = _path_and_query(url, path_at)
                lpath = path.lower()
                for rule, found in entry.rules:
                    if rule.matches(lpath, path, query):
                        return found
            if entry.kind is not None:
                return entry.hit  # the tracking host's match, or None for a content host

        segment = parts[3] if len(parts) > 3 else ""
        if "?" in segment or "#" in segment:
            for stop in "?#":
                cut = segment.find(stop)
                if cut >= 0:
                    segment = segment[:cut]
        candidates = self._by_segment.get(segment.lower())
        if candidates:
            path, query = _path_and_query(url, path_at)
            lpath = path.lower()
            for rule, found in candidates:
                if rule.matches(lpath, path, query):
                    return found
        return None

    def _walk(self, host: str) -> tuple[_HostEntry, ...]:
        """The entries of ``host`` and its parent domains, most specific first, ending at the
        first one with a kind (it answers whatever its rules say); remembered."""
        by_host = self._by_host
        entries = []
        name = host
        while True:
            entry = by_host.get(name)
            if entry is not None:
                entries.append(entry)
                if entry.kind is not None:
                    break
            dot = name.find(".")
            if dot < 0:
                break
            name = name[dot + 1 :]
        walk = tuple(entries)
        if len(self._walks) >= _WALKS_KEPT:
            self._walks.clear()
        self._walks[host] = walk
        return walk

    def _match_slow(self, url: str) -> TrackerMatch | None:
        """URLs whose authority is followed directly by ``?`` or ``#`` (no path)."""
        parsed = _URL.match(url)
        if parsed is None:
            return None
        authority, _, query = parsed.group(1, 2, 3)
        rebuilt = f"//{authority}/"
        if query:
            rebuilt += "?" + query
        return self.match(rebuilt)

    def cname_service(self, host: str) -> Service | None:
        """The tracking service whose endpoint ``host`` (a CNAME hop) is, or None.

        A hop inside one of the service's content hosts is not a tracker (None).
        """
        return self._service_in_role(host, _TRACKING)

    def content_host(self, host: str) -> Service | None:
        """The service whose wanted content ``host`` serves (e.g. mcusercontent.com), or None."""
        return self._service_in_role(host, _CONTENT)

    def _service_in_role(self, host: str, role: str) -> Service | None:
        """The service of the most specific known suffix of ``host``, if it plays ``role`` there."""
        name = normalise_host(host)
        if name is None:
            return None
        for suffix in _suffixes(name):
            hit = self._cname.get(suffix)
            if hit is not None:
                return hit[0] if hit[1] == role else None
        return None

    def hosting_provider(self, host: str) -> HostingProvider | None:
        name = normalise_host(host)
        if name is None or self.cname_service(name) is not None:
            return None
        for suffix in _suffixes(name):
            provider = self._hosting.get(suffix)
            if provider is not None:
                return provider
        return None

    def is_hosting(self, host: str) -> bool:
        """True when ``host`` belongs to a CDN or hosting provider and to no known tracker."""
        return self.hosting_provider(host) is not None


# --- parsing the data file --------------------------------------------------------------------


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise _error(f"{where}: {key!r} must be a list")
    return value


def _text(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _error(f"{where}: {key!r} must be a non-empty string")
    return value


def _suffix_list(obj: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    names = _list(obj, key, where)
    for name in names:
        if not isinstance(name, str) or not is_valid_suffix(name):
            raise _error(f"{where}: {key} entry {name!r} is not a lower-case host name")
    if len(set(names)) != len(names):
        raise _error(f"{where}: {key} has duplicates")
    return tuple(names)


def _parse_token(value: Any, where: str) -> TokenShape | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _error(f"{where}: token must be an object")
    shape, minimum = value.get("shape"), value.get("min")
    if shape not in TOKEN_SHAPES or not isinstance(minimum, int) or minimum < 8:
        raise _error(f"{where}: token needs a shape in {sorted(TOKEN_SHAPES)} and min ≥ 8")
    return TokenShape(shape, minimum)


def _parse_path(value: Any, where: str) -> PathRule:
    if not isinstance(value, Mapping):
        raise _error(f"{where}: path rule must be an object")
    path = _text(value, "path", where)
    if not path.startswith("/") or path != path.lower() or " " in path:
        raise _error(f"{where}: path {path!r} must be lower case and start with '/'")
    host = value.get("host")
    if host is not None and (not isinstance(host, str) or not is_valid_suffix(host)):
        raise _error(f"{where}: path rule host {host!r} is not a lower-case host name")
    params = value.get("params", [])
    if not isinstance(params, list) or not all(isinstance(p, str) and p for p in params):
        raise _error(f"{where}: params must be a list of names")
    token = _parse_token(value.get("token"), where)
    if token is not None and not path.endswith("/"):
        raise _error(f"{where}: a token follows a path prefix ending in '/'")
    if host is None and token is None and not params:
        # A path alone on any host would flag ordinary content: demand a token or a query shape.
        raise _error(f"{where}: rule {path!r} for any host needs a token or params")
    unknown = set(value) - {"path", "host", "params", "token"}
    if unknown:
        raise _error(f"{where}: unknown path rule fields {sorted(unknown)}")
    return PathRule(path=path, host=host, params=tuple(params), token=token)


_SERVICE_FIELDS = frozenset(
    {"id", "name", "company", "category", "source", "hosts", "paths", "cname_targets",
     "content_hosts", "note"}
)  # fmt: skip


def _parse_service(value: Any) -> Service:
    if not isinstance(value, Mapping):
        raise _error("every service must be an object")
    sid = _text(value, "id", "service")
    where = f"service {sid!r}"
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", sid):
        raise _error(f"{where}: id must be lower-case letters, digits, '-' or '_'")
    unknown = set(value) - _SERVICE_FIELDS
    if unknown:
        raise _error(f"{where}: unknown fields {sorted(unknown)}")
    category = _text(value, "category", where)
    if category not in CATEGORIES:
        raise _error(f"{where}: category {category!r} not in {sorted(CATEGORIES)}")
    source = value.get("source")
    sources = [source] if isinstance(source, str) else source
    if not isinstance(sources, list) or not sources:
        raise _error(f"{where}: every service needs a source")
    if not all(isinstance(s, str) and s.strip() for s in sources):
        raise _error(f"{where}: sources must be non-empty strings")
    service = Service(
        id=sid,
        name=_text(value, "name", where),
        company=_text(value, "company", where),
        category=category,
        source=tuple(sources),
        hosts=_suffix_list(value, "hosts", where),
        paths=tuple(_parse_path(p, where) for p in _list(value, "paths", where)),
        cname_targets=_suffix_list(value, "cname_targets", where),
        content_hosts=_suffix_list(value, "content_hosts", where),
        note=str(value.get("note", "")),
    )
    if not (service.hosts or service.paths or service.cname_targets or service.content_hosts):
        raise _error(f"{where}: no rules")
    return service


def _parse_hosting(value: Any) -> HostingProvider:
    if not isinstance(value, Mapping):
        raise _error("every hosting entry must be an object")
    suffix = _text(value, "suffix", "hosting entry")
    if not is_valid_suffix(suffix):
        raise _error(f"hosting suffix {suffix!r} is not a lower-case host name")
    where = f"hosting {suffix!r}"
    return HostingProvider(suffix, _text(value, "name", where), _text(value, "source", where))


@lru_cache(maxsize=1)
def _bundled() -> TrackerDB:
    text = resources.files("pixelwarden").joinpath("data", "trackers.json").read_bytes()
    return TrackerDB.from_json(text)
