"""Shared fixtures: every test gets its own tether home, and nothing sleeps for real."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point TETHER_HOME at a fresh directory so no test touches ./.tether."""
    home = tmp_path / "tether-home"
    monkeypatch.setenv("TETHER_HOME", str(home))
    return home


@pytest.fixture
def home(_isolated_home: Path) -> Path:
    """The test's tether home (created)."""
    _isolated_home.mkdir(parents=True, exist_ok=True)
    return _isolated_home


@pytest.fixture
def sleeps() -> list[float]:
    """A list that an injected ``sleep`` appends to: backoff tests never wait."""
    return []
