"""Reading messages: MIME structure, transfer encodings, charsets, headers, broken input.

Every message here is synthetic and built in the test.
"""

from __future__ import annotations

import base64
import quopri

import pytest
from pixelwarden import mime
from pixelwarden.mime import HtmlDocument, decode_text, message_from_html, parse_message
from pixelwarden.model import PixelWardenError

HEAD = b"From: News <news@shop.example>\nTo: me@home.example\nMIME-Version: 1.0\n"


def message(content_type: str, body: bytes, *, headers: bytes = HEAD, cte: str = "") -> bytes:
    extra = f"Content-Transfer-Encoding: {cte}\n".encode() if cte else b""
    return headers + f"Content-Type: {content_type}\n".encode() + extra + b"\n" + body


def part(content_type: str, body: bytes, *, extra: str = "") -> bytes:
    return f"Content-Type: {content_type}\n{extra}\n".encode() + body + b"\n"


def multipart(subtype: str, *parts: bytes, boundary: str = "b1", params: str = "") -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\n" + p for p in parts)
    body += b"--" + boundary.encode() + b"--\n"
    return f'multipart/{subtype}; boundary="{boundary}"{params}'.encode() + b"\n\n" + body


def as_message(multipart_blob: bytes, headers: bytes = HEAD) -> bytes:
    return headers + b"Content-Type: " + multipart_blob


# ---------------------------------------------------------------------------- structure


def test_alternative_prefers_html_and_keeps_the_text():
    data = as_message(
        multipart(
            "alternative",
            part("text/plain; charset=utf-8", b"plain words"),
            part("text/html; charset=utf-8", b"<p>html words</p>"),
        )
    )
    msg = parse_message(data, "m.eml")
    assert msg.html is not None and "html words" in msg.html
    assert msg.text is not None and "plain words" in msg.text


def test_alternative_with_html_first_still_shows_html():
    data = as_message(
        multipart(
            "alternative",
            part("text/html", b"<p>html first</p>"),
            part("text/plain", b"plain last"),
        )
    )
    msg = parse_message(data, "m.eml")
    assert msg.html is not None and "html first" in msg.html
    assert msg.text is not None and "plain last" in msg.text


def test_alternative_with_related_html_and_images():
    related = multipart(
        "related",
        part("text/html", b'<img src="cid:logo@x">'),
        part("image/png", base64.b64encode(b"\x89PNG"), extra="Content-ID: <logo@x>\n"),
        boundary="inner",
    )
    data = as_message(
        multipart("alternative", part("text/plain", b"plain"), b"Content-Type: " + related)
    )
    msg = parse_message(data, "m.eml")
    assert msg.html is not None and "cid:logo@x" in msg.html
    assert "PNG" not in msg.html


def test_related_root_is_chosen_by_start_parameter():
    data = as_message(
        multipart(
            "related",
            part("text/html", b"<p>not the root</p>", extra="Content-ID: <other>\n"),
            part("text/html", b"<p>the root</p>", extra="Content-ID: <root@x>\n"),
            params='; start="<root@x>"',
        )
    )
    msg = parse_message(data, "m.eml")
    assert msg.html is not None and "the root" in msg.html
    assert "not the root" not in msg.html


def test_mixed_concatenates_inline_html_and_skips_attachments():
    data = as_message(
        multipart(
            "mixed",
            part("text/html", b"<p>first</p>"),
            part("image/gif", b"R0lGODlh", extra="Content-Disposition: inline\n"),
            part("text/html", b"<p>second</p>", extra="Content-Disposition: inline\n"),
            part(
                "text/html",
                b'<img src="https://evil.example/attached.gif">',
                extra='Content-Disposition: attachment; filename="a.html"\n',
            ),
        )
    )
    msg = parse_message(data, "m.eml")
    assert msg.html is not None
    assert msg.html.index("first") < msg.html.index("second")
    assert "attached.gif" not in msg.html


def test_forwarded_message_html_is_shown():
    inner = (
        b"From: Shop <shop@store.example>\nSubject: inner\nContent-Type: text/html\n\n"
        b'<img src="https://pixel.example/open.gif">\n'
    )
    data = as_message(
        multipart(
            "mixed",
            part("text/plain", b"see below"),
            part("message/rfc822", inner, extra="Content-Disposition: attachment\n"),
        )
    )
    msg = parse_message(data, "m.eml")
    assert msg.html is not None and "pixel.example/open.gif" in msg.html
    assert msg.text is not None and "see below" in msg.text
    assert msg.from_address == "news@shop.example"  # the outer sender, not the forwarded one


def test_base64_encoded_attached_message_is_decoded():
    inner = b"From: a@b.example\nContent-Type: text/html\n\n<p>inside</p>\n"
    data = message("message/rfc822", base64.encodebytes(inner), cte="base64")
    msg = parse_message(data, "m.eml")
    assert msg.html is not None and "inside" in msg.html


def test_signed_shows_content_and_encrypted_shows_nothing():
    signed = as_message(
        multipart(
            "signed",
            part("text/html", b"<p>signed body</p>"),
            part("application/pgp-signature", b"-----BEGIN PGP SIGNATURE-----"),
            params='; protocol="application/pgp-signature"',
        )
    )
    assert "signed body" in (parse_message(signed, "s").html or "")
    encrypted = as_message(
        multipart(
            "encrypted",
            part("application/pgp-encrypted", b"Version: 1"),
            part("application/octet-stream", b"-----BEGIN PGP MESSAGE-----"),
        )
    )
    msg = parse_message(encrypted, "e")
    assert msg.html is None and msg.text is None


def test_single_html_part_and_single_text_part():
    msg = parse_message(message("text/html", b"<b>hi</b>"), "h")
    assert msg.html == "<b>hi</b>" and msg.text is None
    msg = parse_message(message("text/plain", b"just text"), "t")
    assert msg.html is None and msg.text == "just text"


def test_top_level_html_with_attachment_disposition_is_still_shown():
    data = HEAD + b"Content-Type: text/html\nContent-Disposition: attachment\n\n<i>x</i>"
    assert parse_message(data, "m").html == "<i>x</i>"


def test_no_content_type_is_plain_text():
    msg = parse_message(b"From: a@b.example\nSubject: s\n\nhello", "m")
    assert msg.html is None and msg.text == "hello"


# ---------------------------------------------------------------------------- encodings


def test_quoted_printable_html():
    html = b'<img src="https://t.example/p.gif?id=3D42" width="1">'
    body = quopri.encodestring(html.replace(b"=3D", b"="))
    msg = parse_message(message("text/html", body + b"=\n", cte="quoted-printable"), "m")
    assert msg.html == '<img src="https://t.example/p.gif?id=42" width="1">'


def test_broken_quoted_printable_keeps_what_it_cannot_decode():
    body = b"<p>a=3Db =ZZ c=\n=\nd =4</p>"
    msg = parse_message(message("text/html", body, cte="Quoted-Printable"), "m")
    assert msg.html is not None
    assert "a=b" in msg.html and "=ZZ" in msg.html and "cd" in msg.html


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b,  # clean
        lambda b: b.rstrip(b"=\n"),  # padding lost
        lambda b: b.replace(b"\n", b"\r\n"),  # CRLF lines
        lambda b: b[:20] + b"!!*\x00\xff" + b[20:],  # junk characters in the middle
        lambda b: b + b"\n-- \nsignature text\n",  # text after the encoded data
        lambda b: b.replace(b"\n", b"  \n "),  # stray white space
    ],
)
def test_base64_html_decodes_even_when_broken(mangle):
    html = b'<p>Hello</p><img src="https://t.example/open.gif">' * 3
    body = mangle(base64.encodebytes(html))
    msg = parse_message(message("text/html; charset=utf-8", body, cte="base64 "), "m")
    assert msg.html is not None and "https://t.example/open.gif" in msg.html


def test_truncated_base64_decodes_what_is_there():
    html = b'<img src="https://t.example/open.gif"> and a long tail of text here'
    body = base64.b64encode(html)[:-7]
    msg = parse_message(message("text/html", body, cte="base64"), "m")
    assert msg.html is not None and msg.html.startswith('<img src="https://t.example/open.gif">')


def test_two_concatenated_base64_runs():
    body = base64.b64encode(b"<p>one</p>") + b"\n" + base64.b64encode(b"<p>two!</p>")
    msg = parse_message(message("text/html", body, cte="base64"), "m")
    assert msg.html == "<p>one</p><p>two!</p>"


# ---------------------------------------------------------------------------- charsets


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("utf-8", "Grüße, naïve café – €"),
        ("iso-8859-1", "Grüße, café"),
        ("iso-8859-2", "Zażółć gęślą jaźń"),
        ("iso-8859-15", "prix 10 €"),
        ("windows-1250", "Příliš žluťoučký kůň"),
        ("windows-1251", "Привет, мир"),
        ("windows-1252", "“quotes” and €"),
        ("koi8-r", "Привет, мир"),
        ("gb2312", "你好，世界"),
        ("shift_jis", "こんにちは世界"),
        ("euc-kr", "안녕하세요"),
        ("big5", "繁體中文"),
        ("iso-2022-jp", "こんにちは"),
    ],
)
def test_declared_charsets(charset, text):
    body = f"<p>{text}</p>".encode(charset)
    msg = parse_message(message(f'text/html; charset="{charset}"', body), "m")
    assert msg.html == f"<p>{text}</p>"


def test_latin1_label_decodes_windows_1252_bytes_like_thunderbird():
    body = "<p>10 € – “ok”</p>".encode("cp1252")
    msg = parse_message(message("text/html; charset=iso-8859-1", body), "m")
    assert msg.html == "<p>10 € – “ok”</p>"


def test_wrong_charset_falls_back():
    # Declared UTF-8 but written in windows-1252: UTF-8 fails, the fallback reads it right.
    body = "<p>Café crème</p>".encode("cp1252")
    msg = parse_message(message("text/html; charset=utf-8", body), "m")
    assert msg.html == "<p>Café crème</p>"


def test_us_ascii_label_on_8bit_text_tries_utf8_then_windows_1252():
    utf8 = parse_message(message("text/html; charset=us-ascii", "<p>é</p>".encode()), "m")
    assert utf8.html == "<p>é</p>"
    latin = parse_message(message("text/html; charset=us-ascii", "<p>é</p>".encode("cp1252")), "m")
    assert latin.html == "<p>é</p>"


def test_undeclared_charset_uses_utf8_then_meta():
    utf8 = parse_message(message("text/html", "<p>naïve</p>".encode()), "m")
    assert utf8.html == "<p>naïve</p>"
    koi8 = '<meta charset="koi8-r"><p>Привет</p>'.encode("koi8-r")
    assert parse_message(message("text/html", koi8), "m").html == (
        '<meta charset="koi8-r"><p>Привет</p>'
    )
    equiv = (
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">Привет'
    ).encode("cp1251")
    assert "Привет" in (parse_message(message("text/html", equiv), "m").html or "")


def test_unknown_and_non_text_charset_names_fall_back():
    for label in ("x-no-such-charset", "unicode_escape", "rot13", "base64", '"', "a" * 100):
        body = "<p>d\\u00e9j\\xe0 vu é</p>".encode()
        msg = parse_message(message(f"text/html; charset={label}", body), "m")
        assert msg.html == "<p>d\\u00e9j\\xe0 vu é</p>", label


def test_invalid_bytes_never_raise():
    body = b"<p>\x81\x8d\x8f\x90\x9d \xff\xfe\xc3\x28 \xe2\x82</p>"
    for charset in ("utf-8", "us-ascii", "shift_jis", "utf-16", ""):
        ctype = f"text/html; charset={charset}" if charset else "text/html"
        msg = parse_message(message(ctype, body), "m")
        assert msg.html is not None and msg.html.startswith("<p>")


def test_byte_order_mark_wins():
    body = b"\xef\xbb\xbf<p>\xc3\xa9</p>"
    assert parse_message(message("text/html; charset=iso-8859-1", body), "m").html == "<p>é</p>"


def test_decode_text_fallback_order():
    assert decode_text("é".encode(), None) == "é"
    assert decode_text("é".encode("cp1252"), "utf-8") == "é"
    assert decode_text(b"\x81", None) == "\x81"  # WHATWG windows-1252 maps it to U+0081
    assert decode_text("Ж".encode("koi8-r"), "koi8-r") == "Ж"


# ---------------------------------------------------------------------------- headers


def test_encoded_from_display_name_and_bare_address():
    headers = (
        b"From: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <Juergen.Mueller@Shop.Example>\n"
        b"Subject: =?iso-8859-1?Q?Gr=FC=DFe?= =?iso-8859-1?q?_aus_K=F6ln?=\n"
    )
    msg = parse_message(message("text/plain", b"x", headers=headers), "m")
    assert msg.from_header == "Jürgen Müller <Juergen.Mueller@Shop.Example>"
    assert msg.from_address == "juergen.mueller@shop.example"
    assert msg.subject == "Grüße aus Köln"


def test_encoded_word_split_inside_a_multibyte_character():
    euro = "€".encode()
    first = base64.b64encode(b"Price " + euro[:1]).decode()
    second = base64.b64encode(euro[1:] + b"5").decode()
    headers = f"From: =?utf-8?b?{first}?=\n =?utf-8?b?{second}?= <a@b.example>\n".encode()
    assert parse_message(message("text/plain", b"", headers=headers), "m").from_header == (
        "Price €5 <a@b.example>"
    )


def test_encoded_word_with_unknown_charset_and_raw_8bit_header():
    headers = "From: =?x-unknown?Q?caf=C3=A9?= Bäckerei <b@bakery.example>\n".encode()
    msg = parse_message(message("text/plain", b"", headers=headers), "m")
    assert msg.from_header == "café Bäckerei <b@bakery.example>"
    assert msg.from_address == "b@bakery.example"


def test_folded_raw_utf8_display_name_with_comma():
    headers = 'From: "Diät 🌟, Shop",\r\n "Diät 🌟" <Offers@News.Example>\r\n'.encode()
    msg = parse_message(message("text/plain", b"", headers=headers), "m")
    assert msg.from_address == "offers@news.example"


def test_missing_headers():
    msg = parse_message(b"Subject: only this\n\nbody", "m")
    assert msg.from_header == "" and msg.from_address is None
    assert msg.recipients == () and msg.message_id is None and msg.dmarc_fail is False


def test_from_without_address():
    msg = parse_message(b"From: Just A Name\n\nbody", "m")
    assert msg.from_header == "Just A Name" and msg.from_address is None


def test_recipients_from_all_four_headers_lower_cased_and_deduplicated():
    headers = (
        b"From: a@shop.example\n"
        b'To: "Me, Myself" <Me@Home.Example>, other@home.example\n'
        b"Cc: =?utf-8?q?Caf=C3=A9?= <cc@home.example>, undisclosed-recipients:;\n"
        b"Delivered-To: ME@home.example\n"
        b"X-Original-To: alias@home.example\n"
        b"X-Original-To: <<garbage>>, @@@, \x00\xff\n"
        b"Bcc: not-read@home.example\n"
    )
    msg = parse_message(message("text/plain", b"", headers=headers), "m")
    assert msg.recipients == (
        "me@home.example",
        "other@home.example",
        "cc@home.example",
        "alias@home.example",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"<abc.123@mail.example>", "abc.123@mail.example"),
        (b"  <abc@x>  (comment)", "abc@x"),
        (b"no-brackets@x", "no-brackets@x"),
        (b"<>", None),
    ],
)
def test_message_id(raw, expected):
    headers = b"From: a@b.example\nMessage-ID: " + raw + b"\n"
    assert parse_message(message("text/plain", b"", headers=headers), "m").message_id == expected


# ---------------------------------------------------------------------------- DMARC


def with_auth(*values: str) -> bytes:
    headers = b"".join(f"Authentication-Results: {v}\n".encode() for v in values)
    return message("text/plain", b"", headers=headers + b"From: a@shop.example\n")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["mx.home.example; dkim=pass header.d=shop.example; dmarc=fail header.from=x"], True),
        (["mx.home.example;\n dmarc=FAIL (p=REJECT sp=REJECT dis=NONE) header.from=x"], True),
        (["mx.home.example; dmarc=pass (was dmarc=fail before) header.from=x"], False),
        (["mx.home.example; dkim=fail; spf=fail; dmarc=none"], False),
        (["mx.home.example; dmarc=failed header.from=x"], False),
        (['mx.home.example; dkim=pass header.b="dmarc=fail"; dmarc=pass'], False),
        # Microsoft style, no authserv-id
        (["spf=softfail smtp.mailfrom=x; dkim=none;dmarc=fail action=none header.from=x"], True),
        # only the top-most receiver is trusted: a lower header by another server is not
        (
            [
                "mx.home.example; dmarc=pass header.from=x",
                "relay.elsewhere.example; dmarc=fail header.from=x",
            ],
            False,
        ),
        # ... but headers written by the same receiver (one per filter) all count
        (
            [
                "mx.home.example; dkim=pass header.d=x",
                "mx.home.example; dmarc=fail header.from=x",
            ],
            True,
        ),
        (["mx.home.example 1; dmarc/1=fail header.from=x"], True),
        (["mx.home.example; none"], False),
        (["((((unbalanced; dmarc=fail"], False),
    ],
)
def test_dmarc_fail(values, expected):
    assert parse_message(with_auth(*values), "m").dmarc_fail is expected


# ---------------------------------------------------------------------------- errors and limits


def test_too_large():
    data = b"From: a@b.example\n\n" + b"x" * mime.MAX_MESSAGE_BYTES
    with pytest.raises(PixelWardenError) as caught:
        parse_message(data, "big.eml")
    assert caught.value.code == "too_large"
    with pytest.raises(PixelWardenError) as caught:
        message_from_html(data, "big.html")
    assert caught.value.code == "too_large"


@pytest.mark.parametrize("data", [b"", b"\n\n\n", b"just some words\nand more\n", b"\x00\x01\x02"])
def test_not_a_message(data):
    with pytest.raises(PixelWardenError) as caught:
        parse_message(data, "x")
    assert caught.value.code == "not_a_message"


def test_not_bytes_is_a_structured_error():
    with pytest.raises(PixelWardenError):
        parse_message("From: a@b\n\nx", "x")  # type: ignore[arg-type]


def test_bare_html():
    page = '<html><head><meta charset="windows-1251"></head><body>Привет</body></html>'
    msg = parse_message(HtmlDocument(page.encode("cp1251")), "page.html")
    assert msg.html == page and msg.from_address is None and msg.source == "page.html"
    sniffed = parse_message(b"\n  <!DOCTYPE html><html><body><img src=x></body></html>", "x.eml")
    assert sniffed.html is not None and "<img src=x>" in sniffed.html


def test_leading_blank_lines_and_mbox_envelope_line():
    data = b"\r\n\r\nFrom a@b.example Mon Jan  1 00:00:00 2024\r\nFrom: a@b.example\r\n"
    data += b"Content-Type: text/html\r\n\r\n<p>x</p>\r\n"
    msg = parse_message(data, "m")
    assert msg.from_address == "a@b.example" and msg.html == "<p>x</p>\r\n"


def test_missing_final_boundary():
    data = as_message(multipart("alternative", part("text/html", b"<p>kept</p>")))
    data = data.replace(b"--b1--\n", b"")
    assert "kept" in (parse_message(data, "m").html or "")


def test_multipart_without_boundary_parameter():
    data = (
        HEAD + b"Content-Type: multipart/mixed\n\n<html><body><img src=https://t.example/p></body>"
    )
    msg = parse_message(data, "m")
    assert msg.html is not None and "https://t.example/p" in msg.html


def test_deep_nesting_does_not_raise():
    depth = 300
    body = part("text/html", b"<p>deep</p>")
    for level in range(depth):
        body = b"Content-Type: " + multipart("mixed", body, boundary=f"b{level}")
    try:
        msg = parse_message(HEAD + body, "deep")
    except PixelWardenError as error:
        assert error.code == "unreadable"
    else:
        assert msg.html is None or "deep" in msg.html


def test_binary_garbage_after_headers():
    data = HEAD + b"Content-Type: text/html\n\n" + bytes(range(256)) * 50
    msg = parse_message(data, "m")
    assert msg.html is not None and len(msg.html) == 256 * 50


def test_preamble_and_epilogue_are_not_shown():
    blob = multipart("mixed", part("text/html", b"<p>shown</p>"))
    blob = blob.replace(b"\n\n--b1\n", b"\n\n<p>preamble</p>\n--b1\n", 1) + b"<p>epilogue</p>\n"
    msg = parse_message(as_message(blob), "m")
    assert msg.html == "<p>shown</p>"


def test_inner_boundary_that_extends_the_outer_one():
    inner = multipart("alternative", part("text/html", b"<p>inner html</p>"), boundary="b1-x")
    data = as_message(multipart("mixed", b"Content-Type: " + inner, part("text/html", b"<p>2</p>")))
    msg = parse_message(data, "m")
    assert msg.html == "<p>inner html</p>\n<p>2</p>"


def test_crlf_multipart_parts_keep_no_delimiter_line_break():
    data = as_message(
        multipart("mixed", part("text/html", b"<p>a</p>"), part("text/html", b"<p>b</p>"))
    ).replace(b"\n", b"\r\n")
    assert parse_message(data, "m").html == "<p>a</p>\n<p>b</p>"


def test_delimiter_with_transport_padding_and_at_end_without_line_break():
    blob = multipart("mixed", part("text/html", b"<p>a</p>")).replace(b"--b1\n", b"--b1 \t\n")
    blob = blob.replace(b"--b1--\n", b"--b1--")
    assert parse_message(as_message(blob), "m").html == "<p>a</p>"


def test_digest_parts_default_to_messages():
    inner = b"From: x@y.example\nContent-Type: text/html\n\n<p>digest item</p>\n"
    data = as_message(multipart("digest", b"\n" + inner))
    assert parse_message(data, "m").html == "<p>digest item</p>"


def test_part_count_is_capped(monkeypatch):
    monkeypatch.setattr(mime, "MAX_MIME_PARTS", 5)
    parts = [part("text/html", f"<p>{i}</p>".encode()) for i in range(20)]
    msg = parse_message(as_message(multipart("mixed", *parts)), "m")
    assert msg.html is not None and "<p>0</p>" in msg.html and "<p>19</p>" not in msg.html


def test_header_block_is_capped(monkeypatch):
    monkeypatch.setattr(mime, "MAX_HEADER_BYTES", 200)
    headers = b"From: a@b.example\nSubject: kept\n" + b"X-Filler: yyyyyyyyyy\n" * 50
    msg = parse_message(headers + b"To: late@x.example\n\nbody", "m")
    assert msg.subject == "kept" and msg.recipients == () and msg.text == "body"


def test_header_block_ended_by_a_non_header_line():
    msg = parse_message(b"From: a@b.example\nthis line is not a header\nmore\n", "m")
    assert msg.from_address == "a@b.example"
    assert msg.text == "this line is not a header\nmore\n"


def test_alternative_shows_the_last_html_alternative():
    related = multipart("related", part("text/html", b"<p>richest</p>"), boundary="r")
    data = as_message(
        multipart(
            "alternative",
            part("text/plain", b"plain"),
            part("text/html", b"<p>simple</p>"),
            b"Content-Type: " + related,
        )
    )
    assert parse_message(data, "m").html == "<p>richest</p>"


def test_attached_multipart_in_mixed_is_not_shown():
    attached = multipart("alternative", part("text/html", b"<p>attached</p>"), boundary="a")
    data = as_message(
        multipart(
            "mixed",
            part("text/html", b"<p>body</p>"),
            b"Content-Disposition: attachment\nContent-Type: " + attached,
        )
    )
    assert parse_message(data, "m").html == "<p>body</p>"
