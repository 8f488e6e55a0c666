"""Built-in tools on real files and real commands; Workspace confinement."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tether.errors import ToolError
from tether.llm.types import ToolCall
from tether.tools import ToolRunner, Workspace, builtin_tools, list_directory, read_file, write_file
from tether.tools import builtin as builtin_module
from tether.tools.builtin import COMMAND_HEAD_BYTES, COMMAND_TAIL_BYTES, run_command


def dead(pid: int) -> bool:
    """No such process, or only a zombie left (PID 1 in a container may not reap orphans)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def wait_dead(pid: int, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if dead(pid):
            return True
        time.sleep(0.02)
    return dead(pid)


def read_pid(path: Path, within_s: float = 3.0) -> int:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text:
            return int(text)
        time.sleep(0.01)
    raise AssertionError(f"{path} was never written")


@pytest.fixture
def short_grace(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(builtin_module, "COMMAND_GRACE_S", 0.3)
    return 0.3


# -- run_command ----------------------------------------------------------------------------------


def test_run_command_returns_exit_code_stdout_and_stderr() -> None:
    result = run_command("echo out; echo err >&2; exit 3")
    assert result["exit_code"] == 3
    assert result["stdout"] == "out\n" and result["stderr"] == "err\n"
    assert result["truncated"] is False and result["timed_out"] is False
    assert result["duration_s"] >= 0


def test_run_command_with_argv_and_cwd(tmp_path: Path) -> None:
    result = run_command([sys.executable, "-c", "import os; print(os.getcwd())"], cwd=str(tmp_path))
    assert result["exit_code"] == 0
    assert result["stdout"].strip() == str(tmp_path)


def test_run_command_reports_a_missing_program_like_a_shell() -> None:
    result = run_command(["/nonexistent/program"])
    assert result["exit_code"] == 127 and "command not found" in result["stderr"]


def test_huge_output_keeps_head_and_tail_and_is_marked_truncated() -> None:
    code = "import sys; print('START'); sys.stdout.write('x' * 2_000_000 + '\\n'); print('END')"
    result = run_command([sys.executable, "-c", code])
    out = result["stdout"]
    assert result["exit_code"] == 0 and result["truncated"] is True
    assert out.startswith("START\n") and out.endswith("END\n")
    assert "bytes omitted" in out
    assert len(out) < COMMAND_HEAD_BYTES + COMMAND_TAIL_BYTES + 100


def test_yes_piped_to_head_is_truncated_too() -> None:
    result = run_command("yes | head -c 1000000")
    assert result["truncated"] is True and result["exit_code"] == 0
    assert result["stdout"].startswith("y\ny\n") and result["stdout"].endswith("y\n")


def test_timeout_kills_the_whole_process_group(tmp_path: Path, short_grace: float) -> None:
    script = f"echo $$ > {tmp_path}/sh.pid; sleep 30 & echo $! > {tmp_path}/sleep.pid; wait"
    started = time.monotonic()
    result = run_command(script, timeout_s=0.3)
    assert time.monotonic() - started < 3
    assert result["exit_code"] == 124 and result["timed_out"] is True
    shell, grandchild = read_pid(tmp_path / "sh.pid"), read_pid(tmp_path / "sleep.pid")
    assert wait_dead(shell) and wait_dead(grandchild)


def test_timeout_sends_sigterm_first_then_sigkill_to_a_child_that_traps_it(
    tmp_path: Path, short_grace: float
) -> None:
    marker = tmp_path / "got-term"
    pid_file = tmp_path / "child.pid"
    code = (
        "import os, signal, time\n"
        f"signal.signal(signal.SIGTERM, lambda *_: open({str(marker)!r}, 'w').write('TERM'))\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "while True: time.sleep(0.05)\n"
    )
    started = time.monotonic()
    result = run_command([sys.executable, "-c", code], timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert result["exit_code"] == 124 and result["timed_out"] is True
    assert marker.read_text() == "TERM"  # it was asked first
    assert wait_dead(read_pid(pid_file))  # then killed
    assert elapsed >= 0.5 + short_grace * 0.9  # SIGKILL came only after the grace period


def test_a_child_that_honours_sigterm_stops_before_the_grace_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builtin_module, "COMMAND_GRACE_S", 5.0)
    started = time.monotonic()
    result = run_command("sleep 30", timeout_s=0.2)
    assert result["timed_out"] is True
    assert time.monotonic() - started < 3  # SIGTERM did it; no 5 s wait for SIGKILL


def test_command_timeout_cap_applies_whatever_the_model_asks(short_grace: float) -> None:
    tools = {t.name: t for t in builtin_tools(command_timeout_s=0.3)}
    started = time.monotonic()
    result = ToolRunner(tools.values()).run(
        ToolCall("run_command", {"command": "sleep 30", "timeout_s": 100})
    )
    assert time.monotonic() - started < 3
    assert result.ok and result.value["timed_out"] is True


# -- files (loose leash) --------------------------------------------------------------------------


def test_write_read_and_list(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "note.txt"
    assert write_file(str(target), "héllo\n") == f"wrote 7 bytes to {target}"
    assert read_file(str(target)) == "héllo\n"
    assert list_directory(str(tmp_path)) == ["a/"]
    assert list_directory(str(tmp_path / "a" / "b")) == ["note.txt"]


def test_read_file_pages_with_offset_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("0123456789")
    first = read_file(str(path), limit=4)
    assert first.startswith("0123") and "6 more bytes; read again with offset=4" in first
    assert read_file(str(path), offset=4, limit=100) == "456789"


def test_missing_file_is_a_tool_error_result(tmp_path: Path) -> None:
    result = ToolRunner(builtin_tools()).run(
        ToolCall("read_file", {"path": str(tmp_path / "missing.txt")})
    )
    assert result.status == "error" and "FileNotFoundError" in result.content


# -- Workspace (tight leash) ----------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("print('hi')\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    (tmp_path / "outside_dir").mkdir()
    (root / "link_out").symlink_to(tmp_path / "outside.txt")
    (root / "dir_out").symlink_to(tmp_path / "outside_dir")
    (root / "link_in").symlink_to(root / "src" / "main.py")
    return Workspace(root)


@pytest.mark.parametrize(
    "path",
    ["../outside.txt", "src/../../outside.txt", "link_out", "dir_out/new.txt", "/etc/passwd"],
)
def test_workspace_refuses_escapes(ws: Workspace, path: str) -> None:
    with pytest.raises(ToolError, match="outside the workspace"):
        ws.resolve(path)


@pytest.mark.parametrize(
    "path", ["src/main.py", "./src/../src/main.py", "link_in", ".", "new/file"]
)
def test_workspace_allows_paths_inside(ws: Workspace, path: str) -> None:
    resolved = ws.resolve(path)
    assert resolved == ws.root or ws.root in resolved.parents


def test_workspace_allows_absolute_paths_inside(ws: Workspace) -> None:
    assert ws.resolve(str(ws.root / "src" / "main.py")) == ws.root / "src" / "main.py"


def test_workspace_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="not a directory"):
        Workspace(tmp_path / "nope")


def test_confined_tools_through_the_runner(ws: Workspace, tmp_path: Path) -> None:
    runner = ToolRunner(ws.tools(command_timeout_s=5))

    def call(name: str, **args: Any) -> Any:
        return runner.run(ToolCall(name, args))

    assert call("read_file", path="src/main.py").content == "print('hi')\n"
    assert call("read_file", path="link_in").content == "print('hi')\n"
    refused = call("read_file", path="link_out")
    assert (
        refused.status == "error"
        and "outside the workspace" in json.loads(refused.content)["message"]
    )
    assert "secret" not in refused.content
    assert call("write_file", path="out/new.txt", content="x").ok
    assert (ws.root / "out" / "new.txt").read_text() == "x"
    assert call("write_file", path="dir_out/evil.txt", content="x").status == "error"
    assert not (tmp_path / "outside_dir" / "evil.txt").exists()
    assert call("list_directory").value == ["dir_out/", "link_in", "link_out", "out/", "src/"]
    assert call("list_directory", path="..").status == "error"
    pwd = call("run_command", command="pwd")
    assert pwd.ok and pwd.value["stdout"].strip() == str(ws.root)
    assert call("run_command", command="pwd", cwd="src").value["stdout"].strip() == str(
        ws.root / "src"
    )
    assert call("run_command", command="pwd", cwd="..").status == "error"


def test_confined_descriptions_say_paths_are_relative(ws: Workspace) -> None:
    tools = {t.name: t for t in ws.tools()}
    assert set(tools) == {"read_file", "write_file", "list_directory", "run_command"}
    assert (
        "relative to the workspace"
        in tools["read_file"].parameters["properties"]["path"]["description"]
    )
    assert tools["read_file"].parallel_safe and not tools["write_file"].parallel_safe
    assert repr(ws) == f"Workspace({str(ws.root)!r})"
