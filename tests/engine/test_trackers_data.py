"""The bundled tracker data file itself: complete, sourced, without duplicates or stray names."""

from __future__ import annotations

import json
import re
from collections import Counter
from importlib import resources
from typing import Any

import pytest
from pixelwarden.trackers import CATEGORIES, TrackerDB, is_valid_suffix


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    text = resources.files("pixelwarden").joinpath("data", "trackers.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_header(data: dict[str, Any]) -> None:
    assert data["schema"] == 1
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", data["updated"])
    assert "written by the pixel warden project" in data["provenance"].lower()


def test_at_least_80_services_with_unique_ids(data: dict[str, Any]) -> None:
    ids = [s["id"] for s in data["services"]]
    assert len(ids) >= 80
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_every_category_is_known_and_the_main_families_are_present(
    data: dict[str, Any],
) -> None:
    categories = Counter(s["category"] for s in data["services"])
    assert set(categories) <= CATEGORIES
    for family in (
        "esp",
        "sales",
        "analytics",
        "social",
        "transactional",
        "marketing-automation",
    ):
        assert categories[family] >= 1, family


# Where a fact may come from: a public page, the project's notes, or a public mail corpus.
_SOURCE = re.compile(
    r"^(https?://\S+|trackers-notes\.md: .+|issue 3: .+|public corpus .+"
    r"|URL shape seen in public .+|customer DNS records .+|MailPoet's public source code .+)$"
)


def test_every_service_and_hosting_entry_has_a_source(data: dict[str, Any]) -> None:
    for service in data["services"]:
        assert service["source"], service["id"]
        for source in service["source"]:
            assert _SOURCE.match(source), (service["id"], source)
    for entry in data["hosting"]:
        assert entry["source"].strip(), entry["suffix"]


def test_no_bundled_third_party_list_is_named_as_a_source(data: dict[str, Any]) -> None:
    # Licences: EasyPrivacy/AdGuard are downloaded by the user, never bundled; Tracker Radar,
    # Disconnect and Ghostery (non-commercial) are not used at all.
    text = json.dumps(data).lower()
    for name in (
        "easyprivacy",
        "easylist",
        "adguard",
        "disconnect",
        "ghostery",
        "tracker-radar",
    ):
        assert name not in text


def _all_names(data: dict[str, Any]) -> list[str]:
    names = [h["suffix"] for h in data["hosting"]]
    for s in data["services"]:
        names += s.get("hosts", []) + s.get("content_hosts", []) + s.get("cname_targets", [])
        names += [p["host"] for p in s.get("paths", []) if "host" in p]
    return names


def test_every_host_is_a_valid_lower_case_name(data: dict[str, Any]) -> None:
    bad = [n for n in _all_names(data) if not is_valid_suffix(n) or n != n.lower()]
    assert bad == []


def test_no_host_belongs_to_two_services_or_to_hosting_and_a_service(
    data: dict[str, Any],
) -> None:
    owner: dict[str, str] = {}
    for s in data["services"]:
        names = set(s.get("hosts", []) + s.get("content_hosts", []) + s.get("cname_targets", []))
        names |= {p["host"] for p in s.get("paths", []) if "host" in p}
        for name in names:
            assert owner.setdefault(name, s["id"]) == s["id"], name
    hosting = {h["suffix"] for h in data["hosting"]}
    assert hosting & set(owner) == set()
    assert len(hosting) == len(data["hosting"])


def test_no_rule_is_written_twice(data: dict[str, Any]) -> None:
    rules: list[tuple[Any, ...]] = []
    for s in data["services"]:
        rules += [("host", h) for h in s.get("hosts", [])]
        rules += [("content", h) for h in s.get("content_hosts", [])]
        rules += [("cname", h) for h in s.get("cname_targets", [])]
        rules += [
            (
                "path",
                p.get("host"),
                p["path"],
                tuple(p.get("params", ())),
                json.dumps(p.get("token")),
            )
            for p in s.get("paths", [])
        ]
        # A CNAME target equal to, or inside, one of the service's own tracking hosts is redundant.
        for target in s.get("cname_targets", []):
            assert not any(target == h or target.endswith("." + h) for h in s.get("hosts", [])), (
                s["id"],
                target,
            )
    assert [r for r, n in Counter(rules).items() if n > 1] == []


def test_path_rules_for_any_host_demand_a_token_or_a_query(
    data: dict[str, Any],
) -> None:
    for s in data["services"]:
        for rule in s.get("paths", []):
            if "host" not in rule:
                assert rule.get("token") or rule.get("params"), (s["id"], rule)


def test_the_file_loads(data: dict[str, Any]) -> None:
    db = TrackerDB.from_dict(data)
    assert len(db) == len(data["services"])
    assert len(db.hosting) == len(data["hosting"])
