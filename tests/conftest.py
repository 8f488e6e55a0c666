"""Shared fixtures: every test gets its own tether home, and nothing sleeps for real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test may reach a real model: a forgotten fake fails instead of spending (pydantic-ai's guard).
try:
    from pydantic_ai import models as _pai_models

    _pai_models.ALLOW_MODEL_REQUESTS = False
except ImportError:  # the llm extra is not installed; LLM tests skip themselves
    pass

# Keys from the developer's shell must not leak into tests.
for _name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "GITHUB_TOKEN",
              "GITHUB_COPILOT_API_KEY", "COPILOT_GITHUB_TOKEN", "TETHER_LLM_BASE_URL", "TETHER_LLM_API_KEY",
              "OPENAI_BASE_URL"):  # fmt: skip
    os.environ.pop(_name, None)


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
