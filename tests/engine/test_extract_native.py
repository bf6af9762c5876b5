"""The C reader (pixelwarden/_native.c) against the lxml reader: the same Extraction for any input.

The C side handles ordinary elements and text itself and hands every other event to the Python
reader, so a difference in what it treats as ordinary would show as a difference here. Each
document is read by lxml, then by the C reader with everything remembered (styles and classes
known: the C side's fast path), then by the C reader with nothing remembered (every first style
and class goes to Python).
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pixelwarden import extract as extract_module
from pixelwarden import mime
from pixelwarden.extract import extract, forget_remembered, reader_kind
from pixelwarden.model import Extraction, PixelWardenError
from test_extract_properties import _SOUP, _element

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
FORCED_LXML = os.environ.get("PIXELWARDEN_READER", "") == "lxml"

needs_native = pytest.mark.skipif(
    FORCED_LXML, reason="PIXELWARDEN_READER=lxml: the C reader is switched off"
)


def _with(native: bool, html: str, base: str | None = None) -> Extraction | str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extract_module, "NATIVE", native)
        extract_module._IDLE.readers.clear()  # pooled readers keep the parser they were built with
        try:
            return extract(html, base)
        except PixelWardenError as exc:
            return f"{exc.code}: {exc}"
        finally:
            extract_module._IDLE.readers.clear()


def _same_everywhere(html: str, base: str | None = None) -> None:
    by_lxml = _with(False, html, base)
    assert _with(True, html, base) == by_lxml, "C reader, styles and classes remembered"
    forget_remembered()
    assert _with(True, html, base) == by_lxml, "C reader, nothing remembered"


def test_the_c_reader_is_built_and_bound() -> None:
    """The set-up builds it (a C compiler and Python's headers are part of it): a silent fall
    back to lxml would only show as a slower engine, so the tests say it."""
    if FORCED_LXML:
        assert reader_kind() == "lxml"
    else:
        assert reader_kind() == "native"
    # the same module decodes quoted-printable (PIXELWARDEN_READER is about HTML only)
    assert mime._qp_decode.__module__ == "pixelwarden._native"


# Elements repeat in real mail: the same style, class and id many times, so that the C side sees
# them both unknown (first time) and known.
_REPEATED = st.lists(_element(), min_size=1, max_size=6).flatmap(
    lambda pool: st.lists(
        st.one_of(
            st.sampled_from(pool),
            st.sampled_from(
                [
                    "</div>",
                    "</td>",
                    "<td>",
                    "<tr>",
                    "</table>",
                    "text",
                    "On Mon, 1 Jan 2024, Ann wrote:",
                    "-----",
                    '<div class="gmail_quote">',
                    '<div id="divRplyFwdMsg">',
                    '<blockquote type="cite">',
                    "<style>.h{display:none} #i{visibility:hidden}</style>",
                    '<p class="h">',
                    '<p id="i">',
                    '<span class="keep" style="color:red">',
                    '<img src="http://p.example/o.gif" class="h">',
                    '<svg><image href="http://s.example/i.png"/></svg>',
                    "<template><img src=http://t.example/x.gif></template>",
                    "<td background='http://b.example/bg.png'>",
                    "<table background=http://b.example/t.png>",
                    "<body background=http://b.example/b.png>",
                    "<img src=http://i.example/a.png hidden>",
                    "<math><mglyph src=http://m.example/g.png>",
                ]
            ),
        ),
        max_size=60,
    ).map("".join)
)


@needs_native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SOUP, st.sampled_from([None, "https://doc.example/dir/page"]))
def test_tag_soup_reads_the_same(html: str, base: str | None) -> None:
    _same_everywhere(html, base)


@needs_native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_REPEATED)
def test_repeated_markup_reads_the_same(html: str) -> None:
    _same_everywhere(html)


@needs_native
@pytest.mark.parametrize(
    "html",
    [
        pytest.param(
            '<div style="display:none">' * 5000 + "<img src=http://d.example/p.gif>",
            id="deep-hidden",
        ),
        pytest.param("<div>" * 20000 + "text<img src=http://d.example/q.gif>", id="deep"),
        pytest.param(
            "<img " + " ".join(f"a{i}=x" for i in range(50000)) + " src=http://a.example/i>",
            id="attributes",
        ),
        pytest.param("<p>x<!-- <img src=http://c.example/no.gif>", id="unterminated-comment"),
        pytest.param("</td>" * 50000 + "<img src=http://e.example/e.gif>", id="stray-end-tags"),
        pytest.param(
            "<table><tr><td>" * 3000 + "<img src=http://t.example/t.gif width=1>", id="tables"
        ),
        pytest.param(
            "<style>" + "a{}" * 30000 + "</style><img src=http://s.example/s.gif>", id="long-style"
        ),
        pytest.param(
            "\u20ac<p class='\u00e9'>\u00e9 text</p><img src='http://u.example/\u00e9.png'>",
            id="non-ascii",
        ),
        pytest.param(
            "".join(
                f"<x{i} style=display:none><img src=http://n.example/{i}.gif></x{i}>"
                for i in range(300)
            ),
            id="many-tag-names",
        ),
        pytest.param(
            "<"
            + "a" * 100_000
            + " hidden><img src=http://l.example/i.gif></"
            + "a" * 100_000
            + ">",
            id="long-tag-name",
        ),
        pytest.param(
            '<div class="gmail_quote"><img src=http://q.example/1.gif></div>'
            '<p class="Moz-Cite-Prefix">On ... wrote:</p><img src=http://q.example/2.gif>'
            "<blockquote type=cite><p class=plain>x<img src=http://q.example/3.gif></blockquote>"
            '<div id="divRplyFwdMsg"></div><p class=plain><img src=http://q.example/4.gif>',
            id="quote-classes",
        ),
        pytest.param("", id="empty"),
        pytest.param("<!-- only a comment -->", id="only-comment"),
    ],
)
def test_hostile_documents_read_the_same(html: str) -> None:
    _same_everywhere(html)


def _corpus_bodies() -> Iterator[str]:
    from pixelwarden.mime import parse_message
    from pixelwarden.sources import iter_sources

    for source, data in iter_sources([CORPUS]):
        if isinstance(data, bytes):
            try:
                message = parse_message(data, source)
            except PixelWardenError:
                continue
            if message.html:
                yield message.html


@needs_native
@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
def test_every_corpus_message_reads_the_same() -> None:
    bodies = list(_corpus_bodies())
    assert len(bodies) > 100
    for html in bodies:
        _same_everywhere(html)


@needs_native
def test_an_error_in_the_python_reader_stops_the_c_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler that raises mid-document: the error reaches extract() (as extract_failed), no
    further event is handled, and the next message is read by a fresh reader as usual."""
    calls: list[str] = []

    def failing(*args: object) -> None:
        calls.append("video")
        raise ValueError("handler broke")

    html = "<p>a</p><video src=http://x.example/1.mp4><video src=http://x.example/2.mp4><p>b</p>"
    monkeypatch.setitem(extract_module._SPECIAL, "video", (0, failing, False, ""))
    with pytest.raises(PixelWardenError) as caught:
        extract(html)
    assert caught.value.code == "extract_failed" and "handler broke" in str(caught.value)
    assert calls == ["video"]
    monkeypatch.undo()
    urls = [r.url for r in extract(html).references]
    assert urls == ["http://x.example/1.mp4", "http://x.example/2.mp4"]


@needs_native
def test_a_reader_and_its_c_parser_are_collected() -> None:
    """The reader holds its parser and the parser holds the reader: the cycle must not leak."""
    found = extract_module._Found(deadline=float("inf"))
    reader = extract_module._Reader(found)
    assert type(reader.parser).__module__ == "pixelwarden._native"
    extract_module._parse("<p>x<img src=http://x.example/i.gif></p>", reader)
    assert found.raws
    gone = weakref.ref(reader)
    del reader
    gc.collect()
    assert gone() is None


@needs_native
def test_a_reader_whose_names_filled_up_reads_the_next_messages_alike() -> None:
    """A message full of made-up tag names fills a parser's table of names; the messages after
    it, read by the same pooled parser, read as they would have."""
    made_up = "".join(f"<x{i} hidden><img src=http://n.example/{i}.gif></x{i}>" for i in range(500))
    normal = '<div style="display:none"><img src=http://p.example/o.gif></div><p>text</p>'
    expected = [_with(False, made_up), _with(False, normal)]
    extract_module._IDLE.readers.clear()
    for _ in range(3):  # one pooled reader, message after message
        assert [extract(made_up), extract(normal)] == expected


@needs_native
@pytest.mark.parametrize("remembered", [True, False])
def test_quote_marks_reach_the_c_reader(remembered: bool) -> None:
    """Classes and ids that mark a quoted part, met for the first time or already remembered:
    what follows them is quoted, and the plain paragraph before them is not."""
    html = (
        '<p class="plain"><img src=http://q.example/own.gif></p>'
        '<div class="gmail_quote"><span class="plain"><img src=http://q.example/q1.gif></span>'
        '</div><div id="divRplyFwdMsg"></div><p class="plain"><img src=http://q.example/q2.gif>'
    )
    extract(html)
    if not remembered:
        forget_remembered()
    quoted = {r.url.rsplit("/", 1)[1]: r.quoted for r in extract(html).references}
    assert quoted == {"own.gif": False, "q1.gif": True, "q2.gif": True}
