"""Open-pixel heuristics: size, visibility and URL shape, without false alarms on content."""

from __future__ import annotations

import pytest
from pixelwarden.model import Kind, Reference
from pixelwarden.pixels import judge, looks_like_token


def ref(url: str, w: int | None = None, h: int | None = None, hidden: bool = False) -> Reference:
    return Reference(url, Kind.IMAGE, "img", "src", w, h, hidden)


@pytest.mark.parametrize(
    "value",
    ["8f3a9c2e7b1d4f60a9e2", "550e8400-e29b-41d4-a716-446655440000", "aGVsbG8gd29ybGQxMjM0NTY",
     "Xk29LpQz7Rt3mNvB", "123456789012"],
)  # fmt: skip
def test_tokens(value):
    assert looks_like_token(value)


@pytest.mark.parametrize(
    "value", ["newsletter-header", "logo", "autumn_collection_2024", "600", "hero-image-large"]
)
def test_not_tokens(value):
    assert not looks_like_token(value)


@pytest.mark.parametrize(
    "reference, reason",
    [
        (ref("https://a.test/o.gif?u=8f3a9c2e7b1d4f60", 1, 1), "open_pixel"),
        (ref("https://a.test/p/8f3a9c2e7b1d4f60a9e2.gif", 0, 0), "open_pixel"),
        (ref("https://a.test/open.php?id=42", 1, None), "open_pixel"),
        (ref("https://a.test/img.png?x=1", 300, 200, hidden=True), "hidden_image"),
        (ref("https://a.test/track/open/Xk29LpQz7Rt3mNvBq8"), "beacon"),
        # A pixel-named file that carries a query is per-send, not static.
        (ref("http://a.test/spacer/spacer.fdml?F=news-november", 1, 1), "open_pixel"),
        (ref("http://www.a.test/mailshot/email/images/tracker0802.gif", 1, 1), "open_pixel"),
    ],
)
def test_pixels(reference, reason):
    assert judge(reference) == reason


@pytest.mark.parametrize(
    "reference",
    [
        ref("https://a.test/images/spacer.gif", 1, 1),  # static spacer
        ref("https://a.test/img/divider.png", 600, 1),  # divider
        ref("https://a.test/img/logo.png"),  # no size, no token
        ref("https://a.test/img/hero.jpg?w=600", 600, 300),  # visible, big
        ref("https://a.test/open-house/photo.jpg", None, None),  # tracking-ish word but no token
        ref("https://a.test/i/blank.gif", 1, 1, hidden=True),  # hidden static spacer
        # Regression (corpus audit): static layout pixels, no query, no token, are spacers.
        ref("http://developer.a.test/images/pixel.gif", 1, 1),
        ref("http://a772.g.cdn.test/7/772/51/www.a.test/enews/images/greypixel.gif", 1, 1),
    ],
)
def test_content_is_not_a_pixel(reference):
    assert judge(reference) is None


def test_only_images_are_pixels():
    font = Reference(
        "https://a.test/open.woff?u=8f3a9c2e7b1d4f60", Kind.FONT, "style", "@font-face", 1, 1
    )
    assert judge(font) is None
