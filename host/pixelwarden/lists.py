"""Downloaded tracker lists: the registry, `pixelwarden lists update|status`, and the matcher.

Filter lists are data, not code (uBlock Origin's ``assets.json`` lesson): ``data/lists.json`` names
each upstream list with its own address, licence, update period and format. Nothing from those
lists is bundled; the project's own tracker database is the floor and these lists add to it.

Updating is the only network access besides DNS, and it happens only on the user's command:

* each list is fetched with urllib from its registry address, within a total time limit;
* it is validated (status 200, not HTML, UTF-8 text without NUL bytes, within the registry's size
  bounds, at least ``min_rules`` valid rules, not less than half the rules of the copy we have);
* it is stored under the platformdirs data folder (``PIXELWARDEN_DATA_DIR`` overrides) as
  ``lists/<name>-<sha256[:12]>.txt`` with a JSON sidecar ``lists/<name>.json`` holding its
  provenance (URL, date, sha256, size, rule count, ETag). Replacing the sidecar atomically is the
  commit: a broken download changes nothing but the sidecar's ``last_error``, so the last good
  copy stays in use.

Matching adblock-syntax lists uses Brave's adblock-rust engine (PyPI ``adblock``): ~2 µs per URL
for EasyPrivacy-size lists (../shared/docs/performance-notes.md). One engine per list, so a match
names its list. The engines are serialised to the cache folder, keyed by the list's sha256 and the
engine's version: deserialising is several times faster than parsing the rules again
(bench/bench_dns.py measures both).

A ``domains`` list (AdGuard's CNAME-cloaked mail trackers: customer subdomains that alias a
mailing service, ~50k names) is a name set matched on the URL's host and its parents, like
``||name^``; a set of validated names (stored beside the list as ``.names``) loads faster than an
engine deserialises. It is also CNAME knowledge: a hop of an alias chain that lands on one of its
names is a tracker (`AdblockLists.cname_target`, `AdblockLists.extra_cname_targets`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from . import __version__
from .model import PixelWardenError

log = logging.getLogger(__name__)

SIDECAR_VERSION = 1
#: A download that would drop below this share of the current copy's rules is refused: upstream
#: lists grow slowly, and a sudden halving is far more likely a broken file than a clean-up.
MIN_SHRINK_RATIO = 0.5
#: Smallest plausible list, whatever the registry says.
MIN_BYTES = 64

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
_ADBLOCK_RULE = re.compile(r"^[\x21-\x7e]{3,1024}$")
_HTML_START = re.compile(rb"^\s*(?:<!doctype\s+html|<html|<head|<body|<\?xml|<!--)", re.IGNORECASE)

# Kind (model.Kind values) -> the resource type adblock filters speak of.
_REQUEST_TYPES = {
    "image": "image",
    "stylesheet": "stylesheet",
    "font": "font",
    "frame": "sub_frame",
    "media": "media",
    "object": "object",
    "other": "other",
}


# -- registry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListSource:
    """One upstream list, as the registry names it."""

    name: str
    url: str
    format: str  # "adblock" or "domains"
    title: str = ""
    publisher: str = ""
    homepage: str = ""
    licence: str = ""
    update_days: float = 7.0
    min_rules: int = 20
    max_bytes: int = 16_000_000

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> ListSource:
        try:
            source = cls(
                name=str(item["name"]),
                url=str(item["url"]),
                format=str(item["format"]),
                title=str(item.get("title", "")),
                publisher=str(item.get("publisher", "")),
                homepage=str(item.get("homepage", "")),
                licence=str(item.get("licence", "")),
                update_days=float(item.get("update_days", 7)),
                min_rules=int(item.get("min_rules", 20)),
                max_bytes=int(item.get("max_bytes", 16_000_000)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PixelWardenError(
                "invalid_registry", f"bad list entry {item!r}: {error}"
            ) from None
        if source.format not in ("adblock", "domains"):
            raise PixelWardenError("invalid_registry", f"{source.name}: unknown format")
        if not re.fullmatch(r"[a-z0-9_]{1,64}", source.name):
            raise PixelWardenError("invalid_registry", f"bad list name {source.name!r}")
        return source


def load_registry(path: Path | str | None = None) -> list[ListSource]:
    """The bundled registry, or ``path`` / ``PIXELWARDEN_LISTS_REGISTRY`` (tests, mirrors)."""
    path = path or os.environ.get("PIXELWARDEN_LISTS_REGISTRY")
    try:
        if path:
            text = Path(path).read_text(encoding="utf-8")
        else:
            text = resources.files("pixelwarden").joinpath("data/lists.json").read_text("utf-8")
        data = json.loads(text)
        items = data["lists"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PixelWardenError(
            "invalid_registry", f"cannot read the list registry: {error}"
        ) from None
    return [ListSource.from_json(item) for item in items]


def default_data_dir() -> Path:
    """``PIXELWARDEN_DATA_DIR`` or the platform's user data folder for pixelwarden."""
    override = os.environ.get("PIXELWARDEN_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("pixelwarden"))


def _lists_dir(data_dir: Path | str | None) -> Path:
    return (Path(data_dir) if data_dir is not None else default_data_dir()) / "lists"


# -- validation --------------------------------------------------------------------------------


def count_rules(text: str, fmt: str) -> int:
    """Valid rules in a list body (comments and blank lines do not count)."""
    return sum(1 for _ in _rules(text, fmt))


def _rules(text: str, fmt: str) -> Iterable[str]:
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if fmt == "domains":
            if line.startswith("#"):
                continue
            line = line.lower().rstrip(".")
            if _DOMAIN.match(line):
                yield line
        else:
            if line.startswith(("!", "[", "#")) and "##" not in line:
                continue
            if _ADBLOCK_RULE.match(line):
                yield line


def validate(body: bytes, source: ListSource, content_type: str = "") -> tuple[str, int]:
    """The decoded text and its rule count, or PixelWardenError saying what is wrong."""
    if len(body) < MIN_BYTES:
        raise PixelWardenError("too_small", f"{source.name}: {len(body)} bytes")
    if len(body) > source.max_bytes:
        raise PixelWardenError("too_large", f"{source.name}: over {source.max_bytes} bytes")
    if "html" in content_type.lower() or _HTML_START.match(body[:512]):
        raise PixelWardenError("html", f"{source.name}: got an HTML page, not a list")
    if b"\x00" in body:
        raise PixelWardenError("not_text", f"{source.name}: binary data")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PixelWardenError("not_text", f"{source.name}: not UTF-8 ({error})") from None
    rules = count_rules(text, source.format)
    if rules < source.min_rules:
        raise PixelWardenError(
            "too_few_rules", f"{source.name}: {rules} valid rules, at least {source.min_rules}"
        )
    return text, rules


# -- download ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateResult:
    """What `update_lists` did with one list."""

    name: str
    status: str  # "updated", "unchanged" (304 or same bytes), "failed"
    rules: int | None = None
    sha256: str | None = None
    error: dict[str, str] | None = None  # {"code", "message"} when failed
    kept: str | None = None  # when failed: fetch date of the copy still in use, if any

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "rules": self.rules,
            "sha256": self.sha256,
            "error": self.error,
            "kept": self.kept,
        }


def _fetch(
    source: ListSource, url: str, timeout: float, previous: Mapping[str, Any] | None
) -> tuple[bytes | None, str, dict[str, str]]:
    """(body or None when not modified, content type, validators) within ``timeout`` seconds."""
    # Imported here: urllib.request pulls in http.client, email and ssl (~30 ms), and only
    # `lists update` downloads anything; the matcher loads without them.
    import http.client
    import urllib.error
    import urllib.request

    if not url.lower().startswith(("https://", "http://")):
        raise PixelWardenError("bad_url", f"{source.name}: only http(s) addresses: {url!r}")
    headers = {"User-Agent": f"pixelwarden/{__version__} (lists update)", "Accept": "text/plain"}
    if previous and previous.get("url") == url:
        if previous.get("etag"):
            headers["If-None-Match"] = str(previous["etag"])
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = str(previous["last_modified"])
    request = urllib.request.Request(url, headers=headers)
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            validators = {
                "etag": response.headers.get("ETag") or "",
                "last_modified": response.headers.get("Last-Modified") or "",
            }
            content_type = response.headers.get("Content-Type") or ""
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > source.max_bytes:
                raise PixelWardenError("too_large", f"{source.name}: {declared} bytes announced")
            chunks: list[bytes] = []
            size = 0
            while True:
                if time.monotonic() > deadline:
                    raise PixelWardenError("timeout", f"{source.name}: over {timeout:g} s")
                chunk = response.read1(65536)  # one recv at most: the deadline holds
                if not chunk:
                    break
                size += len(chunk)
                if size > source.max_bytes:
                    raise PixelWardenError("too_large", f"{source.name}: over {source.max_bytes} B")
                chunks.append(chunk)
            body = b"".join(chunks)
            if declared and declared.isdigit() and int(declared) != len(body):
                raise PixelWardenError(
                    "truncated", f"{source.name}: {len(body)} of {declared} bytes"
                )
            return body, content_type, validators
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return None, "", {}
        raise PixelWardenError("http_error", f"{source.name}: HTTP {error.code}") from None
    except http.client.IncompleteRead as error:
        raise PixelWardenError(
            "truncated", f"{source.name}: connection closed after {len(error.partial)} bytes"
        ) from None
    except TimeoutError:
        raise PixelWardenError(
            "timeout", f"{source.name}: no answer within {timeout:g} s"
        ) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise PixelWardenError("timeout", f"{source.name}: {error.reason}") from None
        raise PixelWardenError("network", f"{source.name}: {error.reason}") from None
    except (http.client.HTTPException, OSError, ValueError) as error:
        raise PixelWardenError("network", f"{source.name}: {error}") from None


def update_lists(
    registry: Sequence[ListSource] | None = None,
    data_dir: Path | str | None = None,
    timeout: float = 30.0,
    *,
    urls: Mapping[str, str] | None = None,
    names: Iterable[str] | None = None,
) -> list[UpdateResult]:
    """Download, validate and store every list of ``registry`` (the bundled one by default).

    ``urls`` overrides addresses by list name (tests, mirrors); ``names`` limits the update to some
    lists. A failure never touches the copy in use. Never raises for a list's own problems.
    """
    sources = list(registry) if registry is not None else load_registry()
    wanted = set(names) if names is not None else None
    folder = _lists_dir(data_dir)
    with contextlib.suppress(OSError):  # reported per list below if it really cannot be used
        folder.mkdir(parents=True, exist_ok=True)
    results = []
    for source in sources:
        if wanted is not None and source.name not in wanted:
            continue
        url = (urls or {}).get(source.name, source.url)
        try:
            results.append(_update_one(source, url, folder, timeout))
        except OSError as error:  # the data folder itself: full disk, permissions
            message = f"{source.name}: cannot store the list: {error}"
            log.warning("%s", message)
            results.append(
                UpdateResult(source.name, "failed", error={"code": "storage", "message": message})
            )
    return results


def _update_one(source: ListSource, url: str, folder: Path, timeout: float) -> UpdateResult:
    previous = _read_sidecar(folder, source.name)
    now = _now()
    try:
        body, content_type, validators = _fetch(source, url, timeout, previous)
        if body is None:  # 304 Not Modified
            if previous is None or not _stored_path(folder, previous).exists():
                raise PixelWardenError("http_error", f"{source.name}: 304 without a stored copy")
            _write_sidecar(folder, source.name, {**previous, "checked": now, "last_error": None})
            return UpdateResult(source.name, "unchanged", previous.get("rules"), previous["sha256"])
        text, rules = validate(body, source, content_type)
        old_rules = int(previous.get("rules") or 0) if previous else 0
        if (
            previous
            and _stored_path(folder, previous).exists()
            and rules < old_rules * MIN_SHRINK_RATIO
        ):
            raise PixelWardenError(
                "shrunk", f"{source.name}: {rules} rules where the copy in use has {old_rules}"
            )
    except PixelWardenError as error:
        log.info("list %s not updated: %s", source.name, error.message)
        if previous is not None:
            _write_sidecar(
                folder,
                source.name,
                {**previous, "last_error": {**error.to_json(), "at": now}},
            )
        return UpdateResult(
            source.name,
            "failed",
            error=error.to_json(),
            kept=previous.get("fetched") if previous and previous.get("sha256") else None,
        )
    digest = hashlib.sha256(body).hexdigest()
    file_name = f"{source.name}-{digest[:12]}.txt"
    unchanged = previous is not None and previous.get("sha256") == digest
    if not (folder / file_name).exists():
        _atomic_write(folder / file_name, body)  # the bytes upstream sent, as hashed
    if source.format == "domains":
        # The validated names, one per line: loading them is a plain split, no regex.
        names = "\n".join(sorted(set(_rules(text, "domains"))))
        _atomic_write((folder / file_name).with_suffix(".names"), names.encode("ascii"))
    sidecar = {
        "version": SIDECAR_VERSION,
        "name": source.name,
        "url": url,
        "format": source.format,
        "licence": source.licence,
        "file": file_name,
        "sha256": digest,
        "bytes": len(body),
        "rules": rules,
        "fetched": previous["fetched"] if unchanged and previous else now,
        "checked": now,
        "etag": validators.get("etag") or None,
        "last_modified": validators.get("last_modified") or None,
        "last_error": None,
    }
    _write_sidecar(folder, source.name, sidecar)  # the commit point
    # Keep the new copy and the one before it: a process that read the old provenance file a
    # moment ago may still be opening the old copy.
    keep = {Path(file_name).stem}
    if previous is not None:
        keep.add(Path(str(previous["file"])).stem)
    for old in folder.glob(f"{source.name}-*.*"):
        if old.stem not in keep:
            with contextlib.suppress(OSError):
                old.unlink()
    return UpdateResult(source.name, "unchanged" if unchanged else "updated", rules, digest)


# -- storage -----------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_sidecar(folder: Path, name: str, data: Mapping[str, Any]) -> None:
    _atomic_write(folder / f"{name}.json", json.dumps(data, indent=2).encode("utf-8"))


def _read_sidecar(folder: Path, name: str) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("list %s: unreadable provenance file (%s); ignoring the copy", name, error)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("file"), str):
        return None
    if "/" in data["file"] or "\\" in data["file"] or not isinstance(data.get("sha256"), str):
        return None
    return data


def _stored_path(folder: Path, sidecar: Mapping[str, Any]) -> Path:
    return folder / str(sidecar["file"])


def _read_stored(folder: Path, sidecar: Mapping[str, Any]) -> str | None:
    """The stored list text if it is there and matches its recorded sha256."""
    try:
        data = _stored_path(folder, sidecar).read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != sidecar.get("sha256"):
        # Files are only ever written whole (atomic replace), so this is tampering or disk damage.
        log.warning("list %s: stored copy does not match its sha256; ignoring it", sidecar["file"])
        return None
    return data.decode("utf-8-sig")


# -- status ------------------------------------------------------------------------------------


def list_status(
    data_dir: Path | str | None = None, registry: Sequence[ListSource] | None = None
) -> list[dict[str, Any]]:
    """Every registry list: whether a copy is stored, when it was fetched, how old, how big."""
    sources = list(registry) if registry is not None else load_registry()
    folder = _lists_dir(data_dir)
    now = datetime.now(UTC)
    out = []
    for source in sources:
        sidecar = _read_sidecar(folder, source.name)
        stored = sidecar is not None and _stored_path(folder, sidecar).exists()
        # Age counts from the last time upstream confirmed the copy (new bytes, same bytes or 304).
        updated = (sidecar.get("checked") or sidecar.get("fetched")) if sidecar and stored else None
        age_days: float | None = None
        if updated:
            with contextlib.suppress(ValueError):
                age = now - datetime.fromisoformat(str(updated))
                age_days = round(age.total_seconds() / 86400, 2)
        out.append(
            {
                "name": source.name,
                "title": source.title,
                "url": source.url,
                "licence": source.licence,
                "format": source.format,
                "update_days": source.update_days,
                "loaded": stored,
                "updated": updated,
                "age_days": age_days,
                "stale": age_days is None or age_days > source.update_days,
                "rules": sidecar.get("rules") if sidecar and stored else None,
                "sha256": sidecar.get("sha256") if sidecar and stored else None,
                "last_error": sidecar.get("last_error") if sidecar else None,
            }
        )
    return out


# -- matching ----------------------------------------------------------------------------------


@dataclass
class _List:
    name: str
    format: str
    engine: Any = None  # adblock.Engine, for "adblock" lists
    domains: frozenset[str] | None = None  # for "domains" lists


@dataclass
class AdblockLists:
    """`decide.ListMatcher` over the stored lists.

    Adblock-syntax lists run in adblock-rust engines (one per list, so a match names its list).
    ``domains`` lists are plain name sets matched on the URL's host and its parent domains: for
    50k names a set loads several times faster than a deserialised engine (bench/bench_dns.py).
    """

    lists: list[_List]
    build_seconds: float = 0.0  # time spent parsing adblock rules (0 when all came from cache)
    load_seconds: float = 0.0  # time spent deserialising cached engines and reading name sets
    _targets: frozenset[str] | None = field(default=None, repr=False)

    @property
    def names(self) -> list[str]:
        return [item.name for item in self.lists]

    def match(self, url: str, source_host: str | None, request_type: str = "image") -> str | None:
        """The name of the first list with a rule blocking ``url`` loaded by a mail from
        ``source_host`` (the sender's domain: it decides what ``$third-party`` means), or None.

        ``request_type`` is a `model.Kind` value or an adblock resource type; images by default,
        since nearly all mail content is images.
        """
        source_url = f"https://{source_host}/" if source_host else ""
        rtype = _REQUEST_TYPES.get(request_type, request_type)
        host: str | None = None
        for item in self.lists:
            if item.domains is not None:
                if host is None:
                    host = _url_host(url)
                if host and _listed(host, item.domains):
                    return item.name
                continue
            try:
                result = item.engine.check_network_urls(url, source_url, rtype)
            except Exception:  # noqa: BLE001 - a URL the engine cannot parse is not a match
                continue
            if result.matched and not result.exception:
                return item.name
        return None

    def extra_cname_targets(self) -> frozenset[str]:
        """Every name of the ``domains`` lists: an alias hop landing there is a tracker."""
        if self._targets is None:
            names: set[str] = set()
            for item in self.lists:
                if item.domains is not None:
                    names |= item.domains
            self._targets = frozenset(names)
        return self._targets

    def cname_target(self, hop: str) -> str | None:
        """The ``domains`` list naming ``hop`` or one of its parent domains, or None."""
        name = hop.lower().rstrip(".")
        for item in self.lists:
            if item.domains is not None and _listed(name, item.domains):
                return item.name
        return None


def _url_host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""


def _listed(host: str, names: frozenset[str]) -> bool:
    """``host`` or one of its parent domains is in ``names`` (like an adblock ``||name^`` rule)."""
    while True:
        if host in names:
            return True
        dot = host.find(".")
        if dot < 0:
            return False
        host = host[dot + 1 :]


def _engine_cache_dir(cache_dir: Path | str | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir) / "lists-engine"
    from .dnscache import default_cache_dir

    return default_cache_dir() / "lists-engine"


def load_matcher(
    data_dir: Path | str | None = None,
    cache_dir: Path | str | None = None,
    registry: Sequence[ListSource] | None = None,
) -> AdblockLists | None:
    """The stored lists as one matcher, or None when no list has been downloaded yet."""
    try:
        sources = list(registry) if registry is not None else load_registry()
    except PixelWardenError as error:
        log.warning("%s", error.message)
        return None
    folder = _lists_dir(data_dir)
    if not folder.is_dir():
        return None
    engines_dir = _engine_cache_dir(cache_dir)
    loaded: list[_List] = []
    build = load = 0.0
    for source in sources:
        sidecar = _read_sidecar(folder, source.name)
        if sidecar is None:
            continue
        if source.format == "domains":
            start = time.perf_counter()
            domains = _load_domains(folder, sidecar)
            load += time.perf_counter() - start
            if domains is not None:
                loaded.append(_List(source.name, source.format, domains=domains))
            continue
        engine, seconds, built = _load_engine(folder, sidecar, engines_dir, source.name)
        if engine is None:
            continue
        if built:
            build += seconds
        else:
            load += seconds
        loaded.append(_List(source.name, source.format, engine=engine))
    if not loaded:
        return None
    return AdblockLists(loaded, build_seconds=build, load_seconds=load)


def _load_domains(folder: Path, sidecar: Mapping[str, Any]) -> frozenset[str] | None:
    """The names of a stored ``domains`` list, via its normalised companion file when present."""
    text = _read_stored(folder, sidecar)  # verifies the sha256 of what upstream sent
    if text is None:
        return None
    names_file = _stored_path(folder, sidecar).with_suffix(".names")
    try:
        return frozenset(names_file.read_text(encoding="ascii").split())
    except (OSError, UnicodeDecodeError):
        names = frozenset(_rules(text, "domains"))
        with contextlib.suppress(OSError):
            _atomic_write(names_file, "\n".join(sorted(names)).encode("ascii"))
        return names


def _load_engine(
    folder: Path, sidecar: Mapping[str, Any], engines_dir: Path, name: str
) -> tuple[Any, float, bool]:
    """(engine or None, seconds spent, whether it was built rather than deserialised)."""
    import adblock

    key = f"{name}-{str(sidecar['sha256'])[:16]}-{adblock.__version__}.bin"
    cached = engines_dir / key
    if cached.exists():
        start = time.perf_counter()
        engine = adblock.Engine(adblock.FilterSet())
        try:
            engine.deserialize_from_file(str(cached))
            return engine, time.perf_counter() - start, False
        except Exception as error:  # noqa: BLE001 - a bad cache file is rebuilt
            log.warning("engine cache %s unreadable (%s); rebuilding", cached, error)
    text = _read_stored(folder, sidecar)
    if text is None:
        return None, 0.0, True
    start = time.perf_counter()
    filters = adblock.FilterSet()
    filters.add_filter_list(text)
    engine = adblock.Engine(filters, optimize=True)
    seconds = time.perf_counter() - start
    _save_engine(engine, engines_dir, key, name)
    return engine, seconds, True


def _save_engine(engine: Any, folder: Path, key: str, name: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        data = engine.serialize()
        _atomic_write(folder / key, data)
        for old in folder.glob(f"{name}-*.bin"):
            if old.name != key:
                with contextlib.suppress(OSError):
                    old.unlink()
    except Exception as error:  # noqa: BLE001 - the cache only saves start-up time
        log.warning("could not cache the %s engine: %s", name, error)


# -- command line ------------------------------------------------------------------------------


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`pixelwarden lists update|status` (called by cli.py)."""
    parser = commands.add_parser("lists", help="download upstream tracker lists, show their state")
    actions = parser.add_subparsers(dest="lists_command", required=True)
    update = actions.add_parser("update", help="download, validate and store the upstream lists")
    update.add_argument("names", nargs="*", metavar="NAME", help="only these lists")
    update.add_argument("--timeout", type=float, default=30.0, help="seconds per list (30)")
    update.add_argument("--json", action="store_true", help="JSON Lines, one object per list")
    update.set_defaults(func=_cmd_update)
    status = actions.add_parser("status", help="which lists are stored, and how old they are")
    status.add_argument("--json", action="store_true", help="a JSON array")
    status.set_defaults(func=_cmd_status)


def _cmd_update(args: argparse.Namespace) -> int:
    results = update_lists(timeout=args.timeout, names=args.names or None)
    known = {r.name for r in results}
    for name in args.names or ():
        if name not in known:
            print(f"unknown list {name!r}", file=sys.stderr)
            return 2
    for result in results:
        if args.json:
            print(json.dumps(result.to_json()))
        elif result.ok:
            print(f"{result.name}: {result.status}, {result.rules} rules")
        else:
            assert result.error is not None
            kept = f"; keeping the copy of {result.kept}" if result.kept else "; no copy in use"
            print(
                f"{result.name}: failed ({result.error['code']}: {result.error['message']}){kept}"
            )
    return 0 if all(r.ok for r in results) else 1


def _cmd_status(args: argparse.Namespace) -> int:
    rows = list_status()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        if row["loaded"]:
            state = f"{row['rules']} rules, fetched {row['updated']} ({row['age_days']} days ago)"
            if row["stale"]:
                state += f", older than its {row['update_days']:g}-day update period"
        else:
            state = "not downloaded (run `pixelwarden lists update`)"
        print(f"{row['name']}: {state}")
        print(f"    {row['url']}  [{row['licence']}]")
        if row["last_error"]:
            err = row["last_error"]
            print(
                f"    last update failed {err.get('at')}: {err.get('code')}: {err.get('message')}"
            )
    return 0
