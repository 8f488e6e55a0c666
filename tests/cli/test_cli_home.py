"""Finding the home by walking up, `tether init`'s .gitignore, read-only commands that create
nothing, `stats --json`, and a broken config.yaml read leniently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether.config import Config, find_home, read_config, resolve_home
from tether.errors import ConfigError

TETHER = [sys.executable, "-m", "tether"]


def tether(*args: str, cwd: Path, env_home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real CLI; without ``env_home``, $TETHER_HOME is unset so the walk decides."""
    env = {k: v for k, v in os.environ.items() if k != "TETHER_HOME"}
    if env_home is not None:
        env["TETHER_HOME"] = str(env_home)
    return subprocess.run(
        [*TETHER, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.fixture(autouse=True)
def _boundary(tmp_path: Path) -> None:
    """A repository at tmp_path, so that no stray home above it (say /tmp/.tether) is found."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)


def test_find_home_walks_up_and_stops_at_the_repository_top(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    (outer / ".tether").mkdir(parents=True)
    deep = outer / "a" / "b"
    deep.mkdir(parents=True)
    assert find_home(deep) == outer / ".tether"
    repo = outer / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "src").mkdir()
    assert find_home(repo / "src") is None  # the home above the repository is not its home
    (repo / ".tether").mkdir()
    assert find_home(repo / "src") == repo / ".tether"
    (outer / "a" / ".tether").write_text("a file, not a home")
    assert find_home(deep) == outer / ".tether"


def test_resolve_home_order_argument_env_walk_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "p" / ".tether").mkdir(parents=True)
    (tmp_path / "p" / "sub").mkdir()
    monkeypatch.delenv("TETHER_HOME")
    assert resolve_home(start=tmp_path / "p" / "sub") == tmp_path / "p" / ".tether"
    assert resolve_home(start=tmp_path / "q") == tmp_path / "q" / ".tether"  # none: ./.tether
    monkeypatch.setenv("TETHER_HOME", str(tmp_path / "env-home"))
    assert resolve_home(start=tmp_path / "p" / "sub") == tmp_path / "env-home"
    assert resolve_home(tmp_path / "arg", start=tmp_path / "p") == tmp_path / "arg"


def test_read_config_gives_defaults_and_the_error_for_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("engine:\n  max_retries: [not, a, number]\n")
    loaded = read_config(tmp_path)
    assert loaded.config == Config()
    assert isinstance(loaded.error, ConfigError)
    assert "config.yaml" in str(loaded.error) and "engine.max_retries" in str(loaded.error)
    (tmp_path / "config.yaml").write_text("engine:\n  max_retries: 5\n")
    good = read_config(tmp_path)
    assert good.error is None and good.config.engine.max_retries == 5
    (tmp_path / "config.yaml").write_text("engine: {max_retries: 1\n")  # malformed YAML
    assert "malformed YAML" in str(read_config(tmp_path).error)


def test_commands_below_the_project_use_its_home(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    assert tether("init", cwd=project).returncode == 0
    sub = project / "pkg" / "deep"
    sub.mkdir(parents=True)
    listing = tether("rules", "list", "--json", cwd=sub)
    assert listing.returncode == 0, listing.stderr
    data = json.loads(listing.stdout)
    assert data["home"] == str(project / ".tether")
    mine = [r for r in data["rules"] if r["name"] == "example-missing-tool"]
    assert mine and mine[0]["source"] == "home" and mine[0]["actions"] == ["report_missing_tool"]
    assert not (sub / ".tether").exists()


def test_init_writes_a_gitignore_that_keeps_records_out_of_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    proc = tether("init", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    home = repo / ".tether"
    for name in ("tether.db", "tether.db-wal", "observations.jsonl"):
        (home / name).write_text("records")
    for folder in ("traces", "state"):
        (home / folder).mkdir()
        (home / folder / "run.jsonl").write_text("records")
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tracked = sorted(line[3:] for line in status.splitlines())
    assert tracked == [
        ".tether/.gitignore",
        ".tether/actions/example.py",
        ".tether/config.yaml",
        ".tether/rules/example-missing-tool.rule.yaml",
    ]


def test_init_keeps_an_existing_gitignore_and_notes_a_home_it_hides(tmp_path: Path) -> None:
    (tmp_path / ".tether").mkdir()
    (tmp_path / ".tether" / ".gitignore").write_text("mine\n")
    assert tether("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / ".tether" / ".gitignore").read_text() == "mine\n"
    sub = tmp_path / "sub"
    sub.mkdir()
    proc = tether("init", cwd=sub)
    assert proc.returncode == 0
    assert f"this home is used instead of {tmp_path / '.tether'}" in proc.stderr


def test_read_only_commands_create_no_home(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    failing = subprocess.run(
        ["sh", "-c", "./build.sh"], cwd=work, capture_output=True, text=True, check=False
    )
    (tmp_path / "ctx.json").write_text(
        json.dumps({"stderr": failing.stderr, "exit_code": failing.returncode})
    )
    for args in (
        ["stats"],
        ["stats", "--json"],
        ["rules", "list"],
        ["rules", "lint"],
        ["rules", "show", "git-index-lock"],
        ["approvals"],
    ):
        proc = tether(*args, cwd=work)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "no home here (run tether init)" in proc.stderr, args
    proc = tether("rules", "test", str(tmp_path / "ctx.json"), cwd=work)
    assert proc.returncode == 1  # nothing fires for "not found"; still no home made
    assert "no home here" in proc.stderr
    assert sorted(p.name for p in work.iterdir()) == []
    named = tmp_path / "named-home"
    assert tether("stats", cwd=work, env_home=named).returncode == 0
    assert not named.exists()
    denied = tether("approve", "apv_123", cwd=work)
    assert denied.returncode == 4 and "no token 'apv_123' to decide" in denied.stderr
    assert not (work / ".tether").exists()


def test_stats_json_has_stable_keys(tmp_path: Path) -> None:
    home = tmp_path / "h"
    empty = tether("stats", "--json", cwd=tmp_path, env_home=home)
    assert json.loads(empty.stdout) == {"home": None, "rules": []}
    work = tmp_path / "job"
    work.mkdir()
    (work / "run.sh").write_text("#!/bin/sh\necho ran\n")
    assert tether("init", cwd=tmp_path, env_home=home).returncode == 0
    assert json.loads(tether("stats", "--json", cwd=tmp_path, env_home=home).stdout)["rules"] == []
    ran = tether("run", "--", "./run.sh", cwd=work, env_home=home)
    assert ran.returncode == 0, ran.stderr
    data = json.loads(tether("stats", "--json", cwd=tmp_path, env_home=home).stdout)
    assert data["home"] == str(home)
    (row,) = data["rules"]
    assert set(row) == {
        "rule",
        "hits",
        "successes",
        "failures",
        "success_rate",
        "last_outcome",
        "last_used_utc",
    }
    assert row["rule"] == "script-not-executable"
    assert (row["hits"], row["successes"], row["success_rate"]) == (1, 1, 1.0)
