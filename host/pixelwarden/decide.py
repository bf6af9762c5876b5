"""The decision: every remote resource of a message gets exactly one action, with its reasons.

(work in progress by the lead: Knowledge is fixed, classify() lands next)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .model import CnameAnswer, Mode, Overrides


class ListMatcher(Protocol):
    """Downloaded adblock-syntax lists (issue 3): the name of the list that matches, or None."""

    def match(self, url: str, source_host: str | None) -> str | None: ...


@dataclass(frozen=True)
class Knowledge:
    """Everything classification needs besides the message, passed in by the caller."""

    trackers: object  # trackers.TrackerDB
    mode: Mode = Mode.STRICT
    overrides: Overrides = field(default_factory=Overrides)
    identities: tuple[str, ...] = ()  # the user's own addresses, besides the message's recipients
    # CNAME uncloaking: when on, a first-party host loads only once DNS has answered for it.
    uncloak: bool = False
    dns: Mapping[str, CnameAnswer] = field(default_factory=dict)
    lists: ListMatcher | None = None
