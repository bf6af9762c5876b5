"""extract(): every remote reference Thunderbird could fetch, with its context."""

from __future__ import annotations

import base64

import pytest
from pixelwarden import extract as extract_module
from pixelwarden.extract import TEXT_CHARS_CAP, extract
from pixelwarden.model import Kind, Reference


def refs(html: str, base_url: str | None = None) -> list[Reference]:
    return list(extract(html, base_url).references)


def urls(html: str, base_url: str | None = None) -> list[str]:
    return [r.url for r in refs(html, base_url)]


def only(html: str, base_url: str | None = None) -> Reference:
    found = refs(html, base_url)
    assert len(found) == 1, found
    return found[0]


# -- vectors: (markup, url, kind, element, attribute) -----------------------------------------

VECTORS = [
    (
        '<img src="http://t.example/a.gif">',
        "http://t.example/a.gif",
        Kind.IMAGE,
        "img",
        "src",
    ),
    (
        '<img srcset="http://t.example/b.png 2x">',
        "http://t.example/b.png",
        Kind.IMAGE,
        "img",
        "srcset",
    ),
    (
        '<picture><source srcset="http://t.example/c.webp"></picture>',
        "http://t.example/c.webp",
        Kind.IMAGE,
        "source",
        "srcset",
    ),
    (
        '<input type="image" src="http://t.example/d.png">',
        "http://t.example/d.png",
        Kind.IMAGE,
        "input",
        "src",
    ),
    (
        '<video poster="http://t.example/e.jpg"></video>',
        "http://t.example/e.jpg",
        Kind.IMAGE,
        "video",
        "poster",
    ),
    (
        '<video src="http://t.example/f.mp4"></video>',
        "http://t.example/f.mp4",
        Kind.MEDIA,
        "video",
        "src",
    ),
    (
        '<audio src="http://t.example/g.mp3"></audio>',
        "http://t.example/g.mp3",
        Kind.MEDIA,
        "audio",
        "src",
    ),
    (
        '<audio><source src="http://t.example/h.ogg"></audio>',
        "http://t.example/h.ogg",
        Kind.MEDIA,
        "source",
        "src",
    ),
    (
        '<video><track src="http://t.example/i.vtt"></video>',
        "http://t.example/i.vtt",
        Kind.OTHER,
        "track",
        "src",
    ),
    (
        '<iframe src="http://t.example/j"></iframe>',
        "http://t.example/j",
        Kind.FRAME,
        "iframe",
        "src",
    ),
    (
        '<frameset><frame src="http://t.example/k"></frameset>',
        "http://t.example/k",
        Kind.FRAME,
        "frame",
        "src",
    ),
    (
        '<object data="http://t.example/l"></object>',
        "http://t.example/l",
        Kind.OBJECT,
        "object",
        "data",
    ),
    (
        '<embed src="http://t.example/m">',
        "http://t.example/m",
        Kind.OBJECT,
        "embed",
        "src",
    ),
    (
        '<svg><image href="http://t.example/n.png"/></svg>',
        "http://t.example/n.png",
        Kind.IMAGE,
        "image",
        "href",
    ),
    (
        '<svg><image xlink:href="http://t.example/o.png"/></svg>',
        "http://t.example/o.png",
        Kind.IMAGE,
        "image",
        "xlink:href",
    ),
    (
        '<svg><use href="http://t.example/p.svg#i"/></svg>',
        "http://t.example/p.svg",
        Kind.OTHER,
        "use",
        "href",
    ),
    (
        '<svg><filter><feImage xlink:href="http://t.example/q.png"/></filter></svg>',
        "http://t.example/q.png",
        Kind.IMAGE,
        "feimage",
        "xlink:href",
    ),
    (
        '<body background="http://t.example/r.png">',
        "http://t.example/r.png",
        Kind.IMAGE,
        "body",
        "background",
    ),
    (
        '<table background="http://t.example/s.png"><tr><td>x</td></tr></table>',
        "http://t.example/s.png",
        Kind.IMAGE,
        "table",
        "background",
    ),
    (
        '<table><tr><td background="http://t.example/t.png">x</td></tr></table>',
        "http://t.example/t.png",
        Kind.IMAGE,
        "td",
        "background",
    ),
    (
        '<table><tr><th background="http://t.example/u.png">x</th></tr></table>',
        "http://t.example/u.png",
        Kind.IMAGE,
        "th",
        "background",
    ),
    (
        '<link rel="stylesheet" href="http://t.example/v.css">',
        "http://t.example/v.css",
        Kind.STYLESHEET,
        "link",
        "href",
    ),
    (
        '<link rel="shortcut icon" href="http://t.example/w.ico">',
        "http://t.example/w.ico",
        Kind.IMAGE,
        "link",
        "href",
    ),
    (
        '<link rel="preload" as="font" href="http://t.example/x.woff2">',
        "http://t.example/x.woff2",
        Kind.FONT,
        "link",
        "href",
    ),
    (
        '<link rel="preload" as="image" href="http://t.example/y.png">',
        "http://t.example/y.png",
        Kind.IMAGE,
        "link",
        "href",
    ),
    (
        '<link rel="preload" as="style" href="http://t.example/z.css">',
        "http://t.example/z.css",
        Kind.STYLESHEET,
        "link",
        "href",
    ),
    (
        '<link rel="preload" href="http://t.example/aa">',
        "http://t.example/aa",
        Kind.OTHER,
        "link",
        "href",
    ),
    (
        '<div style="background-image:url(http://t.example/ab.png)">x</div>',
        "http://t.example/ab.png",
        Kind.IMAGE,
        "div",
        "style",
    ),
    (
        "<td style=\"background:image-set('http://t.example/ac.png' 1x)\">x</td>",
        "http://t.example/ac.png",
        Kind.IMAGE,
        "td",
        "style",
    ),
    (
        "<style>td{background:url('http://t.example/ad.png')}</style>",
        "http://t.example/ad.png",
        Kind.IMAGE,
        "style",
        "url()",
    ),
    (
        '<style>@import "http://t.example/ae.css";</style>',
        "http://t.example/ae.css",
        Kind.STYLESHEET,
        "style",
        "@import",
    ),
    (
        "<style>@import url(http://t.example/af.css) screen;</style>",
        "http://t.example/af.css",
        Kind.STYLESHEET,
        "style",
        "@import",
    ),
    (
        (
            "<style>@font-face{font-family:F;src:url(http://t.example/ag.woff2) format('woff2'),"
            "local(F)}</style>"
        ),
        "http://t.example/ag.woff2",
        Kind.FONT,
        "style",
        "@font-face",
    ),
    (
        r"<style>p{background:\75 rl(http://t.example/ah.png)}</style>",
        "http://t.example/ah.png",
        Kind.IMAGE,
        "style",
        "url()",
    ),
    (
        r'<p style="background:u\72l(http\3a //t.example/ai.png)">x</p>',
        "http://t.example/ai.png",
        Kind.IMAGE,
        "p",
        "style",
    ),
    (
        "<p>x</p><style>p{background:url(http://t.example/aj.png)}</style>",  # in the body
        "http://t.example/aj.png",
        Kind.IMAGE,
        "style",
        "url()",
    ),
    (
        '<IMG SRC="http://t.example/ak.gif">',
        "http://t.example/ak.gif",
        Kind.IMAGE,
        "img",
        "src",
    ),
    (
        "<img src=http://t.example/al.gif>",
        "http://t.example/al.gif",
        Kind.IMAGE,
        "img",
        "src",
    ),
    (
        "<img/src=http://t.example/am.gif>",
        "http://t.example/am.gif",
        Kind.IMAGE,
        "img",
        "src",
    ),
    (
        "<image src=http://t.example/an.gif>",
        "http://t.example/an.gif",
        Kind.IMAGE,
        "img",
        "src",
    ),
]


@pytest.mark.parametrize(
    ("html", "url", "kind", "element", "attribute"),
    VECTORS,
    ids=[v[1] for v in VECTORS],
)
def test_vector(html: str, url: str, kind: Kind, element: str, attribute: str) -> None:
    found = [r for r in refs(html) if r.url == url]
    assert found, refs(html)
    assert (found[0].kind, found[0].element, found[0].attribute) == (
        kind,
        element,
        attribute,
    )


def test_every_srcset_candidate() -> None:
    html = (
        '<img src="http://t.example/1x.png" srcset="http://t.example/1x.png 1x,'
        "http://t.example/2x.png 2x , http://t.example/a,b.png 3x,"
        ' http://t.example/w.png 640w, http://t.example/one,url.png">'
    )
    assert sorted(set(urls(html))) == sorted(
        {
            "http://t.example/1x.png",
            "http://t.example/2x.png",
            "http://t.example/a,b.png",
            "http://t.example/w.png",
            "http://t.example/one,url.png",  # a comma inside a URL does not split it
        }
    )


def test_imagesrcset_of_preloaded_image() -> None:
    html = (
        '<link rel="preload" as="image" href="http://t.example/a.png" '
        'imagesrcset="http://t.example/b.png 2x">'
    )
    assert set(urls(html)) == {"http://t.example/a.png", "http://t.example/b.png"}


def test_source_src_in_picture_is_not_fetched() -> None:
    assert urls('<picture><source src="http://t.example/no.png"></picture>') == []


def test_input_of_other_type_fetches_nothing() -> None:
    assert urls('<input type="text" src="http://t.example/no.png">') == []


def test_links_and_forms_are_not_fetched() -> None:
    html = (
        '<a href="http://t.example/a">a</a><form action="http://t.example/f"></form>'
        '<link rel="alternate" href="http://t.example/alt">'
        '<script src="http://t.example/s.js"></script>'
    )
    assert urls(html) == []


def test_second_body_tag_adds_its_background() -> None:
    html = '<p>x</p><body background="http://t.example/late.png" style="color:red">'
    assert urls(html) == ["http://t.example/late.png"]


@pytest.mark.parametrize(
    "first", ['<body style="margin:0">', "<BODY bgcolor=white>", "<body>", "<html><head></head>"]
)
def test_a_later_body_tag_adds_its_background_after_any_first_one(first: str) -> None:
    html = first + '<p>x</p><Body background="http://t.example/late.png">'
    assert urls(html) == ["http://t.example/late.png"]


def test_css_comments_hide_nothing_and_fetch_nothing() -> None:
    html = (
        "<style>/* a{background:url(http://t.example/comment.png)} */"
        "b{background:url(http://t.example/real.png)}</style>"
    )
    assert urls(html) == ["http://t.example/real.png"]


# -- URLs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    [
        "cid:part1@example",
        "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "about:blank",
        "file:///etc/passwd",
        "ftp://t.example/x",
        "  CID:x  ",
        "",
        "   ",
        "http://",
        "http://t.example:65536/p",
        "http://t.example:x/p",
        "http://999.1.1.1/",
        "http://1.2.3.4.5/",
        "http://4294967296/",
        "http://t.example.9/",
        "http://t<x.example/",
        "http://t%80.example/",
        "relative/path.png",
        "/absolute/path.png",
    ],
)
def test_never_remote(src: str) -> None:
    assert urls(f'<img src="{src}">') == []


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("//proto.example/p.gif", "https://proto.example/p.gif"),
        ("  http://t.example/trim.gif \n", "http://t.example/trim.gif"),
        ("http://t.example/a\n\tb\r.gif", "http://t.example/ab.gif"),
        ("HTTP://UP.EXAMPLE/Path", "http://up.example/Path"),
        ("http://t.example:80/p", "http://t.example/p"),
        ("https://t.example:443/p", "https://t.example/p"),
        ("http://t.example:8080/p", "http://t.example:8080/p"),
        ("http://t.example", "http://t.example/"),
        ("http://t.example?q=1", "http://t.example/?q=1"),
        ("http://t.example/p#fragment", "http://t.example/p"),
        ("https:\\\\back.example\\p.gif", "https://back.example/p.gif"),
        ("http:/one.example/p", "http://one.example/p"),
        ("http:///three.example/p", "http://three.example/p"),
        ("\\\\backproto.example/p", "https://backproto.example/p"),
        ("http://t.example/a/./b/../c", "http://t.example/a/c"),
        ("http://t.example/a/%2e%2E/b/%2e/c", "http://t.example/b/c"),
        ("http://t.example/sp ace", "http://t.example/sp%20ace"),
        ("http://t.example/\u00e9", "http://t.example/%C3%A9"),
        ("http://\u00e9xample.com/", "http://xn--xample-9ua.com/"),
        ("http://t.example/?a=&quot;b&quot;", "http://t.example/?a=%22b%22"),
        ("http://user:pw@t.example/p", "http://user:pw@t.example/p"),
        ("http://t.example/x?a=1&amp;b=2", "http://t.example/x?a=1&b=2"),
        ("http://t.example/&#x70;&#105;xel", "http://t.example/pixel"),
        ("&#104;ttp://t.example/e", "http://t.example/e"),
        ("http://%74.example/pct", "http://t.example/pct"),
        # IPv4 hosts in every form a URL parser accepts (expected values from Node's WHATWG URL)
        ("http://3232235777/", "http://192.168.1.1/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        ("http://1.2.3/", "http://1.2.0.3/"),
        ("http://@t.example/", "http://t.example/"),
        ("http://a^b:c|d@t.example/", "http://a%5Eb:c%7Cd@t.example/"),
        ("http://t.example/?a='b'", "http://t.example/?a=%27b%27"),
        ("http://t.example/a?", "http://t.example/a?"),
        ("http://t.example//a//b", "http://t.example//a//b"),
    ],
)
def test_url_as_thunderbird_would_request_it(src: str, expected: str) -> None:
    assert urls(f'<img src="{src}">') == [expected]


def test_base_href_applies_to_relative_urls() -> None:
    html = (
        '<head><base href="http://base.example/dir/"></head>'
        '<img src="a.png"><img src="../b.png"><img src="/c.png"><img src="//o.example/d">'
        '<img src="?q"><img src="http:e.png">'
    )
    assert urls(html) == [
        "http://base.example/dir/a.png",
        "http://base.example/b.png",
        "http://base.example/c.png",
        "http://o.example/d",
        "http://base.example/dir/?q",
        "http://base.example/dir/e.png",
    ]


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("a,;b", "http://base.example/dir/a,;b"),
        ("x?", "http://base.example/dir/x?"),
        ("a//b", "http://base.example/dir/a//b"),
        ("http:/root", "http://base.example/root"),
        ("http:rel", "http://base.example/dir/rel"),
        ("http:\\\\other.example/x", "http://other.example/x"),
        ("https:rel", "https://rel/"),  # another scheme than the base: an authority
        ("#frag", "http://base.example/dir/page?q"),
        (" ", "http://base.example/dir/page?q"),  # not empty: the document itself
    ],
)
def test_relative_resolution_like_a_browser(src: str, expected: str) -> None:
    html = f'<base href="http://base.example/dir/page?q#f"><img src="{src}">'
    assert urls(html) == [expected]


def test_empty_src_fetches_nothing_even_with_a_base() -> None:
    assert urls('<base href="http://base.example/"><img src="">') == []


def test_first_base_wins_and_applies_to_earlier_references() -> None:
    html = '<img src="a.png"><base href="https://one.example/"><base href="https://two.example/">'
    assert urls(html) == ["https://one.example/a.png"]


def test_relative_base_resolves_against_the_document_url() -> None:
    assert urls('<base href="sub/"><img src="a.png">', "https://doc.example/m/") == [
        "https://doc.example/m/sub/a.png"
    ]


def test_no_base_no_document_url_relative_is_local() -> None:
    assert urls('<base href="sub/"><img src="a.png">') == []
    assert urls('<base href="cid:x"><img src="a.png">') == []


def test_document_url_without_base() -> None:
    assert urls('<img src="a.png">', "https://doc.example/m/") == ["https://doc.example/m/a.png"]


def test_base_in_template_is_inert() -> None:
    html = '<template><base href="http://evil.example/"></template><img src="a.png">'
    assert urls(html) == []


def test_entities_decoded_in_attributes() -> None:
    assert urls('<img src="http&#58;//t.example/&#x61;?a=1&amp;b=2&copy=3">') == [
        "http://t.example/a?a=1&b=2&copy=3"
    ]


# -- context: sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "size"),
    [
        ('width="1" height="1"', (1, 1)),
        ('width="1px" height=" 2px"', (1, 2)),
        ('width="100%" height="1"', (None, 1)),
        ("", (None, None)),
        ('width="600" style="width:1px;height:1px"', (1, 1)),
        ('width="1" style="width:auto"', (None, None)),
        ('style="max-width:1px; max-height:0"', (1, 0)),
        ('width="600" height="300" style="max-width:2px"', (2, 300)),
        ('style="width:50%;height:3px"', (None, 3)),
        ('style="width:1px !important; width:600px"', (1, None)),
        ('width="0" height="0"', (0, 0)),
        ('width="abc"', (None, None)),
    ],
)
def test_declared_size(attributes: str, size: tuple[int | None, int | None]) -> None:
    ref = only(f'<img src="http://t.example/p.gif" {attributes}>')
    assert (ref.width, ref.height) == size


def test_size_of_css_background_is_the_elements() -> None:
    ref = only('<td width="600" style="background:url(http://t.example/bg.png)">x</td>')
    assert ref.width == 600


# -- context: hidden --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        '<img src="http://t.example/p.gif" style="display:none">',
        '<img src="http://t.example/p.gif" style="DISPLAY: NONE !important">',
        '<div style="display:none"><p><img src="http://t.example/p.gif"></p></div>',
        '<img src="http://t.example/p.gif" style="visibility:hidden">',
        '<div style="visibility:collapse"><img src="http://t.example/p.gif"></div>',
        '<img src="http://t.example/p.gif" style="opacity:0">',
        '<span style="opacity:0.0"><img src="http://t.example/p.gif"></span>',
        '<img src="http://t.example/p.gif" style="opacity:0%">',
        '<div style="max-height:0;overflow:hidden"><img src="http://t.example/p.gif"></div>',
        '<div style="height:0px;overflow:hidden"><img src="http://t.example/p.gif"></div>',
        '<div style="max-width:0;overflow:clip"><img src="http://t.example/p.gif"></div>',
        '<img hidden src="http://t.example/p.gif">',
        '<div hidden><img src="http://t.example/p.gif"></div>',
        '<div style="display:none"><td background="http://t.example/p.gif">x</td></div>',
        '<div style="display:none"><p style="background:url(http://t.example/p.gif)">x</p></div>',
        '<div style="display:n\\6f ne"><img src="http://t.example/p.gif"></div>',
        '<div style="display:none !important; display:block"><img src="http://t.example/p.gif">',
        '<div style="display:none"><div style="display:block"><img src="http://t.example/p.gif">',
        '<div style="position:absolute;left:-9999px"><img src="http://t.example/p.gif"></div>',
        '<img src="http://t.example/p.gif" style="position: fixed; top: -5000px">',
        '<img src="http://t.example/p.gif" style="position:relative;left:-9999px">',
    ],
)
def test_hidden(html: str) -> None:
    assert only(html).hidden


@pytest.mark.parametrize(
    "html",
    [
        '<img src="http://t.example/p.gif" width="0" height="0">',  # tiny, not hidden
        '<img src="http://t.example/p.gif" style="width:0;height:0">',
        '<div style="height:0"><img src="http://t.example/p.gif"></div>',  # no overflow:hidden
        '<div style="overflow:hidden;height:10px"><img src="http://t.example/p.gif"></div>',
        '<div style="display:none"></div><img src="http://t.example/p.gif">',  # sibling
        (
            '<div style="visibility:hidden"><span style="visibility:visible">'
            '<img src="http://t.example/p.gif"></span></div>'
        ),
        '<img src="http://t.example/p.gif" style="opacity:0.5">',
        '<img src="http://t.example/p.gif" style="display:block">',
        '<img src="http://t.example/p.gif" style="display:none; display:block">',
        '<img src="http://t.example/p.gif" style="text-decoration:none;border:none">',
        '<img src="http://t.example/p.gif" style="position:absolute;left:-10px">',
        '<img src="http://t.example/p.gif" style="margin-left:-9999px">',
    ],
)
def test_not_hidden(html: str) -> None:
    assert not only(html).hidden


def test_style_block_references_are_not_hidden_by_the_style_element() -> None:
    assert not only("<style>a{background:url(http://t.example/bg.png)}</style>").hidden


# -- context: quoted --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        '<blockquote type="cite"><img src="http://t.example/q.gif"></blockquote>',
        '<BLOCKQUOTE TYPE="CITE"><div><img src="http://t.example/q.gif"></div></BLOCKQUOTE>',
        '<div class="gmail_quote"><img src="http://t.example/q.gif"></div>',
        '<div class="x gmail_quote_container"><img src="http://t.example/q.gif"></div>',
        '<div class="moz-cite-prefix"><img src="http://t.example/q.gif"></div>',
        '<div class="moz-forward-container"><img src="http://t.example/q.gif"></div>',
        '<div class="yahoo_quoted"><img src="http://t.example/q.gif"></div>',
        '<div class="protonmail_quote"><img src="http://t.example/q.gif"></div>',
        '<div id="divRplyFwdMsg">From: x</div><p>old</p><img src="http://t.example/q.gif">',
        '<div id="appendonsend"></div><hr><img src="http://t.example/q.gif">',
        '<p>reply</p><p>-----Original Message-----</p><img src="http://t.example/q.gif">',
        '<p>---------- Forwarded message ---------</p><img src="http://t.example/q.gif">',
        '<p>-------- Original Message --------</p><img src="http://t.example/q.gif">',
        '<div>Begin forwarded message:</div><img src="http://t.example/q.gif">',
        '<p>-------- Weitergeleitete Nachricht --------</p><img src="http://t.example/q.gif">',
    ],
)
def test_quoted(html: str) -> None:
    assert only(html).quoted


@pytest.mark.parametrize(
    "html",
    [
        '<img src="http://t.example/q.gif"><blockquote type="cite">old</blockquote>',
        '<blockquote><img src="http://t.example/q.gif"></blockquote>',  # no type=cite
        '<blockquote type="cite">old</blockquote><img src="http://t.example/q.gif">',
        '<img src="http://t.example/q.gif"><p>-----Original Message-----</p>',
        '<div class="quotes-of-the-day"><img src="http://t.example/q.gif"></div>',
        '<p>Prices -- best ever -- forwarded to you</p><img src="http://t.example/q.gif">',
    ],
)
def test_not_quoted(html: str) -> None:
    assert not only(html).quoted


# -- text and images --------------------------------------------------------------------------


def test_text_chars_visible_text_only() -> None:
    html = (
        "<html><head><title>Title text</title><style>p{color:red}</style>"
        "<script>var x = 1;</script></head><body><p>Hello   \n  world</p>"
        '<div style="display:none">hidden preheader</div><p hidden>also hidden</p>'
        "<template>inert</template><noscript>shown</noscript></body></html>"
    )
    assert extract(html).text_chars == len("Hello world") + len("shown")


def test_text_chars_empty_and_whitespace() -> None:
    assert extract("").text_chars == 0
    assert extract("<p>   \n\t </p>").text_chars == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<p>" + "word " * 5000 + "</p>", TEXT_CHARS_CAP),  # long text: counted up to the cap
        ("<p>" + " " * 60_000 + "short text</p>", len("short text")),  # blank prefix, then text
        ("<p>" + "\u00a0" * 50_000 + "a b</p>", len("a b")),  # no-break spaces are whitespace
        ("<p>" + "x" * 9_999 + "</p>", 9_999),
    ],
)
def test_text_chars_counted_up_to_the_cap(body: str, expected: int) -> None:
    assert extract(body).text_chars == expected


def test_image_count_counts_local_and_remote_images() -> None:
    html = (
        '<img src="cid:a"><img src="data:image/png;base64,AA"><img src="http://t.example/a">'
        '<input type="image" src="x.png"><input type="text"><template><img src="cid:b"></template>'
    )
    extraction = extract(html)
    assert extraction.image_count == 4
    assert [r.url for r in extraction.references] == ["http://t.example/a"]


# -- what a browser does and does not fetch ---------------------------------------------------


def test_template_content_is_inert() -> None:
    html = (
        '<template><img src="http://t.example/inert.png">'
        "<style>a{background:url(http://t.example/inert.css)}</style></template>"
        '<img src="http://t.example/live.png">'
    )
    assert urls(html) == ["http://t.example/live.png"]


def test_noscript_is_markup_in_a_mail_reader() -> None:
    assert urls('<noscript><img src="http://t.example/ns.png"></noscript>') == [
        "http://t.example/ns.png"
    ]


def test_raw_text_inside_svg_is_markup() -> None:
    """In SVG, <style>/<title> are not raw text: <img> inside breaks out and loads."""
    html = (
        '<svg><style><img src="http://t.example/from-style.png"></style>'
        '<title><img src="http://t.example/from-title.png"></title></svg>'
    )
    assert set(urls(html)) == {
        "http://t.example/from-style.png",
        "http://t.example/from-title.png",
    }


def test_raw_text_in_html_is_not_markup() -> None:
    html = (
        '<title><img src="http://t.example/t.png"></title>'
        '<textarea><img src="http://t.example/ta.png"></textarea>'
        '<script><img src="http://t.example/s.png"></script>'
        '<iframe><img src="http://t.example/if.png"></iframe>'
        '<xmp><img src="http://t.example/xmp.png"></xmp>'
    )
    assert urls(html) == []


def test_duplicates_in_the_same_context_collapse() -> None:
    html = '<img src="http://t.example/a"><img src="http://t.example/a">'
    assert urls(html) == ["http://t.example/a"]


def test_same_url_in_two_contexts_is_kept_twice() -> None:
    html = '<img src="http://t.example/a"><div hidden><img src="http://t.example/a"></div>'
    assert [r.hidden for r in refs(html)] == [False, True]


def test_svg_presentation_attributes_name_external_documents() -> None:
    html = (
        '<svg><rect fill="url(http://t.example/paint.svg#g)"/>'
        '<g filter="url(//t.example/filter.svg#f)"><path mask="url(#local)"/></g></svg>'
        '<p fill="url(http://t.example/not-svg)">x</p>'
    )
    assert [(r.url, r.element, r.attribute) for r in refs(html)] == [
        ("http://t.example/paint.svg", "rect", "fill"),
        ("https://t.example/filter.svg", "g", "filter"),
    ]


def test_fragment_only_references_stay_in_the_document_even_with_a_base() -> None:
    html = (
        '<base href="http://base.example/"><svg><use href="#icon"/><rect fill="url(#grad)"/>'
        '</svg><p style="background:url(#x)">x</p><style>a{filter:url(#f)}</style>'
    )
    assert urls(html) == []


def test_fragment_only_img_src_fetches_the_base_document() -> None:
    """<img src="#"> is the document itself: under a remote <base> that is a fetch."""
    assert urls('<base href="http://t.example/pixel.gif"><img src="#">') == [
        "http://t.example/pixel.gif"
    ]


@pytest.mark.parametrize(
    "marker",
    [
        "-----Original&nbsp;Message-----",
        "<b>-----</b>Original Message<b>-----</b>",
        "---------- Forwarded&nbsp;message ---------",
        "Begin&nbsp;forwarded message:",
    ],
)
def test_quote_marker_split_by_entities_or_tags(marker: str) -> None:
    assert only(f'<p>{marker}</p><img src="http://t.example/q.gif">').quoted


def test_iframe_srcdoc_is_a_document_that_fetches() -> None:
    html = '<iframe srcdoc="&lt;img src=&quot;http://t.example/srcdoc.gif&quot;&gt;"></iframe>'
    assert urls(html) == ["http://t.example/srcdoc.gif"]


@pytest.mark.parametrize(
    "src",
    [
        "data:text/html,%3Cimg%20src%3Dhttp://t.example/doc.gif%3E",
        "data:text/html;charset=utf-8;base64,"
        + base64.b64encode(b'<img src="http://t.example/doc.gif">').decode(),
        "DATA:image/svg+xml,<svg><image href='http://t.example/doc.gif'/></svg>",
    ],
)
def test_data_url_documents_in_frames_and_objects(src: str) -> None:
    for tag, attribute in (("iframe", "src"), ("object", "data"), ("embed", "src")):
        found = urls(f'<{tag} {attribute}="{src}"></{tag}>')
        assert found == ["http://t.example/doc.gif"], (tag, found)


def test_data_url_of_other_types_is_not_read() -> None:
    assert urls('<iframe src="data:text/plain,<img src=http://t.example/no.gif>">') == []


def test_nested_srcdoc_is_bounded() -> None:
    html = '<img src="http://t.example/deep.gif">'
    for _ in range(8):
        html = '<iframe srcdoc="' + html.replace("&", "&amp;").replace('"', "&quot;") + '">'
    extraction = extract(html)
    assert [r.url for r in extraction.references] == ["http://t.example/deep.gif"]
    assert "reparse_limit" in extraction.warnings


def test_stylesheets_written_as_data_urls_load_what_they_name() -> None:
    html = (
        "<link rel=stylesheet href=\"data:text/css,@import 'http://t.example/i.css';"
        'p{background:url(http://t.example/bg.png)}">'
        '<style>@import url("data:text/css;base64,'
        + base64.b64encode(b"@font-face{src:url(http://t.example/f.woff)}").decode()
        + '");</style>'
    )
    assert {(r.url, r.kind) for r in refs(html)} == {
        ("http://t.example/i.css", Kind.STYLESHEET),
        ("http://t.example/bg.png", Kind.IMAGE),
        ("http://t.example/f.woff", Kind.FONT),
    }


def test_meta_link_header_is_read_like_a_link_element() -> None:
    html = (
        '<meta http-equiv="Link" content="<http://t.example/s.css>; rel=stylesheet, '
        '<http://t.example/f.woff2>; rel=preload; as=font, <http://t.example/x>; rel=next">'
    )
    assert [(r.url, r.kind, r.element) for r in refs(html)] == [
        ("http://t.example/s.css", Kind.STYLESHEET, "meta"),
        ("http://t.example/f.woff2", Kind.FONT, "meta"),
    ]


def test_mathml_glyph_image() -> None:
    assert urls('<math><mglyph src="http://t.example/g.png"/></math>') == ["http://t.example/g.png"]


STYLESHEET = (
    "<style>/* rules */ .preheader, .x-hide { display: none !important; max-height: 0; }"
    " img.pixel{visibility:hidden} #gone{opacity:0} .shown{display:block}"
    " @media (max-width: 600px) { .mobile-only { display: none } }"
    " .a .descendant{display:none} div>.child{display:none}</style>"
)


@pytest.mark.parametrize(
    ("markup", "hidden"),
    [
        ('<div class="preheader"><img src="http://t.example/p.gif"></div>', True),
        ('<img class="big x-hide" src="http://t.example/p.gif">', True),
        ('<img class="pixel" src="http://t.example/p.gif">', True),
        ('<span class="pixel"><img src="http://t.example/p.gif"></span>', False),  # img.pixel
        ('<p id="gone"><img src="http://t.example/p.gif"></p>', True),
        ('<img class="shown" src="http://t.example/p.gif">', False),
        ('<img class="mobile-only" src="http://t.example/p.gif">', False),  # conditional
        ('<img class="descendant" src="http://t.example/p.gif">', False),  # not a plain rule
        ('<img class="x-hide" style="display:block" src="http://t.example/p.gif">', False),
    ],
)
def test_hiding_rules_of_the_stylesheet(markup: str, hidden: bool) -> None:
    assert only(STYLESHEET + markup).hidden is hidden


@pytest.mark.parametrize(
    "css",
    [
        "@layer base; .pre{display:none}",  # a statement before the rule
        "@charset 'utf-8';\n@import 'cid:x.css' screen;\n.pre { display: none }",
        "} .pre{display:none}",  # a stray closing brace first
        "@media print { .x { color: red } } .pre{display:none}",  # after a conditional block
    ],
)
def test_hiding_rule_after_statements_and_blocks(css: str) -> None:
    assert only(f'<style>{css}</style><img class="pre" src="http://t.example/p.gif">').hidden


def test_hiding_rule_inside_a_statement_is_not_read() -> None:
    # A rule nested in @supports (like one in @media) is conditional: left out.
    html = "<style>@supports (display:grid) { .pre{display:none} }</style>"
    assert not only(html + '<img class="pre" src="http://t.example/p.gif">').hidden


def test_a_later_stylesheet_hides_elements_already_matched_by_an_earlier_one() -> None:
    # Regression: what an element matched was remembered per (tag, class, id) and not forgotten
    # when a second <style> block (common in a newsletter's body) added a rule for it.
    html = (
        "<style>.pre{display:none}</style>"
        '<div class="x"><img src="http://t.example/first.png"></div>'
        "<style>.x{display:none}</style>"
        '<div class="x"><img src="http://t.example/second.png"></div>'
    )
    assert [(r.url, r.hidden) for r in extract(html).references] == [
        ("http://t.example/first.png", False),
        ("http://t.example/second.png", True),
    ]


def test_a_stylesheet_seen_before_says_the_same_in_the_next_message() -> None:
    # What a <style> block loads and hides is remembered from one message to the next.
    sheet = "<style>@import url(http://t.example/s.css); .pre{display:none}</style>"
    first = extract(sheet + '<div class="pre"><img src="http://t.example/a.png"></div>')
    second = extract(sheet + '<p class="pre"><img src="http://t.example/b.png"></p><p>x</p>')
    assert [(r.url, r.hidden) for r in first.references] == [
        ("http://t.example/s.css", False),
        ("http://t.example/a.png", True),
    ]
    assert [(r.url, r.hidden) for r in second.references] == [
        ("http://t.example/s.css", False),
        ("http://t.example/b.png", True),
    ]
    assert second.text_chars == 1  # the hidden paragraph's text is not counted either way
    extract_module.forget_remembered()
    assert extract(sheet + '<p class="pre"><img src="http://t.example/b.png"></p>') == extract(
        sheet + '<p class="pre"><img src="http://t.example/b.png"></p>'
    )


def test_hiding_rules_hide_preheader_text() -> None:
    html = STYLESHEET + '<div class="preheader">Hidden preview text</div><p>Shown</p>'
    assert extract(html).text_chars == len("Shown")


def test_hiding_rules_apply_from_where_the_stylesheet_is() -> None:
    html = '<img class="x-hide" src="http://t.example/p.gif">' + STYLESHEET
    assert not only(html).hidden
