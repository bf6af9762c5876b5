"""Properties of extract(): never raises, only absolute http(s) URLs, chunking changes nothing."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pixelwarden import extract as extract_module
from pixelwarden.extract import extract
from pixelwarden.model import Extraction

_URLS = st.sampled_from(
    [
        "http://t.example/p.gif",
        "https://T.EXAMPLE:443/a b?x=1&amp;y=2#f",
        "//proto.example/x",
        "\\\\back.example\\x",
        "HTTP:/one.example",
        "relative.png",
        "../up.png",
        "cid:x@y",
        "data:image/gif;base64,AA",
        "javascript:x",
        "http://",
        "http://[::1]/v6",
        "http://h.example:99999/",
        "http://h.example:x/",
        "http://\u00e9.example/\u00e9",
        " \t\nhttp://ws.example/a\nb ",
        "&#104;ttp://ent.example/",
        "http://%zz.example/",
        "",
    ]
)
_TAGS = st.sampled_from(
    [
        "img",
        "image",
        "input",
        "source",
        "video",
        "audio",
        "track",
        "iframe",
        "frame",
        "object",
        "embed",
        "svg",
        "use",
        "feimage",
        "body",
        "table",
        "td",
        "th",
        "link",
        "base",
        "style",
        "template",
        "noscript",
        "title",
        "textarea",
        "div",
        "p",
        "span",
        "blockquote",
        "math",
        "script",
        "xmp",
    ]
)
_ATTRS = st.sampled_from(
    [
        "src",
        "srcset",
        "href",
        "xlink:href",
        "background",
        "poster",
        "data",
        "style",
        "type",
        "rel",
        "as",
        "width",
        "height",
        "hidden",
        "class",
        "id",
    ]
)
_STYLE_VALUES = st.sampled_from(
    [
        "display:none",
        "visibility:hidden",
        "visibility:visible",
        "opacity:0",
        "max-height:0;overflow:hidden",
        "width:1px;height:1px",
        "background:url(URL)",
        "background:image-set('URL' 1x)",
        "background:\\75 rl(URL)",
        "x:url(",
    ]
)


@st.composite
def _element(draw: st.DrawFn) -> str:
    tag = draw(_TAGS)
    attrs = []
    for name in draw(st.lists(_ATTRS, max_size=4)):
        if name == "style":
            value = draw(_STYLE_VALUES).replace("URL", draw(_URLS))
        elif name in ("type", "rel", "as", "class", "id"):
            value = draw(
                st.sampled_from(
                    [
                        "image",
                        "stylesheet",
                        "icon",
                        "preload",
                        "font",
                        "cite",
                        "gmail_quote",
                        "divRplyFwdMsg",
                    ]
                )
            )
        elif name in ("width", "height"):
            value = draw(st.sampled_from(["0", "1", "1px", "50%", "x"]))
        else:
            value = draw(_URLS)
        quote = draw(st.sampled_from(['"', "'", ""]))
        if not quote:
            value = value.replace(" ", "").replace(">", "") or "x"
        attrs.append(f"{name}={quote}{value.replace(quote, '') if quote else value}{quote}")
    return f"<{tag} {' '.join(attrs)}>"


_FRAGMENTS = st.one_of(
    _element(),
    _TAGS.map(lambda t: f"</{t}>"),
    st.sampled_from(
        [
            "<!--",
            "-->",
            "<!-->",
            "--!>",
            "<![CDATA[",
            "]]>",
            "<!doctype html>",
            "<style>a{background:url(http://s.example/a)}",
            "@import 'http://s.example/i.css';",
            "@font-face{src:url(//f.example/f.woff)}",
            "</style>",
            "-----Original Message-----",
            "text ",
            "&amp;",
            "&",
            "<",
            ">",
            '"',
            "'",
            "\x00",
            "\ud800",
            "\u20ac",
        ]
    ),
    st.text(max_size=8),
)
_SOUP = st.lists(_FRAGMENTS, max_size=40).map("".join)


def _check(extraction: Extraction) -> None:
    for ref in extraction.references:
        parts = urlsplit(ref.url)
        assert parts.scheme in ("http", "https"), ref.url
        assert parts.netloc and parts.hostname, ref.url
        assert ref.url == ref.url.strip() and not any(c in ref.url for c in "\t\n\r #")
        assert ref.width is None or ref.width >= 0
        assert ref.height is None or ref.height >= 0
    assert extraction.text_chars >= 0
    assert extraction.image_count >= 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    _check(extract(text))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SOUP, st.sampled_from([None, "https://doc.example/dir/page", "cid:x", "not a url"]))
def test_tag_soup_never_raises_and_gives_absolute_urls(html: str, base: str | None) -> None:
    _check(extract(html, base))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SOUP)
def test_chunk_size_does_not_change_the_result(html: str) -> None:
    whole = extract(html)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extract_module, "_CHUNK", 7)
        assert extract(html) == whole


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SOUP)
def test_end_tag_guard_finds_the_same_urls(html: str) -> None:
    """Forcing the stray-end-tag guard on every chunk finds the same URLs in the same kinds."""
    whole = {(r.url, r.kind, r.element, r.attribute) for r in extract(html).references}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extract_module, "_END_TAG_BUDGET", -1)
        guarded = {(r.url, r.kind, r.element, r.attribute) for r in extract(html).references}
    assert guarded == whole
