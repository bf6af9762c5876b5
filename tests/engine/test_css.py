"""CSS: the URLs a stylesheet fetches, and the declarations of a style attribute."""

from __future__ import annotations

import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pixelwarden.css import (
    CssUrl,
    _urls_fast,
    _urls_full,
    find_urls,
    length_px,
    parse_declarations,
    unescape,
)
from pixelwarden.model import PixelWardenError


def urls(css: str) -> list[tuple[str, str]]:
    return [(item.url, item.context) for item in find_urls(css)]


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("a{background:url(http://x/a.png)}", [("http://x/a.png", "url")]),
        ('a{background:URL( "http://x/b.png" )}', [("http://x/b.png", "url")]),
        ("a{background:url( 'http://x/c.png' )}", [("http://x/c.png", "url")]),
        ("a{background:url(  http://x/d.png  )}", [("http://x/d.png", "url")]),
        (
            'a{background-image:image-set("a.png" 1x, url(b.png) 2x)}',
            [("a.png", "url"), ("b.png", "url")],
        ),
        (
            "a{background-image:-webkit-image-set(url('c.png') 1x, \"d.png\" 2x)}",
            [("c.png", "url"), ("d.png", "url")],
        ),
        ('@import "imp.css" screen;', [("imp.css", "import")]),
        ("@import url(imp2.css);", [("imp2.css", "import")]),
        ('@IMPORT url("imp3.css") print;', [("imp3.css", "import")]),
        ('@import /* comment */ "imp4.css";', [("imp4.css", "import")]),
        (
            (
                "@font-face { font-family: X; src: url(f.woff2) format('woff2'), local(X),"
                ' url("g.ttf") }'
            ),
            [("f.woff2", "font-face"), ("g.ttf", "font-face")],
        ),
        (
            "@media screen{@font-face{src:url(ff)} .y{background:url(notff)}}",
            [("ff", "font-face"), ("notff", "url")],
        ),
        ("@font-face;.x{background:url(notfont)}", [("notfont", "url")]),
        ("<!--url(after-cdo)-->", [("after-cdo", "url")]),
        ("a{b:url(unterminated", [("unterminated", "url")]),
        ('a{b:url("unterminated', [("unterminated", "url")]),
    ],
)
def test_urls(css: str, expected: list[tuple[str, str]]) -> None:
    assert urls(css) == expected


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        (r"a{b:\75 rl(esc1)}", "esc1"),  # hex escape with its terminating space
        (r"a{b:\75rl(esc2)}", "esc2"),
        (r"a{b:u\72l(esc3)}", "esc3"),
        (r"a{b:\000075rl(esc4)}", "esc4"),  # six hex digits, no space needed
        (r"a{b:U\RL(esc5)}", "esc5"),  # a non-hex character escapes itself
        (r"a{b:url(esc\29 6)}", "esc)6"),
        (r'a{b:url("http:\2f\2fx/7")}', "http://x/7"),
        (r"a{b:url(http\:\/\/x\/8)}", "http://x/8"),
    ],
)
def test_escapes(css: str, expected: str) -> None:
    assert [u for u, _ in urls(css)] == [expected]


def test_escaped_import() -> None:
    assert urls(r'@\69mport "esc.css";') == [("esc.css", "import")]


@pytest.mark.parametrize(
    "css",
    [
        "/* a{background:url(http://x/in-comment)} */",
        'a{content:"url(http://x/in-string)"}',
        "a{b:u/**/rl(http://x/split-by-comment)}",
        "a{b:xurl(http://x/other-function)}",
        "a{b:-url(http://x/other-ident)}",
        "a{b:#url(http://x/hash)}",
        'a{b:url(bad"url)}',
        "a{b:url(two words)}",
        "a{b:url()}",
        'a{b:url("")}',
        "a{src:local(Arial)}",
        "a{b:url\n(http://x/not-a-function)}",
    ],
)
def test_no_fetch(css: str) -> None:
    assert urls(css) == []


def test_bad_url_does_not_swallow_the_next_rule() -> None:
    assert urls('a{b:url(bad"url) } c{d:url(ok)}') == [("ok", "url")]


def test_unterminated_comment_hides_only_what_follows() -> None:
    assert urls("a{b:url(before)} /* c{d:url(after)}") == [("before", "url")]


def test_unescape() -> None:
    assert unescape(r"\75 rl") == "url"
    assert unescape(r"\0") == "\ufffd"
    assert unescape(r"\110000") == "\ufffd"
    assert unescape(r"\d800") == "\ufffd"
    assert unescape("plain") == "plain"


# The fast path (no backslash) and the full tokenizer must agree everywhere.
_PIECES = st.sampled_from(
    [
        *"url(image-set)@import font-face{};\"' /*\n-#<!>ab1,x",
        "url(",
        "image-set(",
        "@import ",
        "@font-face",
        "/*",
        "*/",
        "<!--",
        "-->",
        "-webkit-image-set(",
        "local(",
        "format(",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_fast_path_matches_tokenizer(css: str) -> None:
    assert _urls_fast(css) == _urls_full(css)


# The one-url() shortcut of find_urls and the scanner must agree on every style attribute.
_STYLE_PIECES = st.one_of(
    _PIECES,
    st.sampled_from(
        [
            "background-image:",
            "url('https://i.example/a.jpg')",
            'url("//i.example/b.png")',
            "url(https://i.example/c.gif)",
            "URL(d.png)",
            "uRl(e)",
            "url( f )",
            "url('')",
            "url()",
            "url('g\nh')",
            "url(i\xa0j)",
            "url(k\x85)",
            "url(l\x7fm)",
            " no-repeat;",
            "padding:0;",
            "x",
            "\u00e9",
            "\xa0",
            "#",
            "_",
            "@",
        ]
    ),
    st.text(max_size=3),
)


@example("@font-face@import {url('https://i.example/a.jpg')")  # the scanners once disagreed
@settings(max_examples=3000, deadline=None)
@given(st.lists(_STYLE_PIECES, max_size=12).map("".join))
def test_one_url_shortcut_matches_the_scanner(css: str) -> None:
    if "\\" not in css:
        assert find_urls(css) == _urls_fast(css)
    assert find_urls(css) == _urls_full(css)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_find_urls_never_raises(css: str) -> None:
    for item in find_urls(css):
        assert isinstance(item, CssUrl) and item.url


@pytest.mark.parametrize(
    "css",
    [
        "a{" * 500_000,
        "url(" * 250_000,
        "/*" * 500_000,
        '"' * 1_000_000,
        "\\" * 1_000_000,
        "url(\\" * 200_000,
        "image-set(" * 100_000,
        'url("\\75 /*' * 100_000,
        "\\61" * 300_000,
        "@import " * 120_000,
        "image-set(url(" * 70_000,
        "@font-face{" * 90_000,
        "'\\\n" * 300_000,
    ],
    ids=lambda css: repr(css[:14]),
)
def test_pathological_megabyte(css: str) -> None:
    """1 MB of hostile CSS: linear patterns only (a backtracking one would hang here)."""
    found = find_urls(css + "a{background:url(http://x/tail)}")
    assert all(item.url for item in found)


def test_pathological_keeps_the_tail() -> None:
    assert ("http://x/tail", "url") in urls("/*/" * 300_000 + "*/a{b:url(http://x/tail)}")
    assert ("http://x/t", "url") in urls("a{b:c}" * 150_000 + "a{b:url(http://x/t)}")


# -- declarations ----------------------------------------------------------------------------


def test_declarations_last_wins_and_important() -> None:
    decls = parse_declarations("display:none; width: 1px !important; width: 5px; HEIGHT:2PX")
    assert decls == {"display": "none", "width": "1px", "height": "2px"}
    assert parse_declarations("display:none !important; display:block")["display"] == "none"
    assert (
        parse_declarations("display:none !important; display:block !important")["display"]
        == "block"
    )
    assert parse_declarations("display:block; display:none")["display"] == "none"


def test_declarations_with_strings_comments_and_escapes() -> None:
    decls = parse_declarations(
        "display:n\\6fne; background:url(\"a;b\"); /*x:y*/opacity : 0 ; font-family:'A;B'"
    )
    assert decls["display"] == "none"
    assert decls["background"] == 'url("a;b")'
    assert decls["opacity"] == "0"
    assert decls["font-family"] == "'a;b'"
    assert "x" not in decls


def test_declarations_ignore_garbage() -> None:
    assert parse_declarations("garbage; : ; a b: c; width:") == {}


@pytest.mark.parametrize(
    ("value", "px"),
    [
        ("1px", 1),
        ("0", 0),
        ("0px", 0),
        ("1", 1),
        ("0.75pt", 1),
        ("1.5px", 2),
        ("2.4px", 2),
        ("1e3px", 1000),
        ("1in", 96),
        ("50%", None),
        ("auto", None),
        ("1em", None),
        ("-1px", None),
        ("", None),
        (None, None),
        ("1px 2px", None),
    ],
)
def test_length_px(value: str | None, px: int | None) -> None:
    assert length_px(value) == px


_ESCAPED_PIECES = st.sampled_from(
    [
        *"url(image-set)@import font-face{};\"' /*\n-#<!>ab1,x.+%5",
        "\\",
        "\\75 ",
        "\\72",
        "\\6c(",
        "\\28",
        "\\\n",
        "\\\\",
        '\\"',
        "url(",
        "image-set(",
        "@import ",
        "@\\69mport",
        "/*",
        "*/",
        "<!--",
        "-->",
        "1e3",
        "-.5",
        "#x",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_ESCAPED_PIECES, max_size=40).map("".join))
def test_skimming_tokenizer_matches_the_plain_one(css: str) -> None:
    """Skimming boring runs in one match finds exactly what token-by-token tokenizing finds."""
    assert _urls_full(css, skim=True) == _urls_full(css, skim=False)


@pytest.mark.parametrize("css", ["\\61 x " * 10_000, '@import "a";' * 10_000, "url(x)" * 10_000])
def test_deadline_stops_a_long_scan(css: str) -> None:
    with pytest.raises(PixelWardenError) as error:
        find_urls(css + "a{background:url(y)}", deadline=time.monotonic() - 1)
    assert error.value.code == "parse_timeout"
