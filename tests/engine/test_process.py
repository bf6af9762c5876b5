"""Settings of processes that read message after message (process.py), checked in processes of
their own: what the kernel and the garbage collector count."""

from __future__ import annotations

import subprocess
import sys

import pytest

_FAULTS = """
import resource, sys
from email.message import EmailMessage
from pixelwarden.decide import Knowledge, classify
from pixelwarden.mime import parse_message
from pixelwarden.process import tune_for_messages
from pixelwarden.trackers import TrackerDB
knowledge = Knowledge(trackers=TrackerDB.bundled())
if sys.argv[1] == "keep":
    assert tune_for_messages().freed_memory_kept
row = (
    '<tr><td class="c{0}" style="padding:8px 12px"><a href="https://shop.example/p/{0}">'
    '<img src="https://img.shop.example/p/{0}/600.jpg" width="600" style="display:block"></a>'
    '<p style="margin:0;color:#333">Caf\u00e9 cr\u00e8me number {0}, now on sale.</p></td></tr>'
)
mail = EmailMessage()
mail["From"] = "news@shop.example"
mail["To"] = "reader@mail.test"
html = "<table>" + "".join(row.format(i) for i in range(2500)) + "</table>"
mail.set_content(html, "html", cte="quoted-printable")
data = mail.as_bytes()
classify(parse_message(data, "m.eml"), knowledge)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    classify(parse_message(data, "m.eml"), knowledge)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_kept_freed_memory_is_reused_by_the_next_message() -> None:
    """Newsletter after newsletter, the host and `scan` reuse freed buffers instead of faulting
    fresh pages in for each one (counted by the kernel, in a process of its own)."""

    def faults(mode: str) -> int:
        run = subprocess.run(
            [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True
        )
        return int(run.stdout)

    returned, kept = faults("return"), faults("keep")
    assert returned > 1000, returned  # five 0.75 MB newsletters: their pages come and go
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
