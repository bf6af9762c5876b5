"""Open-pixel heuristics: judge an image from its context and the shape of its URL alone.

Never fetches anything (a HEAD request to learn the real size would itself be the open event).
The signals are general, so that a sender who changes its markup next month is still caught:
- size: declared ≤ 2 px both ways (or one side ≤ 1 px and the other undeclared);
- visibility: hidden on itself or an ancestor;
- URL shape: a per-recipient token (a long random-looking path segment or query value), a query at
  all, or a tracking path word (open, track, pixel, beacon...).
A tiny or hidden image that carries one of those URL signals is an open pixel. An image with no
declared size at all is only a beacon when its URL is strongly tracker-shaped (a tracking word AND a
token), which catches beacons without size attributes (MailTrackerBlocker #89) without calling every
undeclared logo a tracker. Static spacers (`spacer.gif`, no query, no token) and dividers (600×1)
are not pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from .model import Kind, Reason, Reference

# Path words that name an open-tracking endpoint. Matched against whole path segments (file name
# without extension included), so "/open/" or "open.php" count, "/opening-hours.png" does not.
_TRACKING_WORDS = frozenset(
    {
        "open", "opens", "o", "oo", "op", "eo", "track", "tracking", "trk", "tr", "trace",
        "pixel", "pxl", "px", "beacon", "beacons", "wf", "imp", "impression", "impressions",
        "emimp", "view", "viewed", "read", "receipt", "openlog", "log", "ping", "collect",
        "t", "e2t", "on", "mo", "emailopen", "email_open", "open_pixel", "openpixel",
        "email_open_log_pic", "spacer_track", "counter", "stat", "stats", "analytics",
    }
)  # fmt: skip

# Words strong enough to call an image of unknown size a beacon when a token rides along.
_STRONG_RE = re.compile("open|track|pixel|beacon|trk|emimp|impression")

_STATIC_NAMES = frozenset(
    {"spacer", "blank", "clear", "transparent", "trans", "pixel_blank", "s", "spc", "shim", "1x1"}
)

# A token is a run that is long and random-looking: what a per-recipient id looks like.
_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
_TOKENISH = re.compile(r"^[A-Za-z0-9_\-.=+/%~]{16,}$")
_SEGMENT_SPLIT = re.compile(r"[/&;,]")


def looks_like_token(value: str) -> bool:
    """A per-recipient identifier: long, and mixes character classes the way random ids do."""
    value = unquote(value)
    if len(value) < 12:
        # Short numeric ids still identify a recipient when long enough (9+ digits).
        return value.isdigit() and len(value) >= 9
    if _UUID.search(value) or _HEX.match(value):
        return True
    alnum = [c for c in value if c.isalnum()]
    if len(alnum) >= 9 and all(c.isdigit() for c in alnum):
        return True
    if not _TOKENISH.match(value):
        return False
    # Random ids switch between digits, upper and lower case all the time; words, slugs,
    # "collection_2024" and CamelCase names switch a few times.
    changes = _class_changes(alnum)
    return changes >= 7 or (changes >= 4 and any(c.isdigit() for c in alnum))


def _class_changes(chars: list[str]) -> int:
    """Digit/letter switches plus lower-to-upper ones (CamelCase words switch upper-to-lower)."""
    changes = 0
    for a, b in zip(chars, chars[1:], strict=False):
        if a.isdigit() != b.isdigit() or (a.islower() and b.isupper()):
            changes += 1
    return changes


def _is_static_name(stem: str) -> bool:
    """A file named like a layout spacer ("spacer", "greypixel"): the same bytes for everyone."""
    if stem in _STATIC_NAMES:
        return True
    return (
        stem.endswith("pixel") and stem.isalpha() and not any(w in stem for w in ("open", "track"))
    )


@dataclass(frozen=True, slots=True)
class UrlShape:
    has_query: bool
    has_token: bool
    tracking_word: bool
    strong_word: bool
    static_name: bool


def url_shape(url: str) -> UrlShape:
    try:
        parts = urlsplit(url)
    except ValueError:
        return UrlShape(False, False, False, False, False)
    segments, strong_word, tracking_word, static_name = _path_signals(parts.path, parts.query)
    has_token = _has_token(segments, parts.query, parts.fragment)
    return UrlShape(bool(parts.query), has_token, tracking_word, strong_word, static_name)


def _path_signals(path: str, query: str) -> tuple[list[str], bool, bool, bool]:
    """(path segments, strong word, tracking word, static name): the cheap part of the shape."""
    segments = [s for s in path.split("/") if s]
    stems = [s.rsplit(".", 1)[0].lower() for s in segments]
    strong_word = _STRONG_RE.search(path.lower()) is not None
    tracking_word = strong_word or not _TRACKING_WORDS.isdisjoint(stems)
    static_name = bool(stems) and _is_static_name(stems[-1]) and not query
    return segments, strong_word, tracking_word, static_name


def _has_token(segments: list[str], query: str, fragment: str) -> bool:
    """A per-recipient token in a path segment, a query value or the fragment."""
    if any(looks_like_token(s) for s in segments):
        return True
    if query and any(looks_like_token(v) for _, v in parse_qsl(query, keep_blank_values=True)):
        return True
    if fragment:
        return any(looks_like_token(v) for v in _SEGMENT_SPLIT.split(fragment))
    return False


def is_tiny(ref: Reference) -> bool:
    w, h = ref.width, ref.height
    if w is not None and h is not None:
        return w <= 2 and h <= 2
    # One side of a pixel declared, the other left to the (1×1) image itself.
    return (w is not None and w <= 1 and h is None) or (h is not None and h <= 1 and w is None)


def judge(ref: Reference) -> str | None:
    """The pixel reason for an image reference, or None when it looks like content."""
    if ref.kind is not Kind.IMAGE:
        return None
    tiny = is_tiny(ref)
    hidden = ref.hidden
    unsized = ref.width is None and ref.height is None
    if not (tiny or hidden or unsized):
        return None  # a visible image with a real declared size: content, whatever its URL
    # The rules of `url_shape`, with the token search (the costly part) done only when the
    # answer depends on it.
    url = ref.url
    if not (tiny or hidden) and _STRONG_RE.search(url.lower()) is None and _IN_PLACE(url):
        return None  # unsized and visible needs a strong word in the path: none anywhere
    try:
        parts = urlsplit(url)
    except ValueError:
        return None  # no signal at all
    query = parts.query
    if not (tiny or hidden) and _STRONG_RE.search(parts.path.lower()) is None:
        return None  # unsized and visible: without a strong word it is no beacon, static or not
    segments, strong_word, tracking_word, static_name = _path_signals(parts.path, query)
    if static_name:  # a spacer's name: content, unless a token rides along
        if not _has_token(segments, query, parts.fragment):
            return None
        if tiny:
            return _OPEN_PIXEL
        if hidden:
            return _HIDDEN_IMAGE
        return _BEACON if strong_word else None  # unsized, the only case left
    if tiny or hidden:
        if query or tracking_word or _has_token(segments, query, parts.fragment):
            return _OPEN_PIXEL if tiny else _HIDDEN_IMAGE
        return None  # no signal, so no token for a beacon either
    # Unsized and visible: a beacon needs a strong word and a token.
    if strong_word and _has_token(segments, query, parts.fragment):
        return _BEACON
    return None


# urlsplit drops tab, CR and LF anywhere in a URL; without them its path is a slice of the URL.
_IN_PLACE = re.compile(r"[^\t\r\n]*").fullmatch

_OPEN_PIXEL = Reason.OPEN_PIXEL.value
_HIDDEN_IMAGE = Reason.HIDDEN_IMAGE.value
_BEACON = Reason.BEACON.value
