"""``tether agent worktrees``: the real CLI over worktrees kept in a real repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether.orchestrate import Worktree


def git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def tether(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TETHER_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "tether", "agent", "worktrees", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "tester")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tester@example.com")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "app.py").write_text("print('v1')\n")
    git(path, "add", "app.py")
    git(path, "commit", "-q", "-m", "v1")
    return path


def test_list_diff_discard_and_merge_from_the_command_line(repo: Path, home: Path) -> None:
    assert tether("list", home=home).stdout.strip() == "no kept worktrees"
    trees = Worktree(home)
    dirty = trees.create(repo, base="main", agent="a")
    (dirty.path / "app.py").write_text("print('v2')\n")
    dirty = trees.finish(dirty)
    committed = trees.create(repo, base="main", agent="b")
    (committed.path / "b.py").write_text("b = 1\n")
    git(committed.path, "add", "b.py")
    git(committed.path, "commit", "-q", "-m", "b")
    committed = trees.finish(committed)

    listed = tether("list", home=home)
    assert listed.returncode == 0
    assert dirty.id in listed.stdout and "uncommitted changes" in listed.stdout
    assert committed.id in listed.stdout and "1 commit" in listed.stdout
    rows = json.loads(tether("list", "--json", home=home).stdout)
    assert {r["id"] for r in rows} == {dirty.id, committed.id}

    shown = tether("diff", dirty.id, home=home)
    assert shown.returncode == 0 and "+print('v2')" in shown.stdout

    refused = tether("discard", dirty.id, home=home)
    assert refused.returncode == 2 and "--force" in refused.stderr
    assert (dirty.path / "app.py").read_text() == "print('v2')\n"
    assert tether("discard", dirty.id, "--force", home=home).returncode == 0
    assert not dirty.path.exists()

    merged = tether("merge", committed.id, home=home)
    assert merged.returncode == 0, merged.stderr
    assert (repo / "b.py").read_text() == "b = 1\n" and not committed.path.exists()
    assert tether("list", home=home).stdout.strip() == "no kept worktrees"


def test_an_unknown_id_exits_2_naming_it(home: Path) -> None:
    done = tether("diff", "nope", home=home)
    assert done.returncode == 2 and "no worktree 'nope'" in done.stderr
