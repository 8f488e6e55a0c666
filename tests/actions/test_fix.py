"""FixContext: every change recorded, undone newest first; nothing outside the job's directory."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tether.actions.fix import FixContext, OutsideWorkspace


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "job"
    path.mkdir()
    return path


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with file contents (None for directories)."""
    out: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = None if path.is_dir() else path.read_bytes()
    return out


def test_every_change_is_undone_newest_first(job: Path) -> None:
    (job / "old.txt").write_text("old\n")
    (job / "run.sh").write_text("#!/bin/sh\n")
    (job / "gone.txt").write_text("keep me\n")
    (job / "gone.txt").chmod(0o640)
    before = tree(job)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in job.iterdir()}
    fix = FixContext(job)
    fix.create_dir("a/b/c")
    fix.write_file("a/b/c/new.txt", "new")
    fix.write_file("old.txt", "replaced", overwrite=True)
    fix.chmod("run.sh", 0o755)
    fix.remove("gone.txt")
    fix.copy_file("run.sh", "a/run-copy.sh")
    assert (job / "a/b/c/new.txt").read_text() == "new"
    assert os.access(job / "a/run-copy.sh", os.X_OK)
    assert len(fix.changes) == 8  # three directories, then five changes
    undone = fix.rollback()
    assert len(undone) == 8 and all(line.startswith("undid: ") for line in undone)
    assert undone[0].startswith("undid: copied run.sh")
    assert tree(job) == before
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in job.iterdir()} == modes
    assert fix.changes == [] and fix.rollback() == []


@pytest.mark.parametrize("path", ["../outside.txt", "../../etc/x", "/etc/passwd", "a/../../x"])
def test_paths_outside_the_job_are_refused_before_anything_changes(job: Path, path: str) -> None:
    fix = FixContext(job)
    with pytest.raises(OutsideWorkspace, match="outside the job's directory"):
        fix.write_file(path, "x")
    with pytest.raises(OutsideWorkspace):
        fix.create_dir(path)
    assert fix.changes == [] and tree(job) == {}
    assert not (job.parent / "outside.txt").exists()


def test_a_symlink_out_of_the_job_is_followed_and_refused(job: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "credentials").write_text("token")
    (job / "conf").symlink_to(secret)
    fix = FixContext(job)
    with pytest.raises(OutsideWorkspace):
        fix.copy_file("conf/credentials", "stolen")
    with pytest.raises(OutsideWorkspace):
        fix.write_file("conf/planted", "x")
    assert not (job / "stolen").exists() and not (secret / "planted").exists()
    fix.remove("conf")  # the link itself lives in the job: removing it is fine, and undone
    assert not (job / "conf").exists() and (secret / "credentials").exists()
    fix.rollback()
    assert (job / "conf").is_symlink() and os.readlink(job / "conf") == str(secret)


def test_write_file_refuses_to_replace_unless_asked(job: Path) -> None:
    (job / "config.ini").write_text("mine")
    fix = FixContext(job)
    with pytest.raises(FileExistsError):
        fix.write_file("config.ini", "theirs")
    assert (job / "config.ini").read_text() == "mine" and fix.changes == []


def test_remove_dir_restores_a_lock_directory(job: Path) -> None:
    lock = job / "build.lock"
    lock.mkdir()
    (lock / "pid").write_text("12345\n")
    fix = FixContext(job)
    fix.remove_dir("build.lock")
    assert not lock.exists()
    fix.rollback()
    assert (lock / "pid").read_text() == "12345\n"


def test_set_env_is_restored(job: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_TEST_VAR", "before")
    monkeypatch.delenv("TETHER_TEST_NEW", raising=False)
    fix = FixContext(job)
    fix.set_env("TETHER_TEST_VAR", "after")
    fix.set_env("TETHER_TEST_NEW", "x")
    assert os.environ["TETHER_TEST_VAR"] == "after"
    fix.rollback()
    assert os.environ["TETHER_TEST_VAR"] == "before" and "TETHER_TEST_NEW" not in os.environ


def test_run_removes_what_it_was_told_it_creates(job: Path) -> None:
    fix = FixContext(job)
    script = "import os; os.makedirs('node_modules/x'); open('node_modules/x/a', 'w').write('1')"
    fix.run([sys.executable, "-c", script], creates=["node_modules"])
    assert (job / "node_modules/x/a").exists()
    assert fix.irreversible and "ran" in fix.changes[0]
    fix.rollback()
    assert not (job / "node_modules").exists()


def test_run_raises_with_the_output_when_the_command_fails(job: Path) -> None:
    fix = FixContext(job)
    with pytest.raises(subprocess.CalledProcessError) as info:
        fix.run([sys.executable, "-c", "import sys; sys.exit('no such thing')"])
    assert "no such thing" in info.value.stderr


def test_an_undo_that_fails_is_reported_and_the_others_still_run(job: Path) -> None:
    fix = FixContext(job)
    fix.create_dir("dist")
    fix.write_file("x.txt", "x")
    (job / "dist" / "someone-elses").write_text("not ours")  # the directory is no longer empty
    report = fix.rollback()
    assert report[0] == "undid: created x.txt"
    assert report[1].startswith("could not undo created directory dist")
    assert (job / "dist" / "someone-elses").exists()
