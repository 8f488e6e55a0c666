"""Approvals: gated actions, the three runners, headless tokens in a real SQLite store, the CLI."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tether.loop import (
    ApprovalError,
    ApprovalRequest,
    CallbackApproval,
    CLIApproval,
    HeadlessApproval,
    Loop,
    LoopStatus,
    PolicyDecision,
    RequireApproval,
)
from tether.loop.approval import decide
from tether.store.sqlite import SQLiteStore
from tether.testing import ScriptedModel, call, reply
from tether.tools import Workspace

pytest.importorskip("pydantic_ai")


def _write_then_finish(path: Path, text: str = "shipped") -> list[Any]:
    return [
        reply(tool_calls=[call("write_file", path=str(path), content=text)]),
        reply("done"),
    ]


def _tool_returns(model: ScriptedModel, index: int) -> str:
    return "\n".join(
        str(part.content)
        for message in model.requests[index].messages
        for part in getattr(message, "parts", [])
        if getattr(part, "part_kind", "") == "tool-return"
    )


def test_callback_approves_and_gets_only_a_frozen_request(tmp_path: Path) -> None:
    seen: list[ApprovalRequest] = []

    def approver(request: ApprovalRequest) -> bool:
        seen.append(request)
        with pytest.raises(TypeError):
            request.arguments["path"] = "/etc/passwd"  # type: ignore[index]
        return True

    target = tmp_path / "release.txt"
    loop = Loop("ship", Workspace(tmp_path).tools(), ScriptedModel(_write_then_finish(target)),
                policies=[RequireApproval(["write_file"], reason="writes need a person")],
                approval_runner=CallbackApproval(approver), quiet=True)  # fmt: skip
    result = loop.run()
    assert result.status is LoopStatus.SUCCESS
    assert target.read_text() == "shipped"
    assert [(r.tool, r.arguments["path"]) for r in seen] == [("write_file", str(target))]
    assert "writes need a person" in seen[0].reason
    assert not hasattr(seen[0], "messages")  # never the conversation
    events = [e["event"] for e in loop.trace.events] if loop.trace else []
    assert (
        events.index("approval.requested")
        < events.index("approval.granted")
        < events.index("tool.result")
    )


@pytest.mark.parametrize(
    ("callback", "timeout_s", "note"),
    [
        (lambda request: False, 5.0, "denied by callback"),
        (lambda request: 1 / 0, 5.0, "raised ZeroDivisionError"),
        (lambda request: time.sleep(30), 0.2, "did not answer within 0.2 s"),
    ],
    ids=["denies", "raises", "hangs"],
)
def test_a_denying_raising_or_hanging_callback_denies_and_nothing_runs(
    tmp_path: Path, callback: Any, timeout_s: float, note: str
) -> None:
    target = tmp_path / "release.txt"
    started = time.monotonic()
    result = Loop("ship", Workspace(tmp_path).tools(), ScriptedModel(_write_then_finish(target)),
                  policies=[RequireApproval(["write_file"])],
                  approval_runner=CallbackApproval(callback, timeout_s=timeout_s), quiet=True).run()  # fmt: skip
    assert result.status is LoopStatus.APPROVAL_DENIED
    assert note in result.reason
    assert not target.exists()
    assert time.monotonic() - started < 5


def test_on_deny_continue_tells_the_model_and_lets_it_choose_another_action(tmp_path: Path) -> None:
    model = ScriptedModel([
        reply(tool_calls=[call("run_command", command="rm -rf build")]),
        reply(tool_calls=[call("list_directory", path=str(tmp_path))]),
        reply("cleaned up another way"),
    ])  # fmt: skip
    dangerous = RequireApproval(
        matcher=lambda c: "deletes files" if "rm " in str(c.arguments) else None, on_deny="continue"
    )
    result = Loop("clean", Workspace(tmp_path).tools(), model, policies=[dangerous],
                  approval_runner=CallbackApproval(lambda r: False), quiet=True).run()  # fmt: skip
    assert result.status is LoopStatus.SUCCESS
    assert "approval_denied" in _tool_returns(model, 1)
    assert len(model.requests) == 3


def test_cli_runner_reads_the_terminal_and_a_closed_stdin_is_a_denial_not_a_crash(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    yes = CLIApproval(io.StringIO("y\n"), out, require_tty=False)
    request = ApprovalRequest("run_command", {"command": "make deploy"}, "deploys need a person")
    assert yes.decide(request) is True and "allow run_command" in out.getvalue()
    assert (
        CLIApproval(io.StringIO("no\n"), io.StringIO(), require_tty=False).decide(request) is False
    )
    closed = CLIApproval(io.StringIO(""), io.StringIO(), require_tty=False)
    assert closed.decide(request) is False and "stdin closed" in closed.last_note
    piped = CLIApproval(io.StringIO("y\n"), io.StringIO())  # not a TTY: never asks
    assert piped.decide(request) is False and "not a TTY" in piped.last_note

    target = tmp_path / "release.txt"
    result = Loop("ship", Workspace(tmp_path).tools(), ScriptedModel(_write_then_finish(target)),
                  policies=[RequireApproval(["write_file"])],
                  approval_runner=CLIApproval(io.StringIO(""), io.StringIO(), require_tty=False),
                  quiet=True).run()  # fmt: skip
    assert result.status is LoopStatus.APPROVAL_DENIED and "stdin closed" in result.reason
    assert not target.exists()


def test_a_policy_stop_stays_a_stop_and_never_becomes_an_approval_request(tmp_path: Path) -> None:
    def halt(report: Any) -> PolicyDecision:
        return PolicyDecision(stop=True, status="NO_PROGRESS", reason="halted by policy")

    model = ScriptedModel(
        [reply(tool_calls=[call("list_directory", path=str(tmp_path))]), reply("x")]
    )
    loop = Loop("look", Workspace(tmp_path).tools(), model, quiet=True,
                policies=[RequireApproval(["write_file"]), halt],
                approval_runner=HeadlessApproval(store=tmp_path / "t.db"), state_path=tmp_path / "s")  # fmt: skip
    result = loop.run()
    assert result.status is LoopStatus.NO_PROGRESS and result.reason == "halted by policy"
    assert loop.trace is not None
    assert not [e for e in loop.trace.events if e["event"].startswith("approval.")]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _headless_run(
    tmp_path: Path, observe: Any = None
) -> tuple[Path, Path, Path, Clock, dict[str, Any]]:
    state, db, target, clock = (
        tmp_path / "run.state",
        tmp_path / "tether.db",
        tmp_path / "release.txt",
        Clock(),
    )
    options: dict[str, Any] = {
        "policies": [RequireApproval(["write_file"])], "state_path": state, "quiet": True,
        "approval_runner": HeadlessApproval(ttl_s=600, store=db, clock=clock),
    }  # fmt: skip
    if observe is not None:
        options["observe"] = observe
    result = Loop(
        "ship", Workspace(tmp_path).tools(), ScriptedModel(_write_then_finish(target)), **options
    ).run()
    assert result.status is LoopStatus.AWAITING_APPROVAL and result.resumable
    assert not target.exists()
    token = result.reason.split("token ")[1].split()[0]
    options["token"] = token
    return state, db, target, clock, options


def test_headless_pause_then_approve_from_another_shell_then_resume(tmp_path: Path) -> None:
    state, db, target, _, options = _headless_run(tmp_path)
    token = options.pop("token")
    options.pop("state_path")
    row = SQLiteStore(db).get_approval(token)
    assert row is not None and row["status"] == "pending"
    assert row["request"]["requests"][0]["tool"] == "write_file"

    env = {"TETHER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "tether"]
    listed = subprocess.run(
        [*cli, "approvals"], capture_output=True, text=True, env=env, timeout=60
    )
    assert token in listed.stdout, listed.stderr
    approved = subprocess.run(
        [*cli, "approve", token], capture_output=True, text=True, env=env, timeout=60
    )
    assert approved.returncode == 0, approved.stderr
    again = subprocess.run(
        [*cli, "approve", token], capture_output=True, text=True, env=env, timeout=60
    )
    assert again.returncode == 4 and "already approved" in again.stderr
    unknown = subprocess.run(
        [*cli, "deny", "apv_nope"], capture_output=True, text=True, env=env, timeout=60
    )
    assert unknown.returncode == 4 and "unknown" in unknown.stderr

    result = Loop.resume(
        state, tools=Workspace(tmp_path).tools(), llm=ScriptedModel([reply("done")]), **options
    )
    assert result.status is LoopStatus.SUCCESS, result.reason
    assert target.read_text() == "shipped"
    assert SQLiteStore(db).get_approval(token)["status"] == "used"  # type: ignore[index]
    with pytest.raises(Exception, match="ended SUCCESS"):
        Loop.resume(
            state,
            tools=Workspace(tmp_path).tools(),
            llm=ScriptedModel([]),
            approval={"token": token, "approved": True},
        )


def test_resume_with_a_token_denied_ends_denied_and_tokens_are_checked(tmp_path: Path) -> None:
    state, _, target, _, options = _headless_run(tmp_path)
    token = options.pop("token")
    options.pop("state_path")
    tools = Workspace(tmp_path).tools()
    with pytest.raises(ApprovalError, match="unknown to this run"):
        Loop.resume(
            state,
            tools=tools,
            llm=ScriptedModel([]),
            approval={"token": "apv_forged", "approved": True},
            **options,
        )
    result = Loop.resume(
        state,
        tools=tools,
        llm=ScriptedModel([]),
        approval={"token": token, "approved": False},
        **options,
    )
    assert result.status is LoopStatus.APPROVAL_DENIED and not target.exists()


def test_an_expired_token_is_pending_expired_and_a_new_resume_asks_again(tmp_path: Path) -> None:
    state, db, target, clock, options = _headless_run(tmp_path)
    token = options.pop("token")
    options.pop("state_path")
    clock.now += 601
    tools = Workspace(tmp_path).tools()
    result = Loop.resume(
        state,
        tools=tools,
        llm=ScriptedModel([]),
        approval={"token": token, "approved": True},
        **options,
    )
    assert result.status is LoopStatus.PENDING_EXPIRED and result.resumable
    assert SQLiteStore(db).get_approval(token)["status"] == "expired"  # type: ignore[index]
    with pytest.raises(ApprovalError):  # the expired token cannot be used later either
        Loop.resume(
            state,
            tools=tools,
            llm=ScriptedModel([]),
            approval={"token": token, "approved": True},
            **options,
        )
    asked = Loop.resume(
        state, tools=tools, llm=ScriptedModel(_write_then_finish(target)), **options
    )
    assert asked.status is LoopStatus.AWAITING_APPROVAL and token not in asked.reason
    with pytest.raises(ApprovalError, match="expired"):
        decide(db, token, True, clock=clock)


def test_approval_is_void_when_the_world_changed_since_the_request(tmp_path: Path) -> None:
    config = tmp_path / "deploy.cfg"
    config.write_text("replicas: 2\n")
    state, db, target, _, options = _headless_run(tmp_path, observe=config.read_text)
    token = options.pop("token")
    options.pop("state_path")
    config.write_text("replicas: 0\n")  # someone changed what the approver looked at
    tools = Workspace(tmp_path).tools()
    result = Loop.resume(
        state,
        tools=tools,
        llm=ScriptedModel([]),
        approval={"token": token, "approved": True},
        **options,
    )
    assert result.status is LoopStatus.AWAITING_APPROVAL
    assert "world changed" in result.reason and token not in result.reason.split("void; ")[1]
    assert not target.exists()
    assert SQLiteStore(db).get_approval(token)["status"] == "void"  # type: ignore[index]
    with pytest.raises(ApprovalError, match="already used"):
        Loop.resume(
            state,
            tools=tools,
            llm=ScriptedModel([]),
            approval={"token": token, "approved": True},
            **options,
        )
    fresh = result.reason.split("token ")[1].split()[0]
    done = Loop.resume(
        state,
        tools=tools,
        llm=ScriptedModel([reply("done")]),
        approval={"token": fresh, "approved": True},
        **options,
    )
    assert done.status is LoopStatus.SUCCESS and target.read_text() == "shipped"


def test_require_approval_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="needs tools"):
        RequireApproval()
    with pytest.raises(ValueError, match="on_deny"):
        RequireApproval(["x"], on_deny="ask")
    with pytest.raises(ValueError, match="state_path"):
        Loop("x", [], ScriptedModel([]), approval_runner=HeadlessApproval())


def test_resume_without_the_original_policies_still_honours_the_pending_approval(
    tmp_path: Path,
) -> None:
    state, db, target, _, options = _headless_run(tmp_path)
    token = options.pop("token")
    result = Loop.resume(state, tools=Workspace(tmp_path).tools(), llm=ScriptedModel([reply("done")]),
                         approval={"token": token, "approved": True}, quiet=True)  # fmt: skip
    assert result.status is LoopStatus.SUCCESS, result.reason
    assert target.read_text() == "shipped"
    assert SQLiteStore(db).get_approval(token)["status"] == "used"  # type: ignore[index]
