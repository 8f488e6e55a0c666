"""Every case of the projects corpus, end to end: ``Tether.run_command`` on the real command.

``recovered``: a rule fired and the re-run passed. ``not-fired``: no rule's
action completed (nothing changed inside the job or beside it, and the
command's exit code came back unchanged).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.starter.corpus import Case
from tests.starter.corpus_projects import CASES, engine_with_packs


def snapshot(root: Path, home: Path) -> dict[str, tuple[int, bytes]]:
    """Every path under ``root`` (the job's directory and its siblings) but ``home``, with mode and bytes."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if ".git" in path.parts or home in (path, *path.parents) or "__pycache__" in path.parts:
            continue
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        out[str(rel)] = (path.lstat().st_mode, data)
    return out


@pytest.fixture(autouse=True)
def _keep_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixes may set PYTHONPATH for the re-runs; each test starts and ends without it."""
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.setenv("npm_config_update_notifier", "false")
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the jobs' pytest starts in 0.3 s
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, tmp_path: Path, work: Path, home: Path, git_env: None) -> None:
    for tool in case.needs:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    (tmp_path / "elsewhere").mkdir()
    argv = case.setup(work)
    engine = engine_with_packs(home, case.packs, [])
    before = snapshot(tmp_path, home)
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    if case.expect == "recovered":
        assert result.exit_code == 0, (result.stdout, result.stderr, outcome)
        assert outcome is not None and outcome.recovered, outcome
        return
    assert result.exit_code != 0 or outcome is None, result.stdout
    attempts = outcome.attempts if outcome is not None else []
    assert all(a.outcome == "action_error" for a in attempts), attempts
    assert snapshot(tmp_path, home) == before  # nothing left behind, inside the job or out
    assert "PYTHONPATH" not in os.environ


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git sees no user or system configuration of this machine."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
