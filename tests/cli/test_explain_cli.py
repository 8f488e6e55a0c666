"""`tether explain`, run as a real process on traces that real loops wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether.loop import Loop, LoopStatus
from tether.testing import ScriptedModel, call, reply
from tether.tools import builtin_tools

pytest.importorskip("pydantic_ai")

TETHER = [sys.executable, "-m", "tether"]


def tether(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TETHER, *args], cwd=cwd, env=dict(os.environ), capture_output=True,
                          text=True, check=False, timeout=120)  # fmt: skip


def two_runs(tmp_path: Path) -> Path:
    """A trace file holding a NO_PROGRESS run, then a SUCCESS run."""
    trace = tmp_path / "trace.jsonl"
    missing = str(tmp_path / "missing.ini")
    script = [reply("looking", tool_calls=[call("read_file", path=missing)], usage=(100, 7))] * 4
    first = Loop("find the config", builtin_tools(), ScriptedModel(script), trace_path=trace,
                 quiet=True).run()  # fmt: skip
    assert first.status is LoopStatus.NO_PROGRESS
    Loop("say hello", builtin_tools(), ScriptedModel([reply("hello")]), trace_path=trace,
         quiet=True).run()  # fmt: skip
    return trace


def test_explain_shows_the_stop_usage_and_chain_in_the_terminal(tmp_path: Path) -> None:
    trace = two_runs(tmp_path)
    proc = tether("explain", str(trace), "--run", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "tether explain · run 1 of 2" in out
    assert "NO_PROGRESS" in out and "why:  3 iterations in a row made no progress" in out
    assert "next: read the trace for the repeated actions" in out
    assert "goal: find the config" in out
    assert "input tokens   400" in out and "tool calls     4 (4 failed)" in out
    assert "repeated action (iterations 2, 3, 4): read_file(path=" in out
    assert "  1. Iteration 1: called read_file" in out
    assert "  5. Stopped: NO_PROGRESS: 3 iterations in a row" in out


def test_explain_markdown_defaults_to_the_last_run(tmp_path: Path) -> None:
    trace = two_runs(tmp_path)
    proc = tether("explain", str(trace), "--markdown", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("# Run explained: SUCCESS\n")
    assert "- **Goal:** say hello" in proc.stdout
    assert "- **Run:** 2 of 2 in this trace" in proc.stdout
    assert (
        "1. **Iteration 1: answered without a tool call**\n   - model said: “hello”" in proc.stdout
    )


def test_explain_errors_name_the_file_and_line_and_exit_4(tmp_path: Path) -> None:
    trace = two_runs(tmp_path)
    lines = trace.read_text().splitlines(keepends=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join([lines[0], "{not json\n", *lines[1:]]))
    proc = tether("explain", str(bad), cwd=tmp_path)
    assert proc.returncode == 4
    assert proc.stderr.startswith(f"tether: error: trace {bad}: line 2: not valid JSON")
    assert proc.stdout == ""

    proc = tether("explain", str(trace), "--run", "3", cwd=tmp_path)
    assert proc.returncode == 4
    assert "the trace holds 2 run(s); run 3 does not exist" in proc.stderr

    proc = tether("explain", str(tmp_path / "nope.jsonl"), cwd=tmp_path)
    assert proc.returncode == 4 and "nope.jsonl: cannot read" in proc.stderr


def test_explain_is_listed_in_help(tmp_path: Path) -> None:
    proc = tether("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "explain" in proc.stdout and "Explain a governed run from its trace" in proc.stdout
