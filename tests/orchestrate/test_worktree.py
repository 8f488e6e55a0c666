"""Worktrees on real git repositories: made from a recorded base, removed only when empty."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from tether.orchestrate import Worktree, WorktreeError, WorktreeRecord


def git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


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


def test_create_records_the_base_sha_on_a_new_branch_outside_the_repo(
    repo: Path, home: Path
) -> None:
    trees = Worktree(home)
    record = trees.create(repo, base="main", agent="fixer")
    head = git(repo, "rev-parse", "HEAD")
    assert record.base == "main" and record.base_sha == head
    assert record.branch == f"tether/{record.id}" and record.id.startswith("fixer-")
    assert repo.resolve() not in record.path.parents
    assert git(record.path, "rev-parse", "--abbrev-ref", "HEAD") == record.branch
    assert (record.path / "app.py").read_text() == "print('v1')\n"
    saved = json.loads((home / "worktrees" / f"{record.id}.json").read_text())
    assert saved["base_sha"] == head and saved["status"] == "active"
    assert trees.workspace(record).root == record.path
    assert git(repo, "status", "--porcelain") == ""


def test_an_untouched_tree_is_removed_with_its_branch(repo: Path, home: Path) -> None:
    kept: list[WorktreeRecord] = []
    trees = Worktree(home, on_kept=kept.append)
    record = trees.create(repo, base="HEAD")
    done = trees.finish(record)
    assert done.status == "removed" and not record.path.exists()
    assert record.branch not in git(repo, "branch", "--list")
    assert kept == [] and trees.list() == []


def test_uncommitted_work_is_kept_reported_listed_and_diffed(repo: Path, home: Path) -> None:
    kept: list[WorktreeRecord] = []
    trees = Worktree(home, on_kept=kept.append)
    record = trees.create(repo, base="HEAD")
    (record.path / "app.py").write_text("print('v2')\n")
    (record.path / "new.txt").write_text("fresh\n")
    done = trees.finish(record)
    assert done.status == "kept" and done.dirty and done.commits == 0
    assert done.reason == "uncommitted changes"
    assert record.path.is_dir() and kept == [done]
    assert [r.id for r in trees.list()] == [record.id]
    diff = trees.diff(done)
    assert "+print('v2')" in diff and "# untracked: new.txt" in diff


def test_commits_are_kept_then_merged_into_the_checkout(repo: Path, home: Path) -> None:
    trees = Worktree(home)
    record = trees.create(repo, base="HEAD", agent="writer")
    (record.path / "feature.py").write_text("x = 1\n")
    git(record.path, "add", "feature.py")
    git(record.path, "commit", "-q", "-m", "feature")
    done = trees.finish(record)
    assert done.status == "kept" and done.commits == 1 and not done.dirty
    merged = trees.merge(trees.get(record.id[:10]))
    assert merged.status == "merged"
    assert (repo / "feature.py").read_text() == "x = 1\n"
    assert not record.path.exists() and trees.list() == []
    assert [r.status for r in trees.list(all=True)] == ["merged"]


def test_merge_refuses_uncommitted_changes_and_a_dirty_checkout(repo: Path, home: Path) -> None:
    trees = Worktree(home)
    record = trees.create(repo, base="HEAD")
    (record.path / "app.py").write_text("print('v2')\n")
    with pytest.raises(WorktreeError, match="uncommitted changes; commit them there"):
        trees.merge(record)
    git(record.path, "commit", "-qam", "v2")
    (repo / "app.py").write_text("print('local edit')\n")
    with pytest.raises(WorktreeError, match="checkout has uncommitted changes"):
        trees.merge(record)
    assert (repo / "app.py").read_text() == "print('local edit')\n"  # nothing lost
    assert record.path.is_dir()


def test_discard_never_throws_work_away_without_force(repo: Path, home: Path) -> None:
    trees = Worktree(home)
    record = trees.create(repo, base="HEAD")
    (record.path / "notes.txt").write_text("work\n")
    kept = trees.finish(record)
    with pytest.raises(WorktreeError, match=r"holds uncommitted changes.*--force"):
        trees.discard(kept)
    assert (record.path / "notes.txt").exists()
    gone = trees.discard(kept, force=True)
    assert gone.status == "discarded" and not record.path.exists()
    assert record.branch not in git(repo, "branch", "--list")


@pytest.mark.parametrize("base", ["no-such-branch", "deadbeef" * 5, "-x"])
def test_a_base_that_does_not_exist_is_refused_by_name(repo: Path, home: Path, base: str) -> None:
    with pytest.raises(WorktreeError, match=r"not a commit|does not exist") as caught:
        Worktree(home).create(repo, base=base)
    assert base in str(caught.value)
    assert not (home / "worktrees").exists() or not list((home / "worktrees").glob("*.json"))


def test_not_a_repository_is_refused(tmp_path: Path, home: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(WorktreeError, match="not inside a git repository"):
        Worktree(home).create(plain, base="HEAD")


def test_uncommitted_changes_in_the_checkout_refuse_a_tree_from_head(
    repo: Path, home: Path
) -> None:
    (repo / "app.py").write_text("print('unsaved')\n")
    with pytest.raises(WorktreeError, match=r"1 tracked file\(s\) have uncommitted changes"):
        Worktree(home).create(repo, base="HEAD")
    assert (repo / "app.py").read_text() == "print('unsaved')\n"
    record = Worktree(home).create(repo, base="HEAD", allow_dirty=True)
    assert (record.path / "app.py").read_text() == "print('v1')\n"


def test_a_tree_root_inside_the_repo_is_excluded_and_checked(repo: Path) -> None:
    home = repo / ".tether"
    trees = Worktree(home)
    record = trees.create(repo, base="HEAD")
    assert "/.tether/worktrees/" in (repo / ".git" / "info" / "exclude").read_text()
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    trees.check(record)
    git(repo, "worktree", "remove", "--force", str(record.path))
    record.path.mkdir(parents=True)  # a plain folder where the tree was: git sees the main repo
    with pytest.raises(WorktreeError, match="refusing to run tools there"):
        trees.workspace(record)


def test_two_threads_each_switch_branches_in_their_own_tree(repo: Path, home: Path) -> None:
    trees = Worktree(home)
    records: dict[str, WorktreeRecord] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def agent(name: str) -> None:
        try:
            record = trees.create(repo, base="HEAD", agent=name)
            barrier.wait(timeout=30)
            git(record.path, "checkout", "-q", "-b", f"side-{name}")
            (record.path / f"{name}.txt").write_text(name)
            git(record.path, "add", f"{name}.txt")
            git(record.path, "commit", "-q", "-m", name)
            barrier.wait(timeout=30)
            records[name] = trees.finish(record)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    a, b = records["a"], records["b"]
    assert a.path != b.path and a.status == b.status == "kept"
    assert git(a.path, "rev-parse", "--abbrev-ref", "HEAD") == "side-a"
    assert git(b.path, "rev-parse", "--abbrev-ref", "HEAD") == "side-b"
    assert not (b.path / "a.txt").exists() and not (a.path / "b.txt").exists()
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert sorted(p.name for p in repo.iterdir()) == [".git", "app.py"]


def test_isolate_finishes_the_tree_when_the_block_ends(repo: Path, home: Path) -> None:
    kept: list[WorktreeRecord] = []
    trees = Worktree(home, on_kept=kept.append)
    with trees.isolate(repo, base="HEAD", agent="run") as iso:
        assert iso.workspace.root == iso.record.path
        iso.workspace.resolve("app.py").write_text("print('v2')\n")
    assert iso.record.status == "kept" and kept == [iso.record]
    with pytest.raises(RuntimeError), trees.isolate(repo, base="HEAD") as empty:
        raise RuntimeError("the run failed")
    assert empty.record.status == "removed" and not empty.record.path.exists()
