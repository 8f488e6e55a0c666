"""``tether agent run|goal|memory|skills`` end to end: real processes, a scripted model file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tether.orchestrate import AgentRun, Project
from tether.orchestrate.instructions import MAX_INSTRUCTION_BYTES
from tether.testing import ScriptedModel, reply

SRC = Path(__file__).resolve().parents[2] / "src"


def project(tmp_path: Path, script: str) -> Path:
    """A project with its own home (``.tether/``) whose config names a scripted model."""
    root = tmp_path / "proj"
    (root / ".tether").mkdir(parents=True)
    (root / ".tether" / "config.yaml").write_text('engine:\n  llm: "scripted:model.py"\n')
    (root / ".tether" / "model.py").write_text(
        "import os\nfrom tether.testing import ScriptedModel, call, reply\n" + script
    )
    return root


def tether(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TETHER_HOME"}  # home found from --cwd
    env["PYTHONPATH"] = str(SRC)
    return subprocess.run(
        [sys.executable, "-m", "tether", "agent", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_run_from_elsewhere_uses_the_projects_config_tools_and_home(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "MODEL = ScriptedModel([reply(tool_calls=[call('write_file', path='out.txt', content='hi')]),"
        " reply('WROTE-IT')])\n",
    )
    elsewhere = tmp_path / "shell"
    elsewhere.mkdir()
    done = tether("run", "write out.txt", "--cwd", str(root), "--task", "w", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert "WROTE-IT" in done.stdout  # text on stdout
    assert "write_file" in done.stderr and "write_file" not in done.stdout  # tool lines on stderr
    assert (root / "out.txt").read_text() == "hi"
    assert list((root / ".tether" / "traces").glob("agent-*.jsonl"))
    assert not (elsewhere / ".tether").exists()
    shown = tether("memory", "show", "--json", "--cwd", str(root), cwd=elsewhere)
    [task] = json.loads(shown.stdout)
    assert (task["task_key"], task["status"], task["runs"]) == ("w", "SUCCESS", 1)


TOOLS_ECHO = "MODEL = ScriptedModel([lambda request: reply(' '.join(request.tools))])\n"


def test_run_command_is_not_advertised_without_allow_commands(tmp_path: Path) -> None:
    root = project(tmp_path, TOOLS_ECHO)
    plain = tether("run", "list tools", "--cwd", str(root), cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert "read_file" in plain.stdout and "run_command" not in plain.stdout
    allowed = tether("run", "list tools", "--cwd", str(root), "--allow-commands", cwd=tmp_path)
    assert "run_command" in allowed.stdout


def test_the_projects_dotenv_fills_what_the_shell_does_not_set(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "MODEL = ScriptedModel([lambda request: reply('FLAG=' + os.environ.get('AGENT_FLAG', 'unset'))])\n",
    )
    (root / ".env").write_text("# project env\nAGENT_FLAG='from-dotenv'\n")
    done = tether("run", "say the flag", "--cwd", str(root), cwd=tmp_path)
    assert "FLAG=from-dotenv" in done.stdout, done.stderr


def test_a_dry_run_shows_the_plan_and_records_nothing(tmp_path: Path) -> None:
    root = project(tmp_path, "MODEL = ScriptedModel([])\n")
    (root / "AGENTS.md").write_text("Always run make lint.\n")
    done = tether("run", "do it", "--cwd", str(root), "--dry-run", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["dry_run"] and plan["model"] == "scripted/scripted"
    assert plan["tools"] == ["read_file", "write_file", "list_directory"]
    assert plan["budget"]["max_iterations"] == 20
    assert "Always run make lint." in plan["system_prompt"]
    assert sorted(p.name for p in (root / ".tether").iterdir()) == ["config.yaml", "model.py"]


def test_a_run_that_does_not_succeed_exits_1(tmp_path: Path) -> None:
    root = project(
        tmp_path, "MODEL = ScriptedModel([reply(tool_calls=[call('list_directory')])] * 3)\n"
    )
    done = tether(
        "run", "loop", "--cwd", str(root), "--max-iterations", "1", "--json", cwd=tmp_path
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "BUDGET_EXHAUSTED"


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["run", "x", "--skill", "../etc"], "--skill"),
        (["run", "x", "--max-iterations", "0"], "--max-iterations"),
        (["run", "x", "--cwd", "/does/not/exist"], "--cwd"),
        (["goal", "cond", "x"], "--verify"),
        (["goal", "cond", "x", "--verify", "true", "--protect", "../up"], "--protect"),
        (["memory", "reset"], "--yes"),
        (["skills", "show", "../../x"], "NAME"),
    ],
)
def test_bad_input_exits_2_naming_the_flag(tmp_path: Path, args: list[str], flag: str) -> None:
    root = project(tmp_path, "MODEL = ScriptedModel([])\n")
    if "--cwd" not in args:
        args = [*args, "--cwd", str(root)]
    done = tether(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr


def test_a_goal_run_with_a_verifier_from_the_command_line(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "MODEL = ScriptedModel([reply('claimed'), "
        "reply(tool_calls=[call('write_file', path='done.txt', content='y')]), reply('now really')])\n",
    )
    done = tether(
        "goal",
        "done.txt exists",
        "create done.txt",
        "--verify",
        "test -f done.txt",
        "--cwd",
        str(root),
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "GOAL_MET"
    assert [r["met"] for r in result["rounds"]] == [False, True]
    assert result["spending"]["verifier"]["runs"] == 2
    assert "round 1: SUCCESS; the verifier failed" in done.stderr


def test_ctrl_c_stops_the_run_resumably_with_exit_130(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        "MODEL = ScriptedModel([reply(tool_calls=[call('run_command', command='sleep 30')]),"
        " reply('never')])\n",
    )
    env = {k: v for k, v in os.environ.items() if k != "TETHER_HOME"}
    env["PYTHONPATH"] = str(SRC)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tether",
            "agent",
            "run",
            "wait",
            "--cwd",
            str(root),
            "--allow-commands",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((root / ".tether").glob("traces/*.jsonl")):
        time.sleep(0.1)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "ABORTED" in err and "resumable: tether agent resume" in err
    run_id = err.split("tether agent resume ")[1].split()[0]
    (root / ".tether" / "after.py").write_text(
        "from tether.testing import ScriptedModel, reply\nMODEL = ScriptedModel([reply('RESUMED-OK')])\n"
    )
    resumed = tether(
        "resume", run_id, "--cwd", str(root), "--model", "scripted:after.py", "--json", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["text"] == "RESUMED-OK"
    again = tether("resume", "no-such-run", "--cwd", str(root), cwd=tmp_path)
    assert again.returncode == 2 and "no resumable agent run" in again.stderr


def test_project_instructions_are_bounded(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "CLAUDE.md").write_text("rule\n" + "z" * (3 * MAX_INSTRUCTION_BYTES))
    plan = AgentRun("x", project=Project.at(root, home=home), model=ScriptedModel([reply()])).plan()
    assert "# From CLAUDE.md" in plan.system_prompt and "cut at" in plan.system_prompt
    assert len(plan.system_prompt) < MAX_INSTRUCTION_BYTES + 2000
    assert plan.instruction_files == ("CLAUDE.md",)


ECHO = Path(__file__).resolve().parents[1] / "tools" / "mcp_servers" / "echo_server.py"


def test_mcp_servers_from_the_projects_mcp_json_join_the_run(tmp_path: Path, home: Path) -> None:
    pytest.importorskip("mcp")
    from tether.testing import call

    root = tmp_path / "p"
    root.mkdir()
    servers = {"mcpServers": {"echo": {"command": sys.executable, "args": [str(ECHO)]}}}
    (root / ".mcp.json").write_text(json.dumps(servers))
    model = ScriptedModel([reply(tool_calls=[call("echo__echo", text="via-mcp")]), reply("ok")])
    run = AgentRun("echo", project=Project.at(root, home=home), model=model)
    assert run.plan().mcp_servers == ("echo",)
    result = run.run()
    assert "echo__echo" in model.requests[0].tools
    assert (
        result.tool_results[0]["status"] == "ok" and "via-mcp" in result.tool_results[0]["content"]
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("{not json", ".mcp.json: cannot read as JSON"),
        ('{"mcpServers": []}', "'mcpServers'"),
        ('{"mcpServers": {"x": {"command": "y", "argz": []}}}', "mcpServers.x.argz: unknown key"),
        (
            '{"mcpServers": {"x": {"command": "y", "args": "z"}}}',
            "mcpServers.x.args: expected a list",
        ),
    ],
)
def test_a_broken_mcp_json_names_the_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    root = project(tmp_path, "MODEL = ScriptedModel([])\n")
    (root / ".mcp.json").write_text(text)
    done = tether("run", "x", "--cwd", str(root), "--dry-run", cwd=tmp_path)
    assert done.returncode == 2 and where in done.stderr, done.stderr


def test_memory_show_without_a_home_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "bare"
    root.mkdir()
    done = tether("memory", "show", "--json", "--cwd", str(root), cwd=tmp_path)
    assert (done.returncode, json.loads(done.stdout)) == (0, [])
    assert not (root / ".tether").exists()
