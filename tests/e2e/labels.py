"""Ground truth of the fixture messages (fixtures/labels.json), written with the fixtures.

The labels are independent of the host: they say what a correct run must and must not fetch,
so a host that misses a tracker makes the run fail at the proxy, not at a comparison with itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from proxy import Entry
from urls import normalise, path_of


@dataclass(frozen=True)
class Labels:
    tracker_urls: tuple[str, ...] = ()
    tracker_hosts: tuple[str, ...] = ()
    tracker_paths: tuple[str, ...] = ()
    links: tuple[str, ...] = ()  # <a href> targets: links are never followed at display time
    first_party: tuple[str, ...] = ()
    first_party_any: tuple[tuple[str, ...], ...] = ()
    third_party: tuple[str, ...] = ()
    third_party_any: tuple[tuple[str, ...], ...] = ()
    image_only: bool = False
    no_requests: bool = False
    min_trackers: int = 0

    def forbidden(self, entry: Entry) -> str | None:
        """Why this request must never have happened (a tracker or a link), or None."""
        url = normalise(entry.url) if entry.method != "CONNECT" else ""
        if url and url in {normalise(u) for u in self.tracker_urls}:
            return "tracker URL"
        for host in self.tracker_hosts:
            if entry.host == host or entry.host.endswith("." + host):
                return f"tracker host {host}"
        path = path_of(entry.url) if url else ""
        for prefix in self.tracker_paths:
            if path.startswith(prefix):
                return f"tracker path {prefix}"
        for link in self.links:
            if url.startswith(normalise(link)):
                return f"link {link}"
        return None

    @property
    def third_party_groups(self) -> tuple[tuple[str, ...], ...]:
        return tuple((u,) for u in self.third_party) + self.third_party_any

    @property
    def first_party_groups(self) -> tuple[tuple[str, ...], ...]:
        return tuple((u,) for u in self.first_party) + self.first_party_any


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _groups(value: object) -> tuple[tuple[str, ...], ...]:
    return tuple(_strings(g) for g in value) if isinstance(value, list) else ()


def load_labels(path: Path) -> tuple[dict[str, Labels], dict[str, object]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    labels: dict[str, Labels] = {}
    for name, raw in data["messages"].items():
        trackers = raw.get("trackers", {})
        labels[name] = Labels(
            tracker_urls=_strings(trackers.get("urls")),
            tracker_hosts=_strings(trackers.get("hosts")),
            tracker_paths=_strings(trackers.get("paths")),
            links=_strings(raw.get("links")),
            first_party=_strings(raw.get("first_party")),
            first_party_any=_groups(raw.get("first_party_any")),
            third_party=_strings(raw.get("third_party")),
            third_party_any=_groups(raw.get("third_party_any")),
            image_only=bool(raw.get("image_only", False)),
            no_requests=bool(raw.get("no_requests", False)),
            min_trackers=int(raw.get("min_trackers", 0)),
        )
    return labels, data
