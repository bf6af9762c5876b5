"""Hostile markup: nothing raises, nothing hides a URL a browser would fetch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from pixelwarden import extract as extract_module
from pixelwarden.extract import MAX_HTML_BYTES, extract
from pixelwarden.model import PixelWardenError

PIXEL = '<img src="http://t.example/p.gif" width="1" height="1">'
PIXEL_URL = "http://t.example/p.gif"


def urls(html: str) -> list[str]:
    return [r.url for r in extract(html).references]


@pytest.mark.parametrize("depth", [255, 256, 257, 300, 5_000])
def test_pixel_after_deep_nesting(depth: int) -> None:
    """lxml's tree mode drops everything below depth 256; the streaming reader must not."""
    assert urls("<div>" * depth + PIXEL) == [PIXEL_URL]


def test_pixel_after_100k_nested_divs() -> None:
    assert urls("<div>" * 100_000 + PIXEL) == [PIXEL_URL]


def test_pixels_inside_and_after_100k_closed_divs() -> None:
    html = "<div>" * 100_000 + PIXEL + "</div>" * 100_000 + PIXEL.replace("p.gif", "q.gif")
    assert urls(html) == [PIXEL_URL, "http://t.example/q.gif"]


@pytest.mark.parametrize("tag", ["span", "b", "p", "a", "font", "td", "li", "table", "blockquote"])
def test_deep_nesting_of_other_elements(tag: str) -> None:
    assert PIXEL_URL in urls(f"<{tag}>" * 20_000 + PIXEL)


def test_hidden_ancestor_far_up_the_stack() -> None:
    html = '<div style="display:none">' + "<div>" * 10_000 + PIXEL
    (ref,) = extract(html).references
    assert ref.hidden


def test_100k_stray_end_tags_after_100k_nested_divs() -> None:
    """libxml2 compares each stray end tag with the whole stack (quadratic): the guard
    neutralises them, and keeps the references and the styles around them."""
    html = (
        "<div>" * 100_000
        + "<style>a{background:url(http://t.example/before.png)}</style>"
        + "</span>" * 100_000
        + "<style>b{background:url(http://t.example/after.png)}</style>"
        + PIXEL
    )
    extraction = extract(html)
    assert [r.url for r in extraction.references] == [
        "http://t.example/before.png",
        "http://t.example/after.png",
        PIXEL_URL,
    ]
    assert "end_tags_neutralised" in extraction.warnings


def test_stray_end_tags_inside_a_style_under_the_guard() -> None:
    html = (
        "<div>" * 100_000
        + "<style>"
        + "</span>" * 50_000
        + "a{background:url(http://t.example/css.png)}</style>"
        + PIXEL
    )
    assert urls(html) == ["http://t.example/css.png", PIXEL_URL]


def test_guard_keeps_urls_that_contain_end_tags() -> None:
    html = "<div>" * 100_000 + '<img src="http://t.example/a</span>b.gif">' + "</i>" * 1_000
    assert urls(html) == ["http://t.example/a%3C/span%3Eb.gif"]


def test_guard_keeps_end_tags_that_close_open_elements() -> None:
    html = (
        "<div>" * 20_000
        + '<div style="display:none">'
        + PIXEL.replace("p.gif", "hidden.gif")
        + "</div>"
        + "</i>" * 5_000
        + PIXEL
    )
    hidden = {r.url: r.hidden for r in extract(html).references}
    assert hidden == {"http://t.example/hidden.gif": True, PIXEL_URL: False}


def test_100k_attributes_with_the_source_at_the_end() -> None:
    html = "<img " + " ".join(f"a{i}=1" for i in range(100_000)) + ' src="' + PIXEL_URL + '">'
    assert urls(html) == [PIXEL_URL]


def test_100k_repeated_attributes_then_the_source() -> None:
    html = "<img " + "a=1 " * 100_000 + 'src="' + PIXEL_URL + '">'
    assert urls(html) == [PIXEL_URL]


def test_huge_attribute_value() -> None:
    html = '<img title="' + "x" * 3_000_000 + '" src="' + PIXEL_URL + '">'
    assert urls(html) == [PIXEL_URL]


def test_pixel_before_an_unterminated_comment() -> None:
    assert urls(PIXEL + "<!-- never closed " + "x" * 10_000) == [PIXEL_URL]


def test_pixel_inside_an_unterminated_comment_is_not_fetched() -> None:
    """A browser reads the rest of the document as the comment: nothing there loads."""
    assert urls("<!-- never closed " + PIXEL) == []


@pytest.mark.parametrize(
    "prefix",
    ["<!-->", "<!--->", "<!-- a --!>", "<!-- a -- b -->", "<!---->", "<!-- <!-- -->"],
)
def test_comments_that_close_early(prefix: str) -> None:
    assert urls(prefix + PIXEL) == [PIXEL_URL]


def test_cdata_in_html_is_a_bogus_comment_up_to_the_first_gt() -> None:
    html = "<![CDATA[ x ]]>" + PIXEL
    assert urls(html) == [PIXEL_URL]
    assert urls("<![CDATA[" + PIXEL + "]]>") == []  # inside the bogus comment


@pytest.mark.parametrize(
    "markup",
    [
        "<?xml version='1.0'?>",
        "<!DOCTYPE html>",
        "</>",
        "<>",
        "< img>",
        "</ img>",
    ],
)
def test_odd_declarations_before_a_pixel(markup: str) -> None:
    assert PIXEL_URL in urls(markup + PIXEL)


def test_doctype_without_its_gt_swallows_the_next_tag_as_browsers_do() -> None:
    assert urls("<!doctype" + PIXEL) == []
    assert urls("<!doctype>" + PIXEL) == [PIXEL_URL]


def test_unterminated_style_is_read_as_css_to_the_end() -> None:
    html = "<style>a{background:url(http://t.example/css.png)} " + PIXEL
    assert urls(html) == ["http://t.example/css.png"]  # the <img> is style text


def test_nested_style_tags() -> None:
    html = (
        "<style>a{background:url(http://t.example/1.png)}<style>"
        "b{background:url(http://t.example/2.png)}</style>" + PIXEL
    )
    assert urls(html) == ["http://t.example/1.png", "http://t.example/2.png", PIXEL_URL]


@pytest.mark.parametrize("closer", ["</STYLE>", "</style >", '</style x="y">', "</style/>"])
def test_style_end_tag_variants(closer: str) -> None:
    assert urls("<style>a{}" + closer + PIXEL) == [PIXEL_URL]


def test_nul_bytes() -> None:
    html = 'a\x00b<img src="http://t.example/n\x00ul.gif">\x00' + PIXEL
    found = urls(html)
    assert PIXEL_URL in found
    assert "http://t.example/n%EF%BF%BDul.gif" in found


def test_lone_surrogates() -> None:
    html = "\ud800<p>\udfff</p>" + PIXEL + '<img src="http://t.example/\udc80.gif">'
    found = urls(html)
    assert found[0] == PIXEL_URL
    assert found[1] == "http://t.example/%EF%BF%BD.gif"


def test_surrogate_pair_is_joined() -> None:
    (url,) = urls('<img src="http://t.example/\ud83d\ude00.gif">')
    assert url == "http://t.example/%F0%9F%98%80.gif"


def test_meta_charset_in_a_str_is_ignored() -> None:
    html = '<meta charset="iso-8859-1"><img src="http://t.example/\u00e9.gif">'
    assert urls(html) == ["http://t.example/%C3%A9.gif"]


def test_reference_split_across_chunks() -> None:
    """The reader feeds libxml2 in chunks; a tag cut by a chunk boundary stays whole."""
    size = extract_module._CHUNK
    for cut in range(-12, 12):
        html = "x" * (size + cut - 10) + PIXEL
        assert urls(html) == [PIXEL_URL], cut


def test_svg_style_nesting_is_bounded() -> None:
    html = "<svg><style>" * 2_000 + PIXEL
    extraction = extract(html)
    assert PIXEL_URL in [r.url for r in extraction.references]
    assert "reparse_limit" in extraction.warnings


def test_huge_document_near_the_cap() -> None:
    filler = "<p>" + "word " * 200 + "</p>"
    count = (MAX_HTML_BYTES - 4096) // len(filler)
    html = PIXEL + filler * count + PIXEL.replace("p.gif", "end.gif")
    assert len(html.encode()) <= MAX_HTML_BYTES
    assert urls(html) == [PIXEL_URL, "http://t.example/end.gif"]


def test_over_the_cap_is_refused() -> None:
    with pytest.raises(PixelWardenError) as error:
        extract("x" * (MAX_HTML_BYTES + 1))
    assert error.value.code == "too_large"


def test_cap_counts_utf8_bytes_not_characters() -> None:
    html = "\u20ac" * (MAX_HTML_BYTES // 3 + 1)  # 3 bytes each
    with pytest.raises(PixelWardenError) as error:
        extract(html)
    assert error.value.code == "too_large"


def test_not_text_is_refused() -> None:
    with pytest.raises(PixelWardenError) as error:
        extract(b"<img src=x>")  # type: ignore[arg-type]
    assert error.value.code == "invalid_html"


def test_deadline_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_module, "MAX_PARSE_SECONDS", -1.0)
    with pytest.raises(PixelWardenError) as error:
        extract(PIXEL)
    assert error.value.code == "parse_timeout"


def test_unexpected_failure_becomes_a_structured_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(extract_module, "_absolute", broken)
    with pytest.raises(PixelWardenError) as error:
        extract(PIXEL)
    assert error.value.code == "extract_failed"
    assert "boom" in error.value.message


# -- parsers are reused from one message to the next: nothing of one may reach the next --------


def test_an_unfinished_document_leaves_nothing_to_the_next() -> None:
    hiding = '<div style="display:none"><blockquote type="cite"><style>.x{display:none}</style>'
    assert extract(hiding + "<p>-----Original Message-----<svg><style>")  # left open
    ref = extract('<img class="x" src="http://t.example/a.png" width="600" height="300">')
    assert ref.references[0].hidden is False and ref.references[0].quoted is False
    assert ref.text_chars == 0


def test_a_parse_that_failed_leaves_nothing_to_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    class Clock:  # the deadline passes after the first chunk was fed
        readings = iter([0.0, 0.0])

        def monotonic(self) -> float:
            return next(self.readings, 1e9)

    extract("<p>warm up</p>")  # a reader in the pool
    # Stopped inside raw text: a parser fed again from there would read the next message as
    # the rest of this <textarea>, and miss its image.
    first_chunk = '<blockquote type="cite"><div style="display:none"><textarea>' + "x" * 9000
    with monkeypatch.context() as patch:
        patch.setattr(extract_module, "time", Clock())
        with pytest.raises(PixelWardenError) as error:
            extract(first_chunk + "<p>rest</p>")
    assert error.value.code == "parse_timeout"
    refs = extract('<p>next</p><img src="http://t.example/b.png">').references
    assert [(r.url, r.hidden, r.quoted) for r in refs] == [("http://t.example/b.png", False, False)]


def test_nested_documents_get_readers_of_their_own() -> None:
    srcdoc = '<iframe srcdoc="&lt;img src=&quot;http://t.example/in.png&quot;&gt;"></iframe>'
    html = f'<div style="display:none">{srcdoc}</div><img src="http://t.example/out.png">'
    assert [(r.url, r.hidden) for r in extract(html).references] == [
        ("http://t.example/in.png", True),
        ("http://t.example/out.png", False),
    ]


# -- libxml2 before 2.14 (lxml 5): tags with absurdly many attributes are reduced first -------


@pytest.fixture
def old_libxml2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract_module, "_QUADRATIC_ATTRIBUTES", True)


@pytest.mark.usefixtures("old_libxml2")
def test_reduced_tag_keeps_the_source_and_its_context() -> None:
    html = (
        '<div class="gmail_quote"><img '
        + " ".join(f'a{i}=">"' for i in range(100_000))
        + f' src="{PIXEL_URL}" style="display:none" width="1"></div>'
    )
    extraction = extract(html)
    (ref,) = extraction.references
    assert (ref.url, ref.hidden, ref.quoted, ref.width) == (PIXEL_URL, True, True, 1)
    assert "attributes_reduced" in extraction.warnings


@pytest.mark.usefixtures("old_libxml2")
def test_reduction_keeps_what_could_be_css_in_raw_text() -> None:
    html = (
        "<style><x "
        + "a " * 2_000
        + "q{background:url(http://t.example/css.png)} b c></style>"
        + PIXEL
    )
    assert urls(html) == ["http://t.example/css.png", PIXEL_URL]


@pytest.mark.usefixtures("old_libxml2")
def test_reduction_leaves_ordinary_markup_alone() -> None:
    html = (
        '<table background="http://t.example/bg.png"><tr><td style="width:1px">'
        + PIXEL
        + '<img a=1 b=2 srcset="http://t.example/2x.png 2x"></td></tr></table>'
    ) * 50
    reduced = extract(html)
    assert "attributes_reduced" not in reduced.warnings
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extract_module, "_QUADRATIC_ATTRIBUTES", False)
        assert extract(html) == reduced


def test_two_threads_reading_at_once_read_like_one() -> None:
    # The host classifies on two threads; readers, parsers and remembered styles are shared
    # or pooled between messages.
    documents = [
        f'<style>.h{i % 3}{{display:none}}</style><div class="h{i % 3}">'
        f'<img src="http://t.example/{i}.png" style="width:{i % 4}px;height:1px"></div>'
        f'<table background="http://t.example/bg{i % 5}.png"><tr><td>{"text " * i}</td></tr>'
        "</table>"
        for i in range(60)
    ]
    expected = [extract(html) for html in documents]
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(5):
            assert list(pool.map(extract, documents)) == expected
