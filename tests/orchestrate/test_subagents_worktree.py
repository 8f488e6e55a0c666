"""Sub-agents with ``isolation: worktree``: parallel children, each in a git worktree of its own."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tether.loop import Loop, LoopStatus
from tether.orchestrate import Delegation, SubAgent, Worktree, WorktreeRecord
from tether.testing import ScriptedModel, ScriptedRequest, call, reply
from tether.tools.builtin import Workspace


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


def isolated(name: str) -> SubAgent:
    return SubAgent(
        name=name,
        description=f"agent {name}",
        system_prompt=f"You are {name}.",
        model=name,
        isolation="worktree",
    )


def tool_returns(request: ScriptedRequest) -> list[str]:
    return [
        str(part.content)
        for message in request.messages
        for part in getattr(message, "parts", [])
        if part.part_kind == "tool-return"
    ]


def child_script(name: str, other: str, sync: Path) -> ScriptedModel:
    wait = (
        f"touch {sync / name} && for i in $(seq 1000); do "
        f"[ -f {sync / other} ] && break; sleep 0.01; done; [ -f {sync / other} ]"
    )
    return ScriptedModel(
        [
            reply(tool_calls=[call("run_command", command=f"git checkout -q -b side-{name}")]),
            reply(tool_calls=[call("run_command", command=wait)]),  # both are on their branch
            reply(
                tool_calls=[
                    call(
                        "run_command",
                        command=f"echo {name} > {name}.txt && git add {name}.txt && "
                        f"git commit -qm {name} && git rev-parse --abbrev-ref HEAD && ls",
                    )
                ]
            ),
            reply(f"{name} committed"),
        ],
        name=f"scripted/{name}",
    )


def test_two_parallel_sub_agents_each_get_their_own_worktree(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    sync = tmp_path / "sync"
    sync.mkdir()
    kept: list[WorktreeRecord] = []
    events: list[dict[str, Any]] = []
    models = {"a": child_script("a", "b", sync), "b": child_script("b", "a", sync)}
    tools = Workspace(repo).tools()
    delegation = Delegation(
        [isolated("a"), isolated("b")],
        tools=tools,
        models=models,
        worktrees=Worktree(home, on_kept=kept.append),
        repo=repo,
        base="main",
        on_event=events.append,
    )
    parent_model = ScriptedModel(
        [
            reply(
                tool_calls=[
                    call("delegate", agent="a", task="commit a.txt on a branch"),
                    call("delegate", agent="b", task="commit b.txt on a branch"),
                ]
            ),
            reply("both done"),
        ]
    )
    parent = Loop("split the work", tools=[*tools, delegation.tool()], llm=parent_model, quiet=True)
    delegation.bind(parent)
    assert parent.run().status is LoopStatus.SUCCESS

    answers = [json.loads(text) for text in tool_returns(parent_model.requests[1])]
    assert [a["status"] for a in answers] == ["SUCCESS", "SUCCESS"]
    trees = {a["agent"]: Path(a["worktree"]["path"]) for a in answers}
    assert trees["a"] != trees["b"]
    assert git(trees["a"], "rev-parse", "--abbrev-ref", "HEAD") == "side-a"
    assert git(trees["b"], "rev-parse", "--abbrev-ref", "HEAD") == "side-b"
    assert (trees["a"] / "a.txt").exists() and not (trees["a"] / "b.txt").exists()
    assert (trees["b"] / "b.txt").exists() and not (trees["b"] / "a.txt").exists()
    last_a = json.loads(tool_returns(models["a"].requests[3])[-1])
    assert last_a["exit_code"] == 0 and last_a["stdout"].split() == ["side-a", "a.txt", "app.py"]
    # the checkout the parent works in never moved
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert sorted(p.name for p in repo.iterdir()) == [".git", "app.py"]
    head = git(repo, "rev-parse", "HEAD")
    assert {a["worktree"]["base_sha"] for a in answers} == {head}
    assert sorted(r.agent or "" for r in kept) == ["a", "b"]
    assert all(r.status == "kept" and r.commits == 1 for r in kept)
    # started in one turn, the two children's token ceilings together fit what the parent had
    limits = [e["limits"] for e in events if e["event"] == "loop.start"]
    tokens = sorted(int(text.split(", ")[1].split()[0].replace(",", "")) for text in limits)
    assert len(tokens) == 2 and sum(tokens) <= parent.token_limit - 20
    assert tokens[0] < tokens[1]


def test_a_child_that_changed_nothing_leaves_no_worktree(repo: Path, home: Path) -> None:
    model = ScriptedModel([reply(tool_calls=[call("read_file", path="app.py")]), reply("read")])
    trees = Worktree(home)
    delegation = Delegation(
        [isolated("a")],
        tools=Workspace(repo).tools(),
        models={"a": model},
        worktrees=trees,
        repo=repo,
    )
    outcome = delegation.run("a", "read app.py")
    assert outcome.status == "SUCCESS"
    assert outcome.worktree is not None and outcome.worktree.status == "removed"
    assert not outcome.worktree.path.exists() and trees.list() == []
    assert tool_returns(model.requests[1]) == ["print('v1')\n"]


def test_a_dirty_checkout_refuses_an_isolated_child(repo: Path, home: Path) -> None:
    (repo / "app.py").write_text("print('unsaved')\n")
    delegation = Delegation(
        [isolated("a")],
        tools=Workspace(repo).tools(),
        models={"a": ScriptedModel([])},
        worktrees=Worktree(home),
        repo=repo,
    )
    with pytest.raises(Exception, match="uncommitted changes") as caught:
        delegation.run("a", "anything")
    assert type(caught.value).__name__ == "WorktreeError"
    assert (repo / "app.py").read_text() == "print('unsaved')\n"


def test_isolation_without_a_manager_names_the_key(repo: Path) -> None:
    delegation = Delegation([isolated("a")], tools=[], models={"a": ScriptedModel([])})
    with pytest.raises(Exception, match="isolation: worktree needs"):
        delegation.run("a", "anything")
