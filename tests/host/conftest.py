"""Fixtures for the native host tests: private folders, and the real host process on a pipe."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hostpipe import Host, make_host_env  # noqa: E402


@pytest.fixture
def host_env(tmp_path: Path) -> dict[str, str]:
    return make_host_env(tmp_path)


@pytest.fixture
def host(host_env: dict[str, str]) -> Iterator[Host]:
    process = Host(host_env)
    yield process
    process.kill()
