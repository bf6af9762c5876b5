"""Settings of processes that read message after message (process.py), checked in processes of
their own: what the kernel and the garbage collector count."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_FAULTS = """
import resource, sys
from email.message import EmailMessage
from pixelwarden.extract import extract
from pixelwarden.mime import parse_message
from pixelwarden.process import tune_for_messages
if sys.argv[1] == "keep":
    assert tune_for_messages().freed_memory_kept
mail = EmailMessage()
mail["From"] = "news@shop.example"
html = "<p>" + ("caf\\u00e9 " * 50 + "<img src='http://i.example/a.png'>") * 4000
mail.set_content(html, "html", cte="quoted-printable")
data = mail.as_bytes()
extract(parse_message(data, "m.eml").html)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    extract(parse_message(data, "m.eml").html)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(
    os.environ.get("PIXELWARDEN_READER", "") == "lxml", reason="C module switched off"
)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_kept_freed_memory_is_reused_by_the_next_message() -> None:
    """Message after message, the host and `scan` reuse freed buffers instead of faulting fresh
    pages in for each message (counted by the kernel, in a process of its own)."""

    def faults(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True
        )
        return int(run.stdout)

    returned, kept = faults("return"), faults("keep")
    assert returned > 500, returned  # five 1.2 MB messages: their pages come and go
    assert kept < returned / 5, (kept, returned)


_FROZEN = """
import gc
from pixelwarden.process import tune_for_messages
from pixelwarden.trackers import TrackerDB
TrackerDB.bundled()
gc.collect()
loaded = len(gc.get_objects())
tuning = tune_for_messages()
print(loaded, tuning.objects_frozen, len(gc.get_objects()))
"""


def test_what_is_loaded_is_left_out_of_full_collections() -> None:
    """The tracker data and everything else loaded before tuning is frozen: the collector's
    full collections walk only what came after (here almost nothing)."""
    run = subprocess.run(
        [sys.executable, "-c", _FROZEN], capture_output=True, text=True, check=True
    )
    loaded, frozen, walked = map(int, run.stdout.split())
    assert loaded > 10_000, loaded
    assert frozen >= loaded * 0.95, (frozen, loaded)
    assert walked < loaded / 50, (walked, loaded)
