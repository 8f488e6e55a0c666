"""Fixtures for the starter-pack tests: a working tree, an engine that never sleeps, git isolation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.starter.support import need
from tether import Tether


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The job's working directory (the tether home and "outside" paths are its siblings)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def engine(home: Path, sleeps: list[float]) -> Tether:
    """An engine over the starter pack whose backoff only records into ``sleeps``."""
    return Tether(home=home, sleep=sleeps.append)


@pytest.fixture
def env_engine(home: Path, sleeps: list[float]) -> Tether:
    """Like ``engine`` with ``changes-environment`` rules allowed."""
    return Tether(home=home, sleep=sleeps.append, allow_environment_changes=True)


GIT_VARIABLES = (
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "EMAIL",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
)


@pytest.fixture
def git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate git: HOME, no system config, an empty global config file in tmp_path (returned).

    Set with ``monkeypatch.setenv`` so child processes and the actions' own git
    calls see it, and so nothing of the machine's git configuration is read or written.
    """
    need("git")
    git_home = tmp_path / "git-home"
    git_home.mkdir()
    config = git_home / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("HOME", str(git_home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    for name in GIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return config
