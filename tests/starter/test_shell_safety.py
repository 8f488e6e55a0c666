"""The shell families' actions stay in the job's directory, refuse what they cannot tell, and undo.

Real tools in tmp_path: a symlink out of the job, another repository's git
lock, a fix the re-run shows did not fix (rolled back), and a merge conflict
through the real ``tether run`` (its note, the command's exit code).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.starter.corpus_shell import conflicted, dead_pid
from tests.starter.support import need
from tether import Tether

MKDIR_LOCK = "mkdir job.lock && echo locked"


def refused(outcome: object, rule: str, why: str) -> None:
    """Recovery tried only ``rule``, whose action refused with ``why`` in its error."""
    from tether.recover.loop import Outcome

    assert isinstance(outcome, Outcome) and not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [(rule, "action_error")]
    assert why in (outcome.attempts[0].error or "")


def test_a_lock_directory_symlinked_out_of_the_job_is_kept(
    tmp_path: Path, work: Path, engine: Tether
) -> None:
    outside = tmp_path / "shared" / "job.lock"
    outside.mkdir(parents=True)
    (outside / "pid").write_text(f"{dead_pid()}\n")
    (work / "job.lock").symlink_to(outside)
    result, outcome = engine.run_command(["sh", "-c", MKDIR_LOCK], cwd=work, stream=False)
    assert result.exit_code == 1
    refused(outcome, "stale-lock-directory", "OutsideWorkspace")
    assert (outside / "pid").is_file() and (work / "job.lock").is_symlink()


def test_a_lock_outside_the_job_is_kept(tmp_path: Path, work: Path, engine: Tether) -> None:
    need("bash")
    lock = tmp_path / "deploy.lock"
    lock.write_text(f"{dead_pid()}\n")
    argv = ["bash", "-c", "set -C; echo $$ > ../deploy.lock"]
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 1
    refused(outcome, "stale-noclobber-lock", "OutsideWorkspace")
    assert lock.read_text().strip().isdigit()


def test_a_live_lock_directory_is_kept(work: Path, engine: Tether) -> None:
    (work / "job.lock").mkdir()
    (work / "job.lock" / "pid").write_text(f"{os.getpid()}\n")
    result, outcome = engine.run_command(["sh", "-c", MKDIR_LOCK], cwd=work, stream=False)
    assert result.exit_code == 1
    refused(outcome, "stale-lock-directory", "is running")
    assert (work / "job.lock" / "pid").read_text() == f"{os.getpid()}\n"


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_another_repositorys_index_lock_is_refused(
    tmp_path: Path, work: Path, engine: Tether, git_config: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / "a.txt").write_text("a\n")
    lock = other / ".git" / "index.lock"
    lock.touch()
    argv = ["git", "-C", str(other), "add", "a.txt"]
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 128
    refused(outcome, "git-index-lock", "OutsideWorkspace")
    assert lock.exists()


def test_the_index_lock_above_a_job_in_a_subdirectory_is_removed(
    work: Path, engine: Tether, git_config: Path
) -> None:
    git(work, "init", "-q")
    sub = work / "sub"
    sub.mkdir()
    (sub / "a.txt").write_text("a\n")
    lock = work / ".git" / "index.lock"
    lock.touch()
    result, outcome = engine.run_command(["git", "add", "a.txt"], cwd=sub, stream=False)
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    assert not lock.exists()
    assert git(work, "ls-files").stdout == "sub/a.txt\n"


def test_a_fix_the_rerun_shows_did_not_fix_is_rolled_back(
    work: Path, home: Path, engine: Tether
) -> None:
    """The job removes the directory the fix made and fails the same way: the fix is undone."""
    need("bash")
    (work / "keep").mkdir()
    argv = ["bash", "-c", "rmdir out/logs 2>/dev/null; echo hi > out/logs/x.txt"]
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None and not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [("shell-missing-path", "failure")]
    assert sorted(p.name for p in work.iterdir()) == ["keep"]  # out/ made by the fix is gone
    records = [json.loads(line) for line in (home / "observations.jsonl").read_text().splitlines()]
    undone = [r["rolled_back"] for r in records if r.get("rule") == "shell-missing-path"]
    assert undone and any("undid: created directory out" in step for step in undone[0])


def test_a_read_redirect_is_refused_and_changes_nothing(work: Path, engine: Tether) -> None:
    need("bash")
    argv = ["bash", "-c", "cat < out/x.txt > copy.txt"]
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 1
    refused(outcome, "shell-missing-path", "neither writes to nor sources out/x.txt")
    assert list(work.iterdir()) == []


def test_a_missing_archive_to_extract_is_refused(work: Path, engine: Tether) -> None:
    need("tar")
    result, outcome = engine.run_command(["tar", "-xf", "dist/a.tar"], cwd=work, stream=False)
    assert result.exit_code == 2
    refused(outcome, "missing-output-directory-tar", "no tar call in the command creates")
    assert list(work.iterdir()) == []


def test_a_merge_conflict_is_named_by_tether_run_and_the_exit_code_kept(
    work: Path, home: Path, git_config: Path
) -> None:
    need("git")
    conflicted(work, "app.py", "x = 3\nprint(x)\n", "x = 2\nprint(x)\n", "x = 1\nprint(x)\n")
    before = (work / "app.py").read_bytes()
    env = {**os.environ, "TETHER_HOME": str(home), "COLUMNS": "300"}
    argv = [sys.executable, "-m", "tether", "run", "--", sys.executable, "app.py"]
    done = subprocess.run(argv, cwd=work, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 1
    assert "a file has merge conflict markers (<<<<<<< at app.py:1): resolve the conflict" in (
        " ".join(done.stderr.split())
    )
    assert "SyntaxError" in done.stderr  # the command's own error is shown, unchanged
    assert "needs you:" in done.stderr and "gave up" not in done.stderr
    assert (work / "app.py").read_bytes() == before
