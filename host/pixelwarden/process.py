"""Settings for a process that reads mail message after message: the native host and
`pixelwarden scan` (and `make bench`, which measures the engine as they run it).

They are the process's business, not the engine's: a program that imports the engine for a
message or two decides for itself.
"""

from __future__ import annotations

import gc
from typing import NamedTuple

try:
    from . import _native  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the installation
    _native = None

# Freed memory kept for the next message (see _native.c's keep_freed_memory): the buffers of a
# message up to the engine's 16 MiB HTML limit, twice.
KEEP_FREED_BYTES = 32 * 1024 * 1024


class Tuning(NamedTuple):
    freed_memory_kept: bool
    objects_frozen: int


def tune_for_messages() -> Tuning:
    """Call once the engine's data is loaded (tracker data, lists, public suffixes).

    - Freed buffers are kept for the next message instead of going back to the system (glibc):
      a 1 MB newsletter faulted 1,236 fresh pages in, 4 ms of system time, every time.
    - Everything loaded so far is frozen out of the garbage collector's full collections: they
      come every 30 or so large messages and walked the whole tracker data each time, adding
      6-12 ms to that message (0.3-0.9 ms once frozen). Only objects created later are walked.
      What is frozen is left to reference counting alone (the collector never frees a cycle
      among it): call this once the data that stays for the process's life is loaded.
    """
    kept = _native is not None and bool(_native.keep_freed_memory(KEEP_FREED_BYTES))
    gc.collect()  # what is garbage now is not frozen with the rest
    gc.freeze()
    return Tuning(kept, gc.get_freeze_count())
