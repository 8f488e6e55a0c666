"""``tether agent run --agent NAME`` and ``--worktree``: real processes, a real git repository."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.orchestrate.test_run import project, tether

READER = """---
name: reader
description: Reads files and reports; never writes.
tools: [read_file, list_directory]
max_iterations: 3
---
You only read. Report what README.md says.
"""


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def repo_project(tmp_path: Path, script: str) -> Path:
    root = project(tmp_path, script)
    (root / "README.md").write_text("hello\n")
    (root / ".gitignore").write_text(".tether/\n")
    git("init", "-q", "-b", "main", cwd=root)
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", "-A", cwd=root)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start", cwd=root)
    return root


def test_an_agent_cannot_call_a_tool_its_file_does_not_allow(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "MODEL = ScriptedModel(["
        "reply(tool_calls=[call('write_file', path='out.txt', content='x')]),"
        "lambda request: reply('TOOLS: ' + ' '.join(request.tools))])\n",
    )
    (root / "agents").mkdir()
    (root / "agents" / "reader.md").write_text(READER)
    done = tether("run", "look", "--cwd", str(root), "--agent", "reader", cwd=tmp_path)
    assert not (root / "out.txt").exists()
    tools_line = next(line for line in done.stdout.splitlines() if line.startswith("TOOLS: "))
    offered = tools_line.split()[1:]
    assert "read_file" in offered
    assert "write_file" not in offered and "run_command" not in offered


def test_an_unknown_agent_is_bad_input(tmp_path: Path) -> None:
    root = project(tmp_path, "MODEL = ScriptedModel([])\n")
    done = tether("run", "look", "--cwd", str(root), "--agent", "nobody", cwd=tmp_path)
    assert done.returncode == 2
    assert "--agent" in done.stderr and "nobody" in done.stderr


def test_a_worktree_with_work_is_kept_and_reported_in_the_inbox(tmp_path: Path) -> None:
    root = repo_project(
        tmp_path,
        "MODEL = ScriptedModel([reply(tool_calls=[call('write_file', path='new.txt', "
        "content='from the agent')]), reply('DONE')])\n",
    )
    done = tether("run", "write new.txt", "--cwd", str(root), "--worktree", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (root / "new.txt").exists()  # the project's own checkout is untouched
    assert git("status", "--porcelain", cwd=root) == ""
    assert "worktree kept" in done.stderr
    listed = tether("inbox", "list", "--json", "--home", str(root / ".tether"), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)["items"]
    assert item["key"].startswith("worktree:")
    kept = root / ".tether" / "worktrees"
    trees = [p for p in kept.iterdir() if p.is_dir()]
    assert [(t / "new.txt").read_text() for t in trees] == ["from the agent"]


def test_a_worktree_left_clean_is_removed(tmp_path: Path) -> None:
    root = repo_project(tmp_path, "MODEL = ScriptedModel([reply('NOTHING TO DO')])\n")
    done = tether("run", "look", "--cwd", str(root), "--worktree", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    kept = root / ".tether" / "worktrees"
    assert not kept.exists() or not [p for p in kept.iterdir() if p.is_dir()]
    assert "worktree kept" not in done.stderr
    assert git("worktree", "list", cwd=root).count("\n") == 0  # only the main checkout


def test_a_run_can_delegate_to_the_projects_agents(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "MODEL = ScriptedModel(["
        "reply(tool_calls=[call('delegate', agent='reader', task='what does README.md say?')]),"
        "reply(tool_calls=[call('write_file', path='child.txt', content='x')]),"
        "reply('CHILD: hello'),"
        "lambda request: reply('PARENT-DONE ' + ' '.join(request.tools))])\n",
    )
    (root / "README.md").write_text("hello\n")
    (root / "agents").mkdir()
    (root / "agents" / "reader.md").write_text(READER)
    done = tether("run", "ask the reader", "--cwd", str(root), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "delegate" in done.stderr  # the tool line of the parent's call
    assert "PARENT-DONE" in done.stdout and "delegate" in done.stdout  # offered to the parent
    assert not (root / "child.txt").exists()  # the child kept to its allow-list
