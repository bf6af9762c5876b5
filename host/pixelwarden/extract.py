"""Every remote reference Thunderbird could fetch while displaying an HTML message.

The reader is lxml's HTML parser in streaming target mode (no tree): measured as fast as Lexbor
and, unlike lxml's tree mode, it does not drop content below nesting depth 256 (tree mode stops
with "Excessive depth" and silently loses the rest of the document). libxml2 ≥ 2.14 tokenizes
HTML the HTML5 way (comments, ``<!-->``, raw-text elements, entities), which is what decides
whether markup is live or inert. Where libxml2's tree rules still differ from a browser's in a
way that could hide a fetch, the reader errs on the side of reporting:

* raw-text elements inside SVG/MathML (``<svg><style><img src=…>``) are markup in HTML5, so
  their text is parsed again as HTML;
* ``<template>`` content is inert (never fetched) and is skipped;
* ``<noscript>`` content is parsed as markup, as Thunderbird runs no scripts in messages.

Cost is kept linear: the input is fed in chunks; libxml2 scans its whole element stack for an end
tag that matches nothing open (quadratic for 100k nested elements followed by 100k stray end
tags), so chunks whose worst case exceeds a budget are fed end tag by end tag and end tags that
close nothing near the top of the stack are neutralised. libxml2 < 2.14 (lxml < 6) also checks
attributes quadratically; there, absurd tags are reduced first. A wall-clock deadline is checked
between chunks, and input above ``MAX_HTML_BYTES`` is refused. lxml ≥ 6 is required for the
HTML5 tokenizer (with lxml 5.3, ``</>``, ``<img/src=…>`` and NUL bytes are read differently
from a browser).
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from html import unescape as _html_unescape
from urllib.parse import quote, unquote

from lxml import etree

from .css import CssUrl, find_urls, length_px, parse_declarations
from .model import Extraction, Kind, PixelWardenError, Reference

try:  # the reader's hot path in C (built with the package when a C compiler is at hand)
    from . import _native  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the installation
    _native = None

MAX_HTML_BYTES = 16 * 1024 * 1024  # larger bodies are refused ("too_large")
MAX_PARSE_SECONDS = 10.0  # wall-clock safety net; linear parsing of 16 MiB stays well below

_CHUNK = 8192  # characters fed to libxml2 at a time
# Worst-case stack comparisons libxml2 may make for one chunk (end tags × stack depth) before the
# chunk is fed with the end-tag guard. A normal newsletter chunk stays around 1e5.
_END_TAG_BUDGET = 250_000
_END_TAG_WINDOW = 256  # an end tag is kept when it closes one of the top elements of the stack
_REPARSE_LIMIT = 4  # nesting of re-parsed raw text (svg > style > svg > style ...)

# Element state, inherited by descendants.
_HIDDEN = 1  # display:none, opacity:0, hidden attribute, clipped to zero: no descendant undoes it
_VIS_HIDDEN = 2  # visibility:hidden/collapse: a descendant may say visibility:visible again
_QUOTED = 4  # inside a quoted or forwarded part
_INERT = 8  # inside <template>: nothing is fetched or rendered
_NO_TEXT = 16  # script, style, title, ...: the text is not shown
_FOREIGN = 32  # inside <svg> or <math>
_ANY_HIDDEN = _HIDDEN | _VIS_HIDDEN
_SKIP_TEXT = _ANY_HIDDEN | _INERT | _NO_TEXT

_TAG_STATES = {
    **dict.fromkeys(("script", "style", "title", "iframe", "noembed", "noframes"), _NO_TEXT),
    "template": _INERT | _NO_TEXT,
    "svg": _FOREIGN,
    "math": _FOREIGN,
}
# libxml2 reads the content of these as text; inside SVG/MathML a browser reads it as markup.
_RAW_TEXT_ELEMENTS = frozenset(
    {
        "style",
        "script",
        "title",
        "textarea",
        "xmp",
        "iframe",
        "noembed",
        "noframes",
        "plaintext",
        "noscript",
    }
)
_SVG_URL_ATTRIBUTES = (
    "fill",
    "stroke",
    "filter",
    "mask",
    "clip-path",
    "marker-start",
    "marker-mid",
    "marker-end",
    "cursor",
)
_BACKGROUND_ELEMENTS = frozenset({"body", "table", "td", "th", "tr", "thead", "tbody", "tfoot"})
_QUOTE_CLASSES = (
    "gmail_quote",
    "moz-cite-prefix",
    "moz-forward-container",
    "yahoo_quoted",
    "protonmail_quote",
    "zmail_extra",
    "outlookmessageheader",
)
# Elements after which the rest of the message is the quoted or forwarded part (Outlook).
_QUOTE_REST_IDS = frozenset({"divrplyfwdmsg", "appendonsend"})
# Separator lines of replies and forwards (several mail clients and languages). The words may be
# split by &nbsp;, which also splits libxml2's text events: matched on a rolling tail of text.
_QUOTE_PHRASES = (
    "original message",
    "forwarded message",
    "weitergeleitete nachricht",
    "urspr(?:ü|ue)ngliche nachricht",
    "message d'origine",
    "message transf[ée]r[ée]",
    "mensaje original",
    "mensaje reenviado",
    "messaggio originale",
    "messaggio inoltrato",
    "oorspronkelijk bericht",
    "doorgestuurd bericht",
    "mensagem original",
)
_QUOTE_MARKER = re.compile(
    r"-{2,}[\s\xa0]*(?:"
    + "|".join(p.replace(" ", r"[\s\xa0]+") for p in _QUOTE_PHRASES)
    + r")[\s\xa0]*-{2,}|begin[\s\xa0]+forwarded[\s\xa0]+message:",
    re.IGNORECASE,
)
_BODY_START = re.compile(r"<body", re.IGNORECASE)
_BODY_TAG = re.compile(r"<body(?=[\s/>])(?:[^>\"']++|\"[^\"]*+\"?|'[^']*+'?)*+>?", re.IGNORECASE)
_END_TAG = re.compile(r"</([A-Za-z][^\s/>]*)")
_DIMENSION = re.compile(r"[ \t\n\f\r]*([0-9]+(?:\.[0-9]*)?)(%?)")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_CLEAN_URL = re.compile(r"https?://([a-z0-9\-.]+)/[!$%&()*+,\-./0-9:;=?@A-Z\[\]^_a-z|~]*")
_ENDS_IN_NUMBER = re.compile(r"(?:^|\.)(?:[0-9]+|0[xX][0-9a-fA-F]*)\.?$")
_USERINFO_SAFE = "!$%&'()*+,-._~"
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# WHATWG percent-encode sets (path; query of a special URL), as the characters left alone.
_PATH_SAFE = "!$%&'()*+,-./:;=@[]^_|~"
_QUERY_SAFE = "!$%&()*+,-./:;=?@[\\]^_`{|}~"
_NEEDS_ENCODING = re.compile(r"[^\x21-\x7e]|[\"<>`{}]")
_QUERY_NEEDS_ENCODING = re.compile(r"[^\x21-\x7e]|[\"<>']")
# WHATWG forbidden domain code points (after percent-decoding): such a host is not fetched.
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
_LINK_IMAGE_RELS = frozenset(
    {"icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon", "image_src"}
)
_PRELOAD_RELS = frozenset({"preload", "prefetch", "modulepreload", "prerender"})
_PRELOAD_KINDS = {
    "image": Kind.IMAGE,
    "style": Kind.STYLESHEET,
    "font": Kind.FONT,
    "audio": Kind.MEDIA,
    "video": Kind.MEDIA,
    "document": Kind.FRAME,
    "iframe": Kind.FRAME,
    "embed": Kind.OBJECT,
    "object": Kind.OBJECT,
}
_CSS_KINDS = {"url": Kind.IMAGE, "import": Kind.STYLESHEET, "font-face": Kind.FONT}
_CSS_ATTRIBUTES = {"url": "url()", "import": "@import", "font-face": "@font-face"}


# A reference as written, before <base> is known: the fields of `Reference` (url, kind, element,
# attribute, width, height, hidden, quoted, via=None), so that it becomes a Reference as it is.
_Raw = tuple[str, Kind, str, str, int | None, int | None, bool, bool, None]


@dataclass(slots=True)
class _Found:
    """What every reader of one document (the main one and the re-parsed raw texts) adds to."""

    deadline: float
    raws: list[_Raw] = field(default_factory=list)
    base: str | None = None
    text: list[str] = field(default_factory=list)  # visible text, in document order
    image_count: int = 0
    bodies: int = 0  # <body> tags with attributes that libxml2 reported
    quoted_rest: bool = False  # a forward/reply marker was seen: the rest is quoted
    # Hiding rules of the message's own stylesheets: (tag or "", class or "#id") → state bits.
    hiding_rules: dict[tuple[str, str], int] = field(default_factory=dict)
    hiding_cache: dict[tuple[str, str, str], int] = field(default_factory=dict)
    warnings: dict[str, None] = field(default_factory=dict)


# What an idle reader points at, so that it keeps nothing of the last message alive.
_NO_DOCUMENT = _Found(deadline=0.0)


class _Reader:
    """lxml parser target: keeps a stack of element states and records references.

    Hot path: start/end/data run once per element or text node, so they stay lean; anything
    rarer (URL-bearing elements, hiding styles, quote markers) is handed off to helpers.
    """

    def __init__(self, found: _Found, inherited: int = 0, nesting: int = 0) -> None:
        # One parser per reader, kept with it in the idle pool (`_read`): a new lxml target
        # parser inspects the target's methods on its first feed, which costs ten times the
        # parse of a short message.
        self.parser: etree.HTMLParser
        if NATIVE:
            self.parser = _native.Parser(target=self)  # the same libxml2, same options (_native.c)
        else:
            self.parser = etree.HTMLParser(
                target=self,
                recover=True,
                no_network=True,
                remove_comments=True,
                remove_pis=True,
                huge_tree=True,
                default_doctype=False,
            )
        self.reset(found, inherited, nesting)

    def reset(self, found: _Found, inherited: int = 0, nesting: int = 0) -> None:
        self.found = found
        self.nesting = nesting
        self.tags: list[str] = ["#document"]
        self.states: list[int] = [inherited]
        self.collect: list[str] | None = None  # text of the open raw-text element, if wanted
        self.collect_depth = -1
        self.collect_css = False
        self.collect_markup = False

    # -- lxml target interface ---------------------------------------------------------------

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        states = self.states
        parent = states[-1]
        found = self.found
        state = parent | _QUOTED if found.quoted_rest else parent
        special = _SPECIAL.get(tag)  # None for the common div/p/span/a/font/...
        if special is not None:
            state |= special[0]
        style = None
        if attrib:
            style = attrib.get("style")
            if style is not None:
                known = _STYLES.get(style)
                if known is None:
                    known = _style_facts(style)
                hides, shows, may_fetch = known
                if hides or shows:
                    state = (state | hides) & ~shows
                if not may_fetch:
                    style = None
            if "hidden" in attrib:
                state |= _HIDDEN
            if not state & _QUOTED:
                cls = attrib.get("class")
                if cls is not None:
                    quote_class = _CLASSES.get(cls)
                    if quote_class is None:
                        quote_class = _quote_class(cls)
                else:
                    quote_class = False
                if quote_class or "id" in attrib or tag == "blockquote":
                    state |= self._quoting(tag, attrib)
            if found.hiding_rules and ("class" in attrib or "id" in attrib):
                state |= self._rule_hiding(tag, attrib)
        self.tags.append(tag)
        states.append(state)
        if state & _INERT:
            return
        if special is not None:
            if special[2] and self.collect is None:
                self._raw_text_start(tag, parent)
            handler = special[1]
            if handler is not None and attrib and (not special[3] or special[3] in attrib):
                handler(self, tag, attrib, state, None)
        if style:
            self._style_urls(tag, attrib, style, state, None)
        if state & _FOREIGN and attrib:
            self._presentation_urls(tag, attrib, state)

    def end(self, tag: str) -> None:
        tags = self.tags
        if tags[-1] == tag and (self.collect is None or len(tags) - 1 != self.collect_depth):
            tags.pop()
            self.states.pop()
            return
        # libxml2 reports balanced events; stay safe (and bounded) if it ever does not.
        if tag in tags[-_END_TAG_WINDOW:]:
            while len(tags) > 1 and tags[-1] != tag:
                self._pop()
            if len(tags) > 1:
                self._pop()

    def data(self, text: str) -> None:
        if self.collect is not None:
            self.collect.append(text)  # style text, or raw text to read again as markup
        elif not self.states[-1] & _SKIP_TEXT:
            found = self.found
            found.text.append(text)
            if "-" in text or ":" in text:
                tail = found.text[-8:]
                if _QUOTE_MARKER.search("".join(tail)[-120:]):
                    found.quoted_rest = True

    def close(self) -> None:
        while len(self.tags) > 1:
            self._pop()

    # -- state ---------------------------------------------------------------------------------

    def _pop(self) -> None:
        if len(self.tags) - 1 == self.collect_depth:
            self._finish_raw_text(self.tags[-1], self.states[-1])
        self.tags.pop()
        self.states.pop()

    def _quoting(self, tag: str, attrib: Mapping[str, str]) -> int:
        if tag == "blockquote" and attrib.get("type", "").strip().lower() == "cite":
            return _QUOTED
        cls = attrib.get("class")
        if cls and ("quot" in cls or "moz-" in cls or "extra" in cls or "Outlook" in cls):
            lowered = cls.lower()
            if any(name in lowered for name in _QUOTE_CLASSES):
                return _QUOTED
        ident = attrib.get("id")
        if ident and ident.strip().lower() in _QUOTE_REST_IDS:
            self.found.quoted_rest = True
            return _QUOTED
        return 0

    def _rule_hiding(self, tag: str, attrib: Mapping[str, str]) -> int:
        """State bits from the stylesheets' simple hiding rules (.class, tag.class, #id) that
        match this element; an inline display or visibility of its own takes precedence."""
        key = (tag, attrib.get("class", ""), attrib.get("id", ""))
        found = self.found
        bits = found.hiding_cache.get(key)
        if bits is None:
            rules = found.hiding_rules
            bits = 0
            names = key[1].split()
            if key[2]:
                names.append("#" + key[2].strip())
            for name in names:
                bits |= rules.get(("", name), 0) | rules.get((tag, name), 0)
            found.hiding_cache[key] = bits
        if bits:
            own = attrib.get("style", "").lower()
            if "display" in own:
                bits &= ~_HIDDEN
            if "visibility" in own:
                bits &= ~_VIS_HIDDEN
        return bits

    def _raw_text_start(self, tag: str, parent: int) -> None:
        markup = bool(parent & _FOREIGN)
        if tag == "style" or markup:
            self.collect = []
            self.collect_depth = len(self.tags) - 1
            self.collect_css = tag == "style"
            self.collect_markup = markup

    def _presentation_urls(self, tag: str, attrib: Mapping[str, str], state: int) -> None:
        """SVG presentation attributes (fill="url(…)", filter, mask, ...) may name an external
        resource document."""
        for name in _SVG_URL_ATTRIBUTES:
            value = attrib.get(name)
            if value and ("url" in value.lower() or "\\" in value):
                for item in _css_urls(value, self.found.deadline):
                    self._add(item.url, Kind.IMAGE, tag, name, state, None, None)

    def _style_urls(
        self,
        tag: str,
        attrib: Mapping[str, str],
        style: str,
        state: int,
        decls: dict[str, str] | None,
    ) -> None:
        width, height = _size(attrib, decls)
        items = _STYLE_URLS.get(style)
        if items is None:
            items = tuple(_css_urls(style, self.found.deadline))
            if len(style) <= _STYLE_URLS_LONGEST:
                if len(_STYLE_URLS) >= _STYLES_MAX:
                    _STYLE_URLS.clear()
                _STYLE_URLS[style] = items
        for item in items:
            self._add(item.url, _CSS_KINDS[item.context], tag, "style", state, width, height)

    def _finish_raw_text(self, tag: str, state: int) -> None:
        text = "".join(self.collect or ())
        self.collect = None
        self.collect_depth = -1
        if self.collect_css:
            urls, rules = _stylesheet(text, self.found.deadline)
            for item in urls:
                self._add(
                    item.url,
                    _CSS_KINDS[item.context],
                    tag,
                    _CSS_ATTRIBUTES[item.context],
                    state & ~_ANY_HIDDEN,
                    None,
                    None,
                )
        if self.collect_markup and "<" in text:
            self._reparse(text, tag, state & ~_NO_TEXT)
        if self.collect_css and not state & _FOREIGN:
            _add_hiding_rules(rules, self.found)

    def _reparse(self, text: str, tag: str, state: int) -> None:
        if self.nesting >= _REPARSE_LIMIT:
            # Too deep to parse again (each level could cost a full pass): a conservative
            # scan instead, through every layer of entity encoding (srcdoc in srcdoc ...).
            self.found.warnings["reparse_limit"] = None
            for _ in range(32):
                decoded = _decode_entities(text)
                if decoded == text:
                    break
                text = decoded
            for attribute, url in _scan_attributes(text, self.found.deadline):
                self._add(url, Kind.OTHER, tag, attribute, state, None, None)
            return
        _read(text, self.found, state, self.nesting + 1)

    # -- references ----------------------------------------------------------------------------

    def _add(
        self,
        url: str,
        kind: Kind,
        element: str,
        attribute: str,
        state: int,
        width: int | None,
        height: int | None,
    ) -> None:
        self.found.raws.append(
            (
                url,
                kind,
                element,
                attribute,
                width,
                height,
                bool(state & _ANY_HIDDEN),
                bool(state & _QUOTED),
                None,
            )
        )

    def _attributes(
        self,
        tag: str,
        attrib: Mapping[str, str],
        state: int,
        decls: dict[str, str] | None,
        wanted: Iterable[tuple[str, Kind]],
    ) -> None:
        size: tuple[int | None, int | None] | None = None
        for name, kind in wanted:
            value = attrib.get(name)
            if value is None:
                continue
            if size is None:
                size = _size(attrib, decls)
            urls = _srcset(value) if name.endswith("srcset") else (value,)
            for url in urls:
                self._add(url, kind, tag, name, state, size[0], size[1])


def _css_urls(css: str, deadline: float, depth: int = 0) -> list[CssUrl]:
    """CSS URLs, without fragment-only ones (url(#id) names something in this document: an SVG
    gradient, filter or mask, even under a <base href>), and with the URLs of stylesheets
    written inline as data: URLs (@import url("data:text/css,…")), which load like any other."""
    found: list[CssUrl] = []
    for item in find_urls(css, deadline):
        if item.url.lstrip().startswith("#"):
            continue
        inner = _data_stylesheet(item.url) if item.context == "import" else None
        if inner is not None and depth < _REPARSE_LIMIT:
            found.extend(_css_urls(inner, deadline, depth + 1))
        else:
            found.append(item)
    return found


_DATA_CSS = re.compile(r"\s*data:\s*text/css[^,]*,", re.IGNORECASE)


def _data_stylesheet(url: str) -> str | None:
    """The text of a data:text/css URL, or None."""
    m = _DATA_CSS.match(url)
    return None if m is None else _data_body(url[: m.end()], url[m.end() :])


def _data_body(header: str, body: str) -> str | None:
    if ";base64" in header.lower():
        try:
            raw = base64.b64decode(re.sub(r"[^A-Za-z0-9+/]", "", body) + "===", validate=False)
        except ValueError:
            return None
        return raw.decode("utf-8", "replace")
    return unquote(body, errors="replace")


# -- element handlers -------------------------------------------------------------------------


def _img(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    r.found.image_count += 1
    src = a.get("src")
    srcset = a.get("srcset")
    if src is None and srcset is None:
        return
    width, height = _size(a, d)
    hidden = bool(s & _ANY_HIDDEN)
    quoted = bool(s & _QUOTED)
    raws = r.found.raws
    if src is not None:
        raws.append((src, Kind.IMAGE, tag, "src", width, height, hidden, quoted, None))
    if srcset is not None:
        for url in _srcset(srcset):
            raws.append((url, Kind.IMAGE, tag, "srcset", width, height, hidden, quoted, None))


def _image(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    # Outside SVG, the HTML parser turns <image> into <img>; inside, it is SVG's <image href>.
    if "src" in a and not s & _FOREIGN:
        _img(r, "img", a, s, d)
    r._attributes(tag, a, s, d, (("href", Kind.IMAGE), ("xlink:href", Kind.IMAGE)))


def _input(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    if a.get("type", "").strip().lower() == "image":
        r.found.image_count += 1
        r._attributes(tag, a, s, d, (("src", Kind.IMAGE),))


def _source(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    wanted: list[tuple[str, Kind]] = [("srcset", Kind.IMAGE)]
    if r.tags[-2] in ("video", "audio"):
        wanted.append(("src", Kind.MEDIA))
    r._attributes(tag, a, s, d, wanted)


def _media(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    r._attributes(tag, a, s, d, (("src", Kind.MEDIA), ("poster", Kind.IMAGE)))


def _track(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    r._attributes(tag, a, s, d, (("src", Kind.OTHER),))


def _frame(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    r._attributes(tag, a, s, d, (("src", Kind.FRAME),))
    # A document inside the frame loads its own resources: srcdoc, or a data: URL document.
    srcdoc = a.get("srcdoc")
    if srcdoc is not None and tag == "iframe":
        r._reparse(srcdoc, tag, s & ~_NO_TEXT)
    _embedded_document(r, tag, a.get("src"), s)


def _object(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    r._attributes(tag, a, s, d, (("data", Kind.OBJECT),))
    _embedded_document(r, tag, a.get("data"), s)


def _embed(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    r._attributes(tag, a, s, d, (("src", Kind.OBJECT),))
    _embedded_document(r, tag, a.get("src"), s)


_DATA_DOCUMENT = re.compile(
    r"\s*data:\s*(?:text/html|image/svg\+xml|application/xhtml\+xml)[^,]*,", re.IGNORECASE
)


def _embedded_document(r: _Reader, tag: str, url: str | None, state: int) -> None:
    """<iframe src="data:text/html,…"> (or an SVG document) is rendered, and fetches what it
    names: read it like the message itself."""
    if not url or len(url) < 6 or url[:6].lower().lstrip()[:5] != "data:":
        return
    m = _DATA_DOCUMENT.match(url)
    if m is None:
        return
    document = _data_body(url[: m.end()], url[m.end() :])
    if document is not None:
        r._reparse(document, tag, state & ~_NO_TEXT)


def _svg_image(
    r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None
) -> None:
    r._attributes(tag, a, s, d, (("href", Kind.IMAGE), ("xlink:href", Kind.IMAGE)))


def _svg_use(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    wanted = [
        (name, Kind.OTHER)
        for name in ("href", "xlink:href")
        if not a.get(name, "#").strip().startswith("#")  # "#id": this document
    ]
    r._attributes(tag, a, s, d, wanted)


def _background(
    r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None
) -> None:
    if "background" in a:
        r._attributes(tag, a, s, d, (("background", Kind.IMAGE),))


def _body(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    r.found.bodies += 1
    _background(r, tag, a, s, d)


def _link(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    rels = set(a.get("rel", "").lower().split())
    if not rels:
        return
    kind: Kind | None = None
    if "stylesheet" in rels:
        kind = Kind.STYLESHEET
    elif rels & _LINK_IMAGE_RELS:
        kind = Kind.IMAGE
    elif rels & _PRELOAD_RELS:
        kind = _PRELOAD_KINDS.get(a.get("as", "").strip().lower(), Kind.OTHER)
        if kind is Kind.IMAGE:
            r._attributes(tag, a, s, d, (("imagesrcset", Kind.IMAGE),))
    if kind is not None:
        r._attributes(tag, a, s, d, (("href", kind),))
    css = _data_stylesheet(a.get("href", "")) if kind is Kind.STYLESHEET else None
    if css is not None:  # <link rel=stylesheet href="data:text/css,…">: its URLs load
        for item in _css_urls(css, r.found.deadline):
            r._add(item.url, _CSS_KINDS[item.context], tag, "href", s, None, None)


# <meta http-equiv="Link" content="<https://x/s.css>; rel=stylesheet">: Gecko's content sink
# reads it like an HTTP Link header.
_LINK_HEADER = re.compile(r"<([^>]*)>((?:[^,<\"]++|\"[^\"]*+\"?)*+)")
_LINK_REL = re.compile(r"""\brel\s*=\s*(?:"([^"]*)"|([^;,\s]*))""", re.IGNORECASE)
_LINK_AS = re.compile(r"""\bas\s*=\s*(?:"([^"]*)"|([^;,\s]*))""", re.IGNORECASE)


def _meta(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    if a.get("http-equiv", "").strip().lower() != "link":
        return
    for m in _LINK_HEADER.finditer(a.get("content", "")):
        rel = _LINK_REL.search(m.group(2))
        as_ = _LINK_AS.search(m.group(2))
        link = {
            "rel": (rel.group(1) or rel.group(2) or "") if rel else "",
            "as": (as_.group(1) or as_.group(2) or "") if as_ else "",
            "href": m.group(1),
        }
        _link(r, "meta", link, s, None)


def _mglyph(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    r._attributes(tag, a, s, d, (("src", Kind.IMAGE),))


def _base(r: _Reader, tag: str, a: Mapping[str, str], s: int, d: dict[str, str] | None) -> None:
    href = a.get("href")
    if href is not None and r.found.base is None:
        r.found.base = href


_Handler = Callable[["_Reader", str, Mapping[str, str], int, "dict[str, str] | None"], None]
_HANDLERS: dict[str, _Handler] = {
    "img": _img,
    "image": _image,
    "input": _input,
    "source": _source,
    "video": _media,
    "audio": _media,
    "track": _track,
    "iframe": _frame,
    "frame": _frame,
    "object": _object,
    "embed": _embed,
    "feimage": _svg_image,
    "use": _svg_use,
    "link": _link,
    "base": _base,
    "meta": _meta,
    "mglyph": _mglyph,
    **{name: _background for name in _BACKGROUND_ELEMENTS},
    "body": _body,
}

# tag → (state bits it adds, handler of its URL attributes, whether libxml2 reads it as raw text,
# the attribute without which the handler has nothing to do or "": table cells are common and
# rarely have a background attribute)
_SPECIAL: dict[str, tuple[int, _Handler | None, bool, str]] = {
    tag: (
        _TAG_STATES.get(tag, 0),
        _HANDLERS.get(tag),
        tag in _RAW_TEXT_ELEMENTS,
        "background" if _HANDLERS.get(tag) is _background else "",
    )
    for tag in (*_TAG_STATES, *_HANDLERS, *_RAW_TEXT_ELEMENTS)
}


# -- CSS and attribute values -----------------------------------------------------------------


# Newsletters repeat the same style attributes hundreds of times, and a sender's next message
# repeats them again: remember what each one says (bounded, cleared when full).
_STYLES: dict[str, tuple[int, int, bool]] = {}
_STYLES_MAX = 8192


def _style_facts(style: str) -> tuple[int, int, bool]:
    """What a style attribute does to the element's state: (state bits it sets, state bits it
    clears, whether it may fetch something)."""
    s = style.lower()
    hides, shows = _hiding(_declarations(style)) if _may_hide(s) else (0, 0)
    facts = (hides, shows, "url(" in s or "image-set" in s or "\\" in s)
    if len(_STYLES) >= _STYLES_MAX:
        _STYLES.clear()
    _STYLES[style] = facts
    return facts


def _may_hide(lowered: str) -> bool:
    """Whether declarations (lower-cased) could say anything _hiding looks at."""
    return (
        ("none" in lowered and "display" in lowered)
        or "visib" in lowered
        or "opacity" in lowered
        or ("overflow" in lowered and ("hidden" in lowered or "clip" in lowered))
        or ("position" in lowered and "-" in lowered)
        or "\\" in lowered
    )


def _declarations(style: str) -> dict[str, str]:
    """parse_declarations, remembered like _STYLES (the result is shared: never modify it)."""
    decls = _DECLARATIONS.get(style)
    if decls is None:
        decls = parse_declarations(style)
        if len(_DECLARATIONS) >= _STYLES_MAX:
            _DECLARATIONS.clear()
        _DECLARATIONS[style] = decls
    return decls


_DECLARATIONS: dict[str, dict[str, str]] = {}
# The CSS URLs of style attributes that may fetch (remembered like _STYLES; short ones only).
_STYLE_URLS: dict[str, tuple[CssUrl, ...]] = {}
_STYLE_URLS_LONGEST = 2048  # below 4096 steps: the deadline is never checked


_CLASSES: dict[str, bool] = {}


def _quote_class(cls: str) -> bool:
    """Whether a class attribute may name a quoted part (remembered: classes repeat)."""
    known = _CLASSES.get(cls)
    if known is None:
        lowered = cls.lower()
        known = any(name in lowered for name in _QUOTE_CLASSES)
        if len(_CLASSES) >= _STYLES_MAX:
            _CLASSES.clear()
        _CLASSES[cls] = known
    return known


# Declared sizes by (width, height, style) attributes (see _size); read by the C reader too.
_SIZES: dict[tuple[str | None, str | None, str | None], tuple[int | None, int | None]] = {}


def _size_of(key: tuple[str | None, str | None, str | None]) -> tuple[int | None, int | None]:
    """`_size` of an element whose width, height and style attributes are ``key`` (None: absent),
    for the C reader, which has the attribute values and no dict of them."""
    names = ("width", "height", "style")
    attrib = {name: value for name, value in zip(names, key, strict=True) if value is not None}
    return _size(attrib, None)


def lxml_requested(env: Mapping[str, str]) -> bool:
    """Whether ``env`` switches the C reader off (PIXELWARDEN_READER=lxml)."""
    return env.get("PIXELWARDEN_READER", "") == "lxml"


def _bind_native() -> bool:
    """Whether the C reader (_native.c) is built and found libxml2 in lxml's module.

    PIXELWARDEN_READER=lxml switches it off: every event then goes through lxml and the Python
    reader, with the same results."""
    if _native is None or lxml_requested(os.environ):
        return False
    # Tags whose start the C side may handle: no handler, or a handler that only acts on one
    # attribute (table cells and their background); no state bits of their own, no raw text.
    needed = {
        tag: attribute
        for tag, (bits, _handler, raw_text, attribute) in _SPECIAL.items()
        if attribute and not bits and not raw_text
    }
    # <img>'s common case (a src, a size already in _SIZES, no srcset) is _img's work done in C.
    image_tag = "img" if _SPECIAL.get("img") == (0, _img, False, "") else ""
    slow = frozenset(
        {*(tag for tag in _SPECIAL if tag not in needed and tag != image_tag), "blockquote"}
    )
    return bool(
        _native.bind(
            lxml_module=etree.__file__,
            libxml_version=etree.LIBXML_VERSION[0] * 10000 + etree.LIBXML_VERSION[1] * 100,
            styles=_STYLES,
            classes=_CLASSES,
            slow_tags=slow,
            needed=needed,
            sizes=_SIZES,
            image_tag=image_tag,
            image_kind=Kind.IMAGE,
            style_facts=_style_facts,
            quote_class=_quote_class,
            size_of=_size_of,
            quoted=_QUOTED,
            hidden=_HIDDEN,
            any_hidden=_ANY_HIDDEN,
            inert=_INERT,
            foreign=_FOREIGN,
            skip_text=_SKIP_TEXT,
        )
    )


NATIVE = _bind_native()


def reader_kind() -> str:
    """Which reader new parses use: "native" (C hot path, _native.c) or "lxml"."""
    return "native" if NATIVE else "lxml"


def _hiding(decls: dict[str, str]) -> tuple[int, int]:
    """(state bits set, state bits cleared) by these declarations."""
    hides = shows = 0
    if decls.get("display") == "none":
        hides |= _HIDDEN
    visibility = decls.get("visibility")
    if visibility in ("hidden", "collapse"):
        hides |= _VIS_HIDDEN
    elif visibility == "visible":
        shows |= _VIS_HIDDEN  # visibility is inherited, and a descendant may undo it
    opacity = decls.get("opacity")
    if opacity is not None and _is_zero(opacity):
        hides |= _HIDDEN
    overflow = decls.get("overflow", "")
    if "hidden" in overflow or "clip" in overflow:
        for name in ("height", "max-height", "width", "max-width"):
            value = decls.get(name)
            if value is not None and length_px(value) == 0:
                hides |= _HIDDEN
                break
    if decls.get("position") in ("absolute", "fixed", "relative"):
        # Moved far off the page (left:-9999px): the classic hiding place of preheaders
        # and pixels.
        for name in ("left", "top", "right"):
            offset = _OFFSET.fullmatch(decls.get(name, ""))
            if offset is not None and float(offset.group(1)) <= -1000:
                hides |= _HIDDEN
                break
    return hides, shows


_OFFSET = re.compile(r"(-[0-9]+(?:\.[0-9]*)?)(?:px|pt|em|rem)?")


_RULE_SELECTOR = re.compile(r"\s*([a-zA-Z][a-zA-Z0-9-]*)?([.#])([a-zA-Z_][\w-]*)\s*")
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
_BRACE_SPLIT = re.compile(r"([{}])")


def _read_hiding_rules(css: str, rules: dict[tuple[str, str], int]) -> None:
    """Top-level rules whose selectors are plain .class, tag.class or #id and whose
    declarations hide (display:none, visibility:hidden, opacity:0, ...). Rules inside @media and
    other at-rules are conditional (a mobile layout) and are left out."""
    lowered = css.lower()
    if not ("none" in lowered or "hidden" in lowered or "opacity" in lowered):
        return
    if "/*" in css:
        css = _CSS_COMMENT.sub(" ", css)
    # The text between braces, with the braces: parts[i] is a brace for every odd i. Only the
    # braces are visited; a statement such as "@import ...;" before a rule is cut off its
    # prelude.
    parts = _BRACE_SPLIT.split(css)
    depth = 0
    nested = False
    prelude = ""
    for i in range(1, len(parts), 2):
        if parts[i] == "{":
            if depth == 0:
                prelude = parts[i - 1].rpartition(";")[2]
                nested = False
            else:
                nested = True
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                if not nested and not prelude.lstrip().startswith("@"):
                    _hiding_rule(prelude, parts[i - 1], rules)
            elif depth < 0:
                depth = 0  # a stray "}": the next rule starts after it


_HidingRules = tuple[tuple[tuple[str, str], int], ...]


def _add_hiding_rules(rules: _HidingRules, found: _Found) -> None:
    """Add a stylesheet's hiding rules to ``found``; what was remembered for elements matched
    against the earlier rules no longer holds once a rule was added."""
    known = found.hiding_rules
    added = False
    for key, bits in rules:
        before = known.get(key, 0)
        if before | bits != before:
            known[key] = before | bits
            added = True
    if added:
        found.hiding_cache.clear()


# A sender's <style> block comes back, unchanged, in each of its messages: what it loads and what
# it hides are remembered (bounded, and cleared when full, like the style attributes).
_STYLESHEETS: dict[str, tuple[tuple[CssUrl, ...], _HidingRules]] = {}
_STYLESHEETS_MAX = 64  # at most 4 MiB held
_STYLESHEET_LONGEST = 64 * 1024


def _stylesheet(css: str, deadline: float) -> tuple[tuple[CssUrl, ...], _HidingRules]:
    """The URLs a <style> block loads and its hiding rules."""
    known = _STYLESHEETS.get(css)
    if known is None:
        rules: dict[tuple[str, str], int] = {}
        _read_hiding_rules(css, rules)
        known = (tuple(_css_urls(css, deadline)), tuple(rules.items()))
        if len(css) <= _STYLESHEET_LONGEST:
            if len(_STYLESHEETS) >= _STYLESHEETS_MAX:
                _STYLESHEETS.clear()
            _STYLESHEETS[css] = known
    return known


def forget_remembered() -> None:
    """Empty every cache of what styles, classes, sizes and stylesheets say (for benchmarks of
    a sender never seen before, and for tests)."""
    for cache in (_STYLES, _DECLARATIONS, _STYLE_URLS, _CLASSES, _SIZES, _STYLESHEETS):
        cache.clear()


def _hiding_rule(prelude: str, body: str, rules: dict[tuple[str, str], int]) -> None:
    if not _may_hide(body.lower()):
        return  # most rules set fonts and colours
    hides, _ = _hiding(parse_declarations(body))
    if not hides:
        return
    for selector in prelude.split(","):
        m = _RULE_SELECTOR.fullmatch(selector)
        if m is not None:
            name = m.group(3) if m.group(2) == "." else "#" + m.group(3)
            key = ((m.group(1) or "").lower(), name)
            rules[key] = rules.get(key, 0) | hides


def _is_zero(value: str) -> bool:
    number = value[:-1] if value.endswith("%") else value
    try:
        return float(number) <= 0
    except ValueError:
        return False


def _dimension(value: str | None) -> int | None:
    """HTML's rules for parsing dimension values: leading digits count ("1px" → 1); a
    percentage says nothing about the size in pixels."""
    if not value:
        return None
    if value.isdigit():
        return int(value)
    m = _DIMENSION.match(value)
    if m is None or m.group(2):
        return None
    return int(float(m.group(1)))


def _size(attrib: Mapping[str, str], decls: dict[str, str] | None) -> tuple[int | None, int | None]:
    """Declared (width, height) in CSS pixels (remembered: the same sizes repeat). ``decls``:
    the declarations of the style attribute, looked up only when needed if None."""
    key = (attrib.get("width"), attrib.get("height"), attrib.get("style"))
    size = _SIZES.get(key)
    if size is None:
        style = key[2]
        if decls is None and style and _may_size(style):
            decls = _declarations(style)
        size = _compute_size(attrib, decls)
        if len(_SIZES) >= _STYLES_MAX:
            _SIZES.clear()
        _SIZES[key] = size
    return size


def _may_size(style: str) -> bool:
    """Whether a style attribute could declare a width or a height (most do not)."""
    lowered = style.lower()
    return "width" in lowered or "height" in lowered or "\\" in lowered


def _compute_size(
    attrib: Mapping[str, str], decls: dict[str, str] | None
) -> tuple[int | None, int | None]:
    width = _dimension(attrib.get("width"))
    height = _dimension(attrib.get("height"))
    if decls:
        # Inline CSS overrides the presentational attributes; max-* clamps what is left.
        if "width" in decls:
            width = length_px(decls["width"])
        if "height" in decls:
            height = length_px(decls["height"])
        max_width = length_px(decls.get("max-width"))
        if max_width is not None:
            width = max_width if width is None else min(width, max_width)
        max_height = length_px(decls.get("max-height"))
        if max_height is not None:
            height = max_height if height is None else min(height, max_height)
    return width, height


# A candidate: skip whitespace and commas, the URL is the run of non-whitespace; a URL ending in
# "," has no descriptors, otherwise descriptors run to the next "," outside parentheses.
_SRCSET_CANDIDATE = re.compile(r"[\s,]*+(\S+)(?:(?<=,)|[^,(]*+(?:\([^)]*+\)?[^,(]*+)*+)")


def _srcset(value: str) -> list[str]:
    """Every candidate URL of a srcset (HTML's parse-a-srcset-attribute algorithm)."""
    return [url.rstrip(",") for url in _SRCSET_CANDIDATE.findall(value) if url.rstrip(",")]


_ATTRIBUTE_VALUE = re.compile(
    r"""(?<![\w-])(src|href|xlink:href|background|poster|data|srcset|imagesrcset)"""
    r"""[ \t\n\r\f]*=[ \t\n\r\f]*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""",
    re.IGNORECASE,
)


def _scan_attributes(text: str, deadline: float) -> Iterable[tuple[str, str]]:
    """Conservative fallback: every URL-like attribute value and CSS URL in raw markup."""
    for m in _ATTRIBUTE_VALUE.finditer(text):
        name = m.group(1).lower()
        value = m.group(2) if m.group(2) is not None else m.group(3) or m.group(4) or ""
        value = _decode_entities(value)
        for url in _srcset(value) if name.endswith("srcset") else (value,):
            yield name, url
    for item in _css_urls(text, deadline):
        yield _CSS_ATTRIBUTES[item.context], item.url


def _decode_entities(value: str) -> str:
    return _html_unescape(value) if "&" in value else value


# -- URLs -------------------------------------------------------------------------------------


def _absolute(raw: str, base: str | None) -> str | None:
    """The absolute http(s) URL a browser would request for ``raw``, or None if it would not
    request anything remote (cid:, data:, relative without a remote base, ...). Follows the
    WHATWG URL parser for special schemes (checked against Node's URL on fuzzed input)."""
    s = raw.strip(_C0_AND_SPACE)
    clean = _CLEAN_URL.fullmatch(s)
    if clean is not None and "/." not in s and "%2" not in s:
        host = clean.group(1)
        # An IPv4 form ends in a label that starts with a digit ("10", "0x0a"): only then is
        # the full test needed.
        last = host.rfind(".", 0, len(host) - 1) + 1
        if not host[last : last + 1].isdigit() or not _ENDS_IN_NUMBER.search(host):
            return s  # already as a browser would write it (the usual case)
    if "\t" in s or "\n" in s or "\r" in s:
        s = s.translate(_TAB_NEWLINE)
    if not s:
        # src=" " is not the empty string: it names the document itself, which a remote
        # <base href> turns into a fetch.
        return _normalize(*base.split("://", 1)) if raw and base is not None else None
    m = _SCHEME.match(s)
    if m is not None:
        scheme = m.group(1).lower()
        if scheme != "http" and scheme != "https":
            return None
        rest = s[m.end() :]
        if (
            base is not None
            and base.startswith(scheme + ":")
            and not (rest[:1] == "/" and rest[1:2] in ("/", "\\"))
            and not (rest[:1] == "\\" and rest[1:2] in ("/", "\\"))
        ):
            return _join(base, rest)  # "http:pixel.gif", "http:/p" are relative to an http base
        return _normalize(scheme, rest.lstrip("/\\"))
    if s[:2] in ("//", "\\\\", "/\\", "\\/"):
        scheme = base[: base.index(":")] if base is not None else "https"
        return _normalize(scheme, s.lstrip("/\\"))
    if base is None:
        return None
    return _join(base, s)


def _join(base: str, relative: str) -> str | None:
    """Resolve a scheme-less, authority-less reference against an absolute http(s) base."""
    hash_at = relative.find("#")
    if hash_at >= 0:
        relative = relative[:hash_at]
    scheme, _, rest = base.partition("://")
    slash = rest.find("/")
    authority, base_path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    base_path = base_path.partition("?")[0]
    if not relative:  # only a fragment: this document
        return _normalize(scheme, rest)
    if relative[0] == "?":
        return _normalize(scheme, authority + base_path + relative)
    query_at = relative.find("?")
    path_part = relative if query_at < 0 else relative[:query_at]
    path_part = path_part.replace("\\", "/")
    relative = path_part + ("" if query_at < 0 else relative[query_at:])
    if relative[:1] == "/":
        return _normalize(scheme, authority + relative)
    return _normalize(scheme, authority + base_path[: base_path.rfind("/") + 1] + relative)


def _normalize(scheme: str, rest: str) -> str | None:
    """scheme + "://" + rest, serialised the way a browser does (host lower-case and IDNA, default
    port dropped, "\\" as "/", dot segments removed, unsafe characters percent-encoded, no
    fragment)."""
    hash_at = rest.find("#")
    if hash_at >= 0:
        rest = rest[:hash_at]
    query = ""
    q = rest.find("?")
    if q >= 0:
        rest, query = rest[:q], rest[q:]
    rest = rest.replace("\\", "/")
    slash = rest.find("/")
    authority, path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    at = authority.rfind("@")
    userinfo, hostport = ("", authority) if at < 0 else (authority[: at + 1], authority[at + 1 :])
    if hostport.startswith("["):
        close = hostport.find("]")
        host, port = hostport[: close + 1], hostport[close + 1 :].lstrip(":")
    else:
        host, _, port = hostport.partition(":")
    if "%" in host:
        try:
            host = unquote(host, errors="strict")
        except UnicodeDecodeError:
            return None  # not UTF-8 once decoded: a browser refuses the host
    host = host.lower()
    if not host.isascii():
        host = ".".join(_idna_label(label) for label in host.split("."))
    if "xn--" in host and not all(_valid_a_label(label) for label in host.split(".")):
        return None  # a label that claims to be punycode and is not: refused by a browser
    if host[:1] == "[":
        try:
            host = f"[{ipaddress.IPv6Address(host[1:-1] if host[-1] == ']' else '').compressed}]"
        except ValueError:
            return None
    elif not host or _FORBIDDEN_HOST.search(host):
        return None  # a browser refuses such a host: nothing is fetched
    if host[0] != "[" and _ENDS_IN_NUMBER.search(host):
        ipv4 = _ipv4(host)
        if ipv4 is None:
            return None
        host = ipv4
    if port:
        if not port.isdigit():
            return None
        number = int(port)
        if number > 65535:
            return None  # a browser refuses the URL
        port = "" if str(number) == _DEFAULT_PORTS[scheme] else f":{number}"
    if "/." in path or "%2e" in path.lower():
        path = _remove_dot_segments(path)
    if _NEEDS_ENCODING.search(path):
        path = quote(path, safe=_PATH_SAFE)
    if query and _QUERY_NEEDS_ENCODING.search(query):
        query = quote(query, safe=_QUERY_SAFE)
    if userinfo:
        user, colon, password = userinfo[:-1].partition(":")
        user = quote(user, safe=_USERINFO_SAFE)
        password = quote(password, safe=_USERINFO_SAFE)
        userinfo = f"{user}:{password}@" if password else f"{user}@" if user else ""
    return f"{scheme}://{userinfo}{host}{port}{path}{query}"


def _idna_label(label: str) -> str:
    """One host label as ASCII (IDNA: nameprep, then punycode), label by label so that empty
    labels ("a..b") do not make the whole host fail."""
    if label.isascii():
        return label
    if label.startswith("xn--"):
        return "xn--!"  # not ASCII yet claims to be punycode: refused below
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        return "xn--" + label.encode("punycode").decode("ascii")


def _valid_a_label(label: str) -> bool:
    if not label.startswith("xn--"):
        return True
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        return False
    return bool(decoded) and not decoded.isascii()


def _ipv4(host: str) -> str | None:
    """WHATWG IPv4 parsing: a host whose last label is a number is an address, written in
    decimal, octal (leading 0) or hex (0x), with 1 to 4 parts (http://3232235777/ is
    192.168.1.1). None if it is not a valid address (a browser refuses the URL)."""
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    if len(labels) > 4:
        return None
    numbers: list[int] = []
    for label in labels:
        try:
            if label[:2] in ("0x", "0X"):
                number = int(label[2:] or "0", 16)
            elif len(label) > 1 and label[0] == "0":
                number = int(label, 8)
            else:
                number = int(label, 10) if label.isdigit() else -1
        except ValueError:
            return None
        if number < 0:
            return None
        numbers.append(number)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    address = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        address += n * 256 ** (3 - i)
    return ".".join(str((address >> shift) & 255) for shift in (24, 16, 8, 0))


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        dots = segment.lower().replace("%2e", ".")  # "%2e" is a dot to a URL parser
        if dots == ".":
            if last:
                out.append("")
        elif dots == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


def _base_url(found: _Found, base_url: str | None) -> str | None:
    document = _absolute(base_url, None) if base_url else None
    if found.base is None:
        return document
    return _absolute(found.base, document)


# -- parsing ----------------------------------------------------------------------------------


class _IdleReaders(threading.local):
    """Readers whose parser finished its last document cleanly, ready for the next one; one
    pool per thread (the host classifies on two), as lxml parsers stay with their thread."""

    def __init__(self) -> None:
        self.readers: list[_Reader] = []


_IDLE = _IdleReaders()
_IDLE_READERS_MAX = 8


def _read(text: str, found: _Found, inherited: int = 0, nesting: int = 0) -> None:
    """Parse ``text`` with an idle reader (or a new one), adding what it finds to ``found``."""
    idle = _IDLE.readers
    if idle:
        reader = idle.pop()
        reader.reset(found, inherited, nesting)
    else:
        reader = _Reader(found, inherited, nesting)
    _parse(text, reader)
    # Only a parser that reached close() goes back: after an exception (deadline, a handler
    # that raised) its push parser may still hold part of a document.
    reader.reset(_NO_DOCUMENT)
    if len(idle) < _IDLE_READERS_MAX:
        idle.append(reader)


def _parse(text: str, reader: _Reader) -> None:
    parser = reader.parser
    deadline = reader.found.deadline
    tags = reader.tags
    for start in range(0, len(text), _CHUNK):
        if time.monotonic() > deadline:
            raise PixelWardenError(
                "parse_timeout", f"reading the HTML took longer than {MAX_PARSE_SECONDS:g} s"
            )
        chunk = text[start : start + _CHUNK]
        # Tags in the chunk bound both its end tags and how much the stack can grow: only when
        # that bound is over budget are the end tags counted (a slower count than "<").
        tags_here = chunk.count("<")
        if tags_here * (len(tags) + tags_here) > _END_TAG_BUDGET and (
            chunk.count("</") * (len(tags) + tags_here) > _END_TAG_BUDGET
        ):
            _feed_guarded(parser, reader, chunk)
        else:
            parser.feed(chunk)
    try:
        parser.close()
    except etree.XMLSyntaxError:
        reader.close()  # nothing at all to parse (empty or only a comment): lxml complains


def _feed_guarded(parser: etree.HTMLParser, reader: _Reader, chunk: str) -> None:
    """Feed ``chunk`` end tag by end tag, neutralising end tags that close nothing near the top
    of the element stack (libxml2 would compare each of them with the whole stack).

    The "<" of such an end tag is fed as "&lt;": in text and attribute values that decodes back
    to the same "<" (an attribute value keeps its exact URL), in comments and raw text it is
    inert, and unlike deleting characters it cannot glue its neighbours into "<!--" or "-->".
    """
    pos = 0
    neutralised = False
    for m in _END_TAG.finditer(chunk):
        if m.end() == len(chunk):
            break  # the name may continue in the next chunk: leave it to libxml2
        parser.feed(chunk[pos : m.start()])
        pos = m.start()
        if m.group(1).lower() not in reader.tags[-_END_TAG_WINDOW:]:
            parser.feed("&lt;")
            pos += 1
            neutralised = True
    parser.feed(chunk[pos:])
    if neutralised:
        reader.found.warnings["end_tags_neutralised"] = None


# libxml2 before 2.14 (lxml before 6) checks each new attribute against all earlier ones of the
# tag: 100k attributes on one tag took 24.6 s with lxml 5.3 / libxml2 2.12.9, and 63 ms with
# lxml 6.1 / libxml2 2.14.6. With an old libxml2, tags with absurdly many attributes are reduced
# to the attributes that matter before parsing (a linear pass).
_QUADRATIC_ATTRIBUTES = etree.LIBXML_VERSION < (2, 14, 0)
_ATTRIBUTE_LIMIT = 1000
_TAG_OPEN = re.compile(r"<[a-zA-Z][^\s/>]*+")
_ONE_ATTRIBUTE = (
    r"""[\s/]*+(?:[^\s/>]|/(?!>))[^\s/>=]*+(?:\s*+=\s*+(?:"[^"]*+"?|'[^']*+'?|[^\s>]*+))?"""
)
# Each attribute atomic: a failed match never tries to split "a=1" into "a" and "=1".
_MANY_ATTRIBUTES = re.compile(rf"(?>{_ONE_ATTRIBUTE}){{{_ATTRIBUTE_LIMIT}}}")
_ATTRIBUTE_TOKEN = re.compile(
    r"""[\s/]*+((?:[^\s/>]|/(?!>))[^\s/>=]*+)(\s*+=\s*+(?:"[^"]*+"?|'[^']*+'?|[^\s>]*+))?"""
)
# An ordinary attribute (dropped from an absurd tag unless the reader needs it).
_PLAIN_ATTRIBUTE = re.compile(
    r"""\s++[A-Za-z][A-Za-z0-9_\-]*+"""
    r"""(?:\s*+=\s*+(?:"[^"(\\<{]*+"|'[^'(\\<{]*+'|[^\s>"'(\\<{]*+))?"""
)
_KEPT_ATTRIBUTES = frozenset(
    {
        *("src", "srcset", "imagesrcset", "href", "xlink:href", "background", "poster", "data"),
        *("style", "type", "rel", "as", "width", "height", "hidden", "class", "id"),
    }
)


def _reduce_absurd_tags(html: str, found: _Found) -> str:
    """Tags with more than _ATTRIBUTE_LIMIT attributes keep only the attributes the reader
    uses (and any that could be CSS or markup in disguise); everything else is unchanged."""
    out: list[str] = []
    pos = 0
    for m in _TAG_OPEN.finditer(html):
        if m.start() < pos or _MANY_ATTRIBUTES.match(html, m.end()) is None:
            continue
        kept: list[str] = []
        seen: set[str] = set()
        odd = scanned = 0
        at = m.end()
        while True:
            scanned += 1
            if not scanned & 1023 and time.monotonic() > found.deadline:
                raise PixelWardenError("parse_timeout", "reading an absurd tag took too long")
            attribute = _ATTRIBUTE_TOKEN.match(html, at)
            if attribute is None or attribute.end() == at:
                break
            at = attribute.end()
            name = attribute.group(1).lower()
            token = attribute.group(0)
            if name in _KEPT_ATTRIBUTES and name not in seen:
                seen.add(name)
                kept.append(token)
            elif _PLAIN_ATTRIBUTE.fullmatch(token) is None and odd < _ATTRIBUTE_LIMIT:
                odd += 1  # could be CSS or markup in disguise (the tag may sit in raw text)
                kept.append(token)
        out.append(html[pos : m.end()])
        out.extend(kept)
        pos = at
        found.warnings["attributes_reduced"] = None
    if not out:
        return html
    out.append(html[pos:])
    return "".join(out)


def extract(html: str, base_url: str | None = None) -> Extraction:
    """Every remote (http/https) reference of an HTML message body, with its context.

    ``base_url`` is the document's own URL, used for relative URLs when the HTML has no
    ``<base href>``; without either, relative URLs are not remote. Raises PixelWardenError
    ("too_large" above MAX_HTML_BYTES, "parse_timeout", "invalid_html", "extract_failed").
    """
    if not isinstance(html, str):
        raise PixelWardenError("invalid_html", f"expected text, got {type(html).__name__}")
    if len(html) > MAX_HTML_BYTES or (
        len(html) * 4 > MAX_HTML_BYTES
        and len(html.encode("utf-8", "surrogatepass")) > MAX_HTML_BYTES
    ):
        raise PixelWardenError(
            "too_large", f"the HTML body is larger than {MAX_HTML_BYTES // (1024 * 1024)} MiB"
        )
    try:
        if not html.isascii():
            html = _without_lone_surrogates(html)
        found = _Found(deadline=time.monotonic() + MAX_PARSE_SECONDS)
        if _QUADRATIC_ATTRIBUTES:
            html = _reduce_absurd_tags(html, found)
        _read(html, found)
        # A second <body> tag adds its attributes to the body in a browser; libxml2 drops it.
        # (libxml2 reports a body tag with attributes when it is the first: with one such
        # report and one "<body" in the text, there is nothing it dropped.)
        first_body = _BODY_START.search(html)
        if first_body is not None and (
            found.bodies == 0 or _BODY_START.search(html, first_body.end()) is not None
        ):
            bodies = [body for body in _BODY_TAG.findall(html) if len(body) > 6]
            if len(bodies) > found.bodies:
                for body in bodies:
                    _read(body, found)
        base = _base_url(found, base_url)
        unique: dict[_Raw, None] = {}
        resolved: dict[str, str | None] = {}  # the same URL is often written several times
        for raw in found.raws:
            written = raw[0]
            if written in resolved:
                url = resolved[written]
            else:
                url = resolved[written] = _absolute(written, base)
            if url is not None:
                unique[raw if url is written else (url, *raw[1:])] = None  # type: ignore[index]
        # tuple.__new__ itself: Reference._make is a Python function (0.44 against 0.13 µs)
        references = tuple(map(partial(tuple.__new__, Reference), unique))
        text_chars = _visible_chars("".join(found.text))
    except PixelWardenError:
        raise
    except Exception as exc:  # the host must never die on a message
        raise PixelWardenError(
            "extract_failed", f"could not read the HTML: {type(exc).__name__}: {exc}"
        ) from exc
    return Extraction(
        references=references,
        text_chars=text_chars,
        image_count=found.image_count,
        warnings=tuple(found.warnings),
    )


# Only whether a message has little text matters (image-only judgement): counting stops here.
TEXT_CHARS_CAP = 10_000


def _visible_chars(text: str) -> int:
    """Characters of ``text`` with runs of whitespace collapsed to one (str.split's whitespace),
    up to TEXT_CHARS_CAP. A prefix never collapses to more than the whole text, so when one
    already reaches the cap the rest (a long newsletter's) is not split at all."""
    prefix = text[: 4 * TEXT_CHARS_CAP]
    count = len(" ".join(prefix.split()))
    if count < TEXT_CHARS_CAP and len(prefix) < len(text):
        count = len(" ".join(text.split()))
    return min(count, TEXT_CHARS_CAP)


def _without_lone_surrogates(html: str) -> str:
    """Decoders may leave lone surrogates (errors="surrogateescape"); libxml2 wants valid
    UTF-8. Pairs are joined as a UTF-16 decoder would, lone ones become U+FFFD."""
    try:
        html.encode("utf-8")
        return html
    except UnicodeEncodeError:
        return html.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
