"""`pixels.judge` skips URL parsing for visible unsized images without a strong word anywhere in
the URL; what urlsplit removes (tab, CR, LF) can join a word, so such URLs are parsed as before."""

from __future__ import annotations

import pytest
from pixelwarden.model import Kind, Reason, Reference
from pixelwarden.pixels import judge, url_shape

TOKEN = "aB3dE5fG7hJ9kL2mN4pQ"


@pytest.mark.parametrize("gap", ["\t", "\r", "\n"])
def test_a_strong_word_split_by_what_urlsplit_drops_still_makes_a_beacon(gap: str) -> None:
    url = f"https://mail.example/tr{gap}ack/{TOKEN}"
    shape = url_shape(url)
    assert shape.strong_word and shape.has_token
    assert judge(Reference(url, Kind.IMAGE, "img", "src")) == Reason.BEACON.value


def test_an_unsized_image_without_a_strong_word_is_content() -> None:
    url = f"https://mail.example/images/{TOKEN}.png"
    assert judge(Reference(url, Kind.IMAGE, "img", "src")) is None
    assert judge(Reference(url, Kind.IMAGE, "img", "src", hidden=True)) == Reason.HIDDEN_IMAGE.value
