"""`decide` reads each site's host once: `host_of` of a URL equals `host_of` of its site part."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pixelwarden.decide import _site
from pixelwarden.party import host_of

TRICKY = [
    "",
    "https://shop.example/a/b?c=d#e",
    "https://shop.example",
    "https://shop.example?x=1/2",
    "https://shop.example#frag/x",
    "https://evil.test\\@shop.example/",
    "https://user:pw@shop.example:8443/p",
    "https://user/x@shop.example/p",
    "https://[::1]:8080/p",
    "https://[::1/p",
    "https:///shop.example/p",
    "https:shop.example/p",
    "//shop.example/p",
    "  https://Shop.Example./p  ",
    "https://shop.example  ",
    "https://bücher.example/p",
    "cid:part1/x/y/z",
    "HTTPS://SHOP.EXAMPLE/P",
]


@pytest.mark.parametrize("url", TRICKY)
def test_site_keeps_the_host(url: str) -> None:
    assert host_of(_site(url)) == host_of(url)


_PIECES = ["/", "?", "#", "\\", "@", ":", "[", "]", ".", " ", "a", "B", "é", "1", "https://"]


@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_site_keeps_the_host_of_any_text(url: str) -> None:
    assert host_of(_site(url)) == host_of(url)
