"""Every message of the shared corpus of real mail scans without error.

The corpus is read in place, never copied into the project.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}: corpus checks skipped"
)


def test_every_corpus_message_scans_without_error():
    proc = subprocess.run(
        [sys.executable, "-m", "pixelwarden.cli", "scan", "--json", "--no-dns", str(CORPUS)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in {".eml", ".html"}]
    assert len(results) == len(files)
    errors = [r for r in results if "error" in r]
    assert errors == []
    for result in results:
        urls = [r["url"] for r in result["resources"]]
        assert len(urls) == len(set(urls)), "each distinct URL appears once per message"
        for res in result["resources"]:
            assert res["action"] in {"allow", "block"}
            assert res["url"].startswith(("http://", "https://"))
            # A tracker never loads, whatever the mode or party.
            assert not (res["tracker"] and res["action"] == "allow")
    # Real newsletters: trackers are found in a good share of them (the corpus notes say that a
    # simple rule sees a likely pixel in about three quarters of the messages).
    with_trackers = sum(1 for r in results if r["trackers_blocked"] > 0)
    assert with_trackers >= len(results) // 3
