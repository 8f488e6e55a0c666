"""git-index-lock, git-identity and git-dubious-ownership against real git in tmp_path."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run
from tests.starter.support import captures, real_context, rule_names
from tether import Tether

ENVIRONMENT_RULES = {"git-identity", "git-dubious-ownership"}


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git for test setup; it must succeed."""
    result = run(["git", *args], cwd)
    assert result.returncode == 0, result.stderr
    return result


def init_repo(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    git(path, "init", "-q")
    (path / "a.txt").write_text("a\n")
    return path


@pytest.fixture
def repo(work: Path, git_config: Path) -> Path:
    """A fresh repository in the working directory, with an untracked a.txt."""
    return init_repo(work)


def global_config(git_config: Path) -> list[str]:
    """Every ``safe.directory`` in the (test's own) global config."""
    result = run(["git", "config", "--global", "--get-all", "safe.directory"], git_config.parent)
    return result.stdout.splitlines()


# -- changes-environment rules are opt-in ----------------------------------------------------


def test_environment_rules_are_off_by_default(home: Path) -> None:
    names = set(Tether(home=home).book.names())
    assert not names & ENVIRONMENT_RULES
    assert {"git-index-lock", "script-not-executable", "transient-network"} <= names


def test_environment_rules_load_when_allowed(home: Path) -> None:
    names = set(Tether(home=home, allow_environment_changes=True).book.names())
    assert names >= ENVIRONMENT_RULES
    default = set(Tether(home=home).book.names())
    assert names - default == ENVIRONMENT_RULES


# -- git-index-lock ---------------------------------------------------------------------------


def test_index_lock_resolves_with_the_lock_path(repo: Path, engine: Tether) -> None:
    (repo / ".git" / "index.lock").touch()
    context = real_context(["git", "add", "a.txt"], repo)
    assert context["exit_code"] == 128
    assert rule_names(engine, context) == ["git-index-lock"]
    lock = captures(engine, "git-index-lock", context)["lock"]
    assert Path(lock).resolve() == (repo / ".git" / "index.lock").resolve()


def test_index_lock_recovery_removes_the_lock_and_adds(repo: Path, engine: Tether) -> None:
    lock = repo / ".git" / "index.lock"
    lock.touch()
    result, outcome = engine.run_command(["git", "add", "a.txt"], cwd=repo, stream=False)
    assert result.exit_code == 0
    assert outcome is not None and outcome.recovered
    assert [a.rule for a in outcome.attempts] == ["git-index-lock"]
    assert not lock.exists()
    assert git(repo, "diff", "--cached", "--name-only").stdout.split() == ["a.txt"]


def test_ref_lock_recovery_creates_the_branch(repo: Path, engine: Tether) -> None:
    git(repo, "add", "a.txt")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    lock = repo / ".git" / "refs" / "heads" / "feature.lock"
    lock.touch()
    context = real_context(["git", "branch", "feature"], repo)
    assert Path(captures(engine, "git-index-lock", context)["lock"]).resolve() == lock.resolve()
    result, outcome = engine.run_command(["git", "branch", "feature"], cwd=repo, stream=False)
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    assert not lock.exists()
    assert "feature" in git(repo, "branch", "--list", "feature").stdout


@pytest.fixture
def live_git(repo: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A git process really running in the repository (waiting on its stdin)."""
    proc = subprocess.Popen(
        ["git", "cat-file", "--batch"], cwd=repo, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_index_lock_is_kept_while_git_runs_in_the_repo(
    repo: Path, engine: Tether, live_git: subprocess.Popen[bytes]
) -> None:
    lock = repo / ".git" / "index.lock"
    lock.touch()
    first = real_context(["git", "add", "a.txt"], repo)
    assert live_git.poll() is None
    result, outcome = engine.run_command(["git", "add", "a.txt"], cwd=repo, stream=False)
    assert result.exit_code == first["exit_code"] == 128
    assert outcome is not None and not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [("git-index-lock", "action_error")]
    assert f"pid {live_git.pid}" in (outcome.attempts[0].error or "")
    assert lock.exists()


# -- git-identity -----------------------------------------------------------------------------


@pytest.fixture
def no_identity(git_config: Path) -> Path:
    """No user.name/user.email anywhere, and no guessing from the host name."""
    git_config.write_text("[user]\n\tuseConfigOnly = true\n")
    return git_config


def test_identity_rule_resolves_for_a_real_commit(
    repo: Path, no_identity: Path, env_engine: Tether
) -> None:
    git(repo, "add", "a.txt")
    context = real_context(["git", "commit", "-q", "-m", "first"], repo)
    assert context["exit_code"] == 128
    assert rule_names(env_engine, context) == ["git-identity"]


def test_identity_recovery_sets_it_in_the_repository_only(
    repo: Path, no_identity: Path, env_engine: Tether
) -> None:
    git(repo, "add", "a.txt")
    global_before = no_identity.read_text()
    result, outcome = env_engine.run_command(
        ["git", "commit", "-q", "-m", "first"], cwd=repo, stream=False
    )
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    assert [a.rule for a in outcome.attempts] == ["git-identity"]
    assert (
        git(repo, "log", "-1", "--format=%an <%ae>").stdout.strip() == "tether <tether@localhost>"
    )
    assert git(repo, "config", "--local", "user.name").stdout.strip() == "tether"
    assert no_identity.read_text() == global_before


def test_identity_recovery_replaces_an_empty_name(
    repo: Path, no_identity: Path, env_engine: Tether
) -> None:
    git(repo, "add", "a.txt")
    git(repo, "config", "user.name", "")
    git(repo, "config", "user.email", "dev@example.com")
    context = real_context(["git", "commit", "-q", "-m", "first"], repo)
    assert "empty ident name" in context["stderr"]
    result, outcome = env_engine.run_command(
        ["git", "commit", "-q", "-m", "first"], cwd=repo, stream=False
    )
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    assert git(repo, "log", "-1", "--format=%an <%ae>").stdout.strip() == "tether <dev@example.com>"


def test_identity_is_left_alone_when_it_is_configured(
    repo: Path, git_config: Path, env_engine: Tether, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(repo, "add", "a.txt")
    git(repo, "config", "user.name", "Dev")
    git(repo, "config", "user.email", "dev@example.com")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "")  # the environment, not the config, is at fault
    first = real_context(["git", "commit", "-q", "-m", "first"], repo)
    assert rule_names(env_engine, first) == ["git-identity"]
    result, outcome = env_engine.run_command(
        ["git", "commit", "-q", "-m", "first"], cwd=repo, stream=False
    )
    assert result.exit_code == first["exit_code"] == 128
    assert outcome is not None and not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [("git-identity", "action_error")]
    assert "already set" in (outcome.attempts[0].error or "")
    assert git(repo, "config", "--local", "user.name").stdout.strip() == "Dev"


def test_identity_rule_is_not_used_by_default(
    repo: Path, no_identity: Path, engine: Tether
) -> None:
    git(repo, "add", "a.txt")
    result, outcome = engine.run_command(
        ["git", "commit", "-q", "-m", "first"], cwd=repo, stream=False
    )
    assert result.exit_code == 128
    assert outcome is not None and not outcome.recovered and outcome.attempts == []
    assert run(["git", "config", "--local", "user.name"], repo).returncode != 0


# -- git-dubious-ownership --------------------------------------------------------------------


@pytest.fixture
def foreign_repo(tmp_path: Path, git_config: Path) -> Path:
    """A repository owned by another user (uid 65534); we run git as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give the repository to another user")
    repo = init_repo(tmp_path / "foreign")
    for root, dirs, files in os.walk(repo):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), 65534, 65534, follow_symlinks=False)
    os.chown(repo, 65534, 65534)
    return repo


STATUS = ["git", "status", "--short"]


def test_dubious_ownership_resolves_with_the_repository(
    foreign_repo: Path, env_engine: Tether
) -> None:
    context = real_context(STATUS, foreign_repo)
    assert context["exit_code"] == 128
    assert rule_names(env_engine, context) == ["git-dubious-ownership"]
    repo = captures(env_engine, "git-dubious-ownership", context)["repo"]
    assert Path(repo).resolve() == foreign_repo.resolve()


def test_dubious_ownership_recovery_trusts_the_repository(
    foreign_repo: Path, git_config: Path, env_engine: Tether
) -> None:
    result, outcome = env_engine.run_command(STATUS, cwd=foreign_repo, stream=False)
    assert result.exit_code == 0, result.stderr
    assert "a.txt" in result.stdout
    assert outcome is not None and outcome.recovered
    trusted = global_config(git_config)
    assert [Path(p).resolve() for p in trusted] == [foreign_repo.resolve()]


def test_dubious_ownership_is_not_trusted_twice(
    foreign_repo: Path, git_config: Path, env_engine: Tether
) -> None:
    context = real_context(STATUS, foreign_repo)
    rule = env_engine.book.get("git-dubious-ownership")
    assert rule is not None
    assert env_engine.execute_rule(rule, context).ok
    again = env_engine.execute_rule(rule, context)
    assert not again.ok and "already a safe.directory" in (again.error or "")
    assert len(global_config(git_config)) == 1


def test_dubious_ownership_gives_up_when_the_global_config_cannot_be_written(
    foreign_repo: Path, tmp_path: Path, env_engine: Tether, monkeypatch: pytest.MonkeyPatch
) -> None:
    unwritable = tmp_path / "no-such-dir" / "gitconfig"
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(unwritable))
    first = real_context(STATUS, foreign_repo)
    result, outcome = env_engine.run_command(STATUS, cwd=foreign_repo, stream=False)
    assert result.exit_code == first["exit_code"] == 128
    assert outcome is not None and not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [
        ("git-dubious-ownership", "action_error")
    ]
    assert not unwritable.parent.exists()


def test_dubious_ownership_is_not_fixed_by_default(
    foreign_repo: Path, git_config: Path, engine: Tether
) -> None:
    context = real_context(STATUS, foreign_repo)
    assert rule_names(engine, context) == []
    result, outcome = engine.run_command(STATUS, cwd=foreign_repo, stream=False)
    assert result.exit_code == 128
    assert outcome is not None and not outcome.recovered and outcome.attempts == []
    assert git_config.read_text() == ""
