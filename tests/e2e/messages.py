"""Message files: the .eml files of a folder, and the few headers the harness compares."""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path

from harness import MessageFile


def read_messages(folder: Path) -> list[MessageFile]:
    files = sorted(p for p in folder.rglob("*.eml") if p.is_file())
    return [MessageFile(str(p.relative_to(folder)), p.read_bytes()) for p in files]


_REPLY_PREFIX = re.compile(r"^\s*((re|fwd?|aw|tr)\s*:\s*)+", re.IGNORECASE)


def subject_of(raw: bytes) -> str:
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    return same_subject(str(headers.get("subject", "") or ""))


def same_subject(subject: object) -> str:
    """Thunderbird's message list drops "Re:" (it keeps a flag instead); compare without it."""
    return _REPLY_PREFIX.sub("", str(subject or "")).strip()


def recipients_of(files: Iterable[MessageFile]) -> list[str]:
    found: set[str] = set()
    for f in files:
        headers = BytesHeaderParser(policy=default_policy).parsebytes(f.raw)
        for _, address in getaddresses([str(v) for v in headers.get_all("to", [])]):
            if "@" in address:
                found.add(address.lower())
    return sorted(found)[:50]
