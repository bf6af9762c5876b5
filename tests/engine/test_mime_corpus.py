"""Every message of the shared corpus of real mail reads without error (read in place)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pixelwarden.leaks import LeakDetector
from pixelwarden.mime import HtmlDocument, parse_message
from pixelwarden.model import Message
from pixelwarden.sources import iter_sources

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}: corpus checks skipped"
)


def test_every_corpus_file_is_found_and_reads_as_a_message():
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in {".eml", ".html"})
    found = list(iter_sources([str(CORPUS)]))
    assert sorted(source for source, _ in found) == sorted(str(p) for p in files)
    for source, raw in found:
        assert isinstance(raw, bytes), source
        message = parse_message(raw, source)
        assert isinstance(message, Message)
        # Each corpus message has a body to display, and no lone surrogate reaches the JSON.
        assert message.html or message.text, source
        for value in (message.html, message.text, message.from_header, message.subject):
            if value is not None:
                value.encode("utf-8")
        if isinstance(raw, HtmlDocument):
            assert message.from_address is None
        else:
            assert message.from_header, source
        LeakDetector(message.recipients).find(message.html or "")
