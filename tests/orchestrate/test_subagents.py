"""Sub-agent files and child runs: allow-lists that hold, budgets charged to the parent."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from tether.loop import Loop, LoopStatus
from tether.orchestrate import (
    Delegation,
    SubAgent,
    SubAgentError,
    UnknownAgent,
    agent_loop,
    find_agents,
    load_agent,
)
from tether.testing import ScriptedModel, ScriptedRequest, call, reply
from tether.tools.builtin import Workspace

REVIEWER = """---
name: reviewer
description: Reads code and reports problems; never edits.
tools: [read_file]
max_iterations: 4
token_limit: 5000
---
You review code. REVIEWER-PROMPT-MARKER
"""


def write_agent(folder: Path, name: str, text: str) -> Path:
    (folder / "agents").mkdir(parents=True, exist_ok=True)
    path = folder / "agents" / f"{name}.md"
    path.write_text(text)
    return path


def tool_returns(request: ScriptedRequest) -> list[str]:
    return [
        str(part.content)
        for message in request.messages
        for part in getattr(message, "parts", [])
        if part.part_kind == "tool-return"
    ]


def sent_text(request: ScriptedRequest) -> str:
    return "\n".join(
        str(getattr(part, "content", ""))
        for message in request.messages
        for part in getattr(message, "parts", [])
    )


# -- files -----------------------------------------------------------------------------------------


def test_a_claude_code_style_file_loads(tmp_path: Path) -> None:
    path = write_agent(
        tmp_path,
        "helper",
        "---\nname: helper\ndescription: Helps.\ntools: Read, Grep, Bash\n"
        "disallowedTools: [run_command]\nmaxTurns: 3\nmodel: openai/gpt-4.1-mini\n"
        "color: blue\nisolation: worktree\n---\n\nBe helpful.\n",
    )
    agent = load_agent(path)
    assert agent.name == "helper" and agent.system_prompt == "Be helpful."
    assert agent.tools == ("read_file", "list_directory", "run_command")
    assert agent.disallowed_tools == ("run_command",)
    assert agent.max_iterations == 3 and agent.model == "openai/gpt-4.1-mini"
    assert agent.isolation == "worktree" and agent.path == path
    offered = ["read_file", "write_file", "list_directory", "run_command", "delegate"]
    assert agent.allowed(offered) == ["read_file", "list_directory"]


@pytest.mark.parametrize(
    ("frontmatter", "key", "message"),
    [
        ('max_iterations: "5"', "max_iterations", "must be a whole number, got '5' (str)"),
        ("max_iterations: 0", "max_iterations", "must be positive"),
        ("maxTurns: true", "maxTurns", "must be a whole number"),
        ("token_limit: 1.5", "token_limit", "must be a whole number"),
        ("cost_limit_usd: cheap", "cost_limit_usd", "must be a number"),
        ("tools: {read_file: true}", "tools", "must be a list of tool names"),
        ("max_iteration: 5", "max_iteration", "did you mean 'max_iterations'"),
        ("isolation: container", "isolation", "'container' is not an isolation"),
        ("name: Bad/Name", "name", "not a valid agent name"),
    ],
)
def test_a_malformed_file_names_the_file_and_the_key(
    tmp_path: Path, frontmatter: str, key: str, message: str
) -> None:
    lines = {"name": "name: broken", "description": "description: d"}
    first = frontmatter.split(":")[0]
    lines[first if first in lines else "extra"] = frontmatter
    path = write_agent(tmp_path, "broken", "---\n" + "\n".join(lines.values()) + "\n---\nbody\n")
    with pytest.raises(SubAgentError) as caught:
        load_agent(path)
    error = caught.value
    assert error.file == str(path) and error.key == key
    assert str(error).startswith(f"{path}: key {key!r}: ") and message in str(error)
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.key == key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no frontmatter here", "no YAML frontmatter"),
        ("---\nname: [unclosed\n---\nbody", "not valid YAML"),
        ("---\n- a list\n---\nbody", "must be a mapping"),
        ("---\nname: x\n---\nbody", "key 'description': missing"),
    ],
)
def test_broken_frontmatter_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write_agent(tmp_path, "x", text)
    with pytest.raises(SubAgentError, match=message) as caught:
        load_agent(path)
    assert str(caught.value).startswith(str(path))


def test_project_agents_win_and_a_broken_file_hides_no_other(tmp_path: Path, home: Path) -> None:
    project = tmp_path / "project"
    write_agent(project, "reviewer", REVIEWER)
    write_agent(project, "broken", '---\nname: broken\ndescription: d\nmax_iterations: "5"\n---\n')
    write_agent(project, "README", "# not an agent\n")
    write_agent(home, "reviewer", REVIEWER.replace("REVIEWER-PROMPT-MARKER", "HOME"))
    write_agent(home, "planner", "---\nname: planner\ndescription: Plans.\n---\nPlan.\n")
    catalog = find_agents(project, home)
    assert sorted(catalog.agents) == ["planner", "reviewer"]
    assert "REVIEWER-PROMPT-MARKER" in catalog.get("reviewer").system_prompt
    assert [e.key for e in catalog.errors] == ["max_iterations"]
    with pytest.raises(UnknownAgent, match=r"no agent named 'broken'.*broken.md might define it"):
        catalog.get("broken")
    with pytest.raises(UnknownAgent, match=r"'../reviewer' \(agents: planner, reviewer\)"):
        catalog.get("../reviewer")


def test_an_unknown_tool_in_the_allow_list_names_the_file_and_key(tmp_path: Path) -> None:
    path = write_agent(
        tmp_path, "odd", "---\nname: odd\ndescription: d\ntools: [read_file, teleport]\n---\n"
    )
    agent = load_agent(path)
    with pytest.raises(SubAgentError, match="unknown tool 'teleport'") as caught:
        agent_loop(agent, "t", tools=Workspace(tmp_path).tools(), llm=ScriptedModel([]))
    assert caught.value.file == str(path) and caught.value.key == "tools"


# -- child runs --------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "app.py").write_text("print('hello')\n")
    write_agent(root, "reviewer", REVIEWER)
    return root


def parent_loop(model: ScriptedModel, tools: list[Any], **options: Any) -> Loop:
    return Loop("review app.py", tools=tools, llm=model, quiet=True, **options)


def test_an_allow_list_the_model_tries_to_escape_holds(project: Path) -> None:
    child = ScriptedModel(
        [
            reply(
                tool_calls=[
                    call("write_file", path="app.py", content="pwned"),
                    call("run_command", command="touch escaped"),
                    call("read_file", path="app.py"),
                ],
                usage=(300, 40),
            ),
            reply("app.py prints hello; no problems.", usage=(400, 20)),
        ]
    )
    tools = Workspace(project).tools()
    delegation = Delegation(find_agents(project), tools=tools, llm=child)
    parent_model = ScriptedModel(
        [
            reply(tool_calls=[call("delegate", agent="reviewer", task="review app.py")]),
            reply("The reviewer found no problems."),
        ]
    )
    parent = parent_loop(parent_model, [*tools, delegation.tool()])
    delegation.bind(parent)
    result = parent.run()

    assert result.status is LoopStatus.SUCCESS
    assert (project / "app.py").read_text() == "print('hello')\n"
    assert not (project / "escaped").exists()
    assert [r.tools for r in child.requests] == [["read_file"], ["read_file"]]
    refused = tool_returns(child.requests[1])
    assert '"unknown_tool"' in refused[0] and "'write_file'" in refused[0]
    assert '"unknown_tool"' in refused[1] and "'run_command'" in refused[1]
    assert refused[2] == "print('hello')\n"
    answer = json.loads(tool_returns(parent_model.requests[1])[0])
    assert answer["status"] == "SUCCESS" and answer["tools"] == ["read_file"]
    assert answer["text"] == "app.py prints hello; no problems."
    # the child's 760 tokens are charged to the parent, on top of its own 2 x 20
    assert (answer["input_tokens"], answer["output_tokens"]) == (700, 60)
    assert result.usage.total_tokens == 760 + 40
    assert "delegate" in parent_model.requests[0].tools
    schema = parent_model.requests[0].tool_schemas["delegate"]
    assert schema["properties"]["agent"]["enum"] == ["reviewer"]


def test_the_system_prompt_is_sent_once_per_request(project: Path) -> None:
    child = ScriptedModel([reply(tool_calls=[call("read_file", path="app.py")]), reply("fine")])
    delegation = Delegation(find_agents(project), tools=Workspace(project).tools(), llm=child)
    outcome = delegation.run("reviewer", "review app.py")
    assert outcome.status == "SUCCESS"
    for request in child.requests:
        assert sent_text(request).count("REVIEWER-PROMPT-MARKER") == 1
        system = request.messages[0].parts[0]
        assert system.part_kind == "system-prompt" and "REVIEWER-PROMPT-MARKER" in system.content


def test_max_iterations_in_the_file_is_enforced(project: Path) -> None:
    child = ScriptedModel(
        [reply(tool_calls=[call("list_directory", path=".")])]
        + [reply(tool_calls=[call("read_file", path="app.py", offset=i)]) for i in range(1, 10)]
    )
    agent = SubAgent(name="looper", description="d", system_prompt="", tools=None, max_iterations=2)
    delegation = Delegation([agent], tools=Workspace(project).tools(), llm=child)
    outcome = delegation.run("looper", "keep reading")
    assert (
        outcome.status == "BUDGET_EXHAUSTED" and "iterations ceiling reached (2)" in outcome.reason
    )
    assert len(child.requests) == 2 and outcome.iterations == 2


def test_a_childs_ceiling_is_what_the_parent_has_left_and_its_spend_is_charged(
    project: Path,
) -> None:
    child = ScriptedModel([reply(tool_calls=[call("read_file", path="app.py")], usage=(900, 50))])
    tools = Workspace(project).tools()
    events: list[dict[str, Any]] = []
    delegation = Delegation(find_agents(project), tools=tools, llm=child, on_event=events.append)
    parent_model = ScriptedModel(
        [reply(tool_calls=[call("delegate", agent="reviewer", task="review")], usage=(100, 50))]
    )
    parent = parent_loop(parent_model, [*tools, delegation.tool()], token_limit=1_000)
    delegation.bind(parent)
    result = parent.run()
    start = next(e for e in events if e["event"] == "loop.start")
    assert start["agent"] == "reviewer" and "4 iterations, 850 tokens" in start["limits"]
    assert delegation.results[0].status == "BUDGET_EXHAUSTED"
    assert result.status is LoopStatus.BUDGET_EXHAUSTED and "token ceiling" in result.reason
    assert result.usage.total_tokens == 150 + 950
    assert len(child.requests) == 1 and len(parent_model.requests) == 1


def test_an_unknown_agent_is_an_error_the_parent_model_reads(project: Path) -> None:
    tools = Workspace(project).tools()
    delegation = Delegation(find_agents(project), tools=tools, llm=ScriptedModel([]))
    parent_model = ScriptedModel(
        [reply(tool_calls=[call("delegate", agent="ghost", task="x")]), reply("gave up")]
    )
    parent = parent_loop(parent_model, [*tools, delegation.tool()])
    delegation.bind(parent)
    assert parent.run().status is LoopStatus.SUCCESS
    error = tool_returns(parent_model.requests[1])[0]
    assert "no agent named 'ghost' (agents: reviewer)" in error
    with pytest.raises(UnknownAgent):
        delegation.run("ghost", "x")


def test_agent_loop_takes_the_lower_of_the_file_and_caller_ceilings(project: Path) -> None:
    agent = find_agents(project).get("reviewer")
    loop = agent_loop(
        agent,
        "task",
        tools=Workspace(project).tools(),
        llm=ScriptedModel([]),
        max_iterations=10,
        token_limit=2_000,
    )
    assert (loop.max_iterations, loop.token_limit) == (4, 2_000)
    with pytest.raises(SubAgentError, match="key 'model': names no model"):
        agent_loop(agent, "task", tools=[], llm=None)


def test_a_delegate_tool_never_bound_to_a_parent_refuses_and_runs_no_child(
    project: Path,
) -> None:
    child = ScriptedModel([])
    tools = Workspace(project).tools()
    delegation = Delegation(find_agents(project), tools=tools, llm=child)
    parent_model = ScriptedModel(
        [reply(tool_calls=[call("delegate", agent="reviewer", task="x")]), reply("ok")]
    )
    parent_loop(parent_model, [*tools, delegation.tool()]).run()
    assert "Delegation.bind(parent)" in tool_returns(parent_model.requests[1])[0]
    assert child.requests == [] and delegation.results == []


def test_each_child_run_writes_its_own_trace(project: Path, tmp_path: Path) -> None:
    child = ScriptedModel([reply("nothing to report")])
    delegation = Delegation(
        find_agents(project), tools=Workspace(project).tools(), llm=child, trace_dir=tmp_path / "t"
    )
    outcome = delegation.run("reviewer", "review")
    assert outcome.trace_path is not None and outcome.trace_path.parent == tmp_path / "t"
    events = [json.loads(line)["event"] for line in outcome.trace_path.read_text().splitlines()]
    assert events[0] == "loop.start" and events[-1] == "loop.end"


def test_a_tool_the_parent_does_not_offer_is_dropped_not_granted() -> None:
    agent = SubAgent(
        name="runner", description="d", system_prompt="", tools=("read_file", "run_command")
    )
    assert agent.allowed(["read_file", "write_file", "list_directory"]) == ["read_file"]
    assert SubAgent(name="all", description="d", system_prompt="").allowed(
        ["read_file", "delegate", "run_command"]
    ) == ["read_file", "run_command"]


def test_two_files_of_one_folder_with_one_name_report_the_second(tmp_path: Path) -> None:
    write_agent(tmp_path, "reviewer", REVIEWER)
    second = write_agent(tmp_path, "z-reviewer", REVIEWER)
    catalog = find_agents(tmp_path)
    assert list(catalog.agents) == ["reviewer"]
    assert catalog.agents["reviewer"].path == tmp_path / "agents" / "reviewer.md"
    assert [(e.file, e.key) for e in catalog.errors] == [(str(second), "name")]


def test_a_cancelled_child_is_still_charged_for_what_it_spent(project: Path) -> None:
    import asyncio

    running: list[asyncio.Task[Any]] = []
    loops: list[asyncio.AbstractEventLoop] = []

    def cancel_now(request: ScriptedRequest) -> Any:  # runs on a worker thread
        loops[0].call_soon_threadsafe(running[0].cancel)  # e.g. the tool's timeout
        return reply(tool_calls=[call("read_file", path="app.py", offset=1)], usage=(1, 1))

    child = ScriptedModel(
        [reply(tool_calls=[call("read_file", path="app.py")], usage=(300, 30)), cancel_now]
    )
    delegation = Delegation(find_agents(project), tools=Workspace(project).tools(), llm=child)
    parent = parent_loop(ScriptedModel([]), Workspace(project).tools())
    delegation.bind(parent)

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        running.append(asyncio.create_task(delegation.arun("reviewer", "review")))
        with pytest.raises(asyncio.CancelledError):
            await running[0]

    asyncio.run(main())
    assert parent.usage.total_tokens >= 330 and delegation.results == []
