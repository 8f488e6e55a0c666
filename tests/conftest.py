"""Shared fixtures: every test gets its own tether home, and nothing sleeps for real."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

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
              "OPENAI_BASE_URL", "TETHER_STORE_URL"):  # fmt: skip
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


PG_URL_ENV = "TETHER_TEST_PG_URL"


def _no_server(reason: str) -> None:
    """Skip locally; under ``CI=true`` a missing server is a failure (.ci/run starts one)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}: .ci/run must start PostgreSQL and export {PG_URL_ENV}")
    pytest.skip(f"{reason} (set {PG_URL_ENV}=postgresql://...; .ci/run starts a throwaway server)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL for this test alone: a fresh schema in ``$TETHER_TEST_PG_URL``'s
    database (first on the search path), dropped afterwards."""
    base = os.environ.get(PG_URL_ENV, "").strip()
    if not base:
        _no_server(f"{PG_URL_ENV} is not set")
    try:
        import psycopg
    except ImportError:
        _no_server("psycopg is not installed (pip install 'tether[fleet]')")
    schema = "t_" + secrets.token_hex(6)
    try:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError as exc:
        _no_server(f"no PostgreSQL at {PG_URL_ENV} ({exc})")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=" + quote(f"-csearch_path={schema}", safe="")
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.fleet)])
def any_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL on each backend in turn: a new SQLite file, then a fresh PostgreSQL schema
    (skipped without a server; see :func:`pg_url`). ``open_store(url=...)`` opens either."""
    if request.param == "sqlite":
        return "sqlite://" + str(tmp_path / "store" / "tether.db")
    return str(request.getfixturevalue("pg_url"))
