"""LLM-action rules: a matched rule hands the failure to a governed conversation.

Every failure here comes from running a real script in ``tmp_path``; only the
model is scripted. The conversation's tools act on real files.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether import Tether
from tether.explore.llm_rule import LLMRuleRun, render_template
from tether.llm import LLM
from tether.process.command import run_command
from tether.recover.loop import Outcome
from tether.rules.load import load_text
from tether.testing import ScriptedModel, ScriptedRequest, call, reply, server_error

JOB = """\
import pathlib, sys
cfg = pathlib.Path("app.cfg")
if not cfg.exists():
    sys.exit("config file app.cfg is missing")
if "mode = fast" not in cfg.read_text():
    sys.exit("config file app.cfg has no mode")
print("ok")
"""

TEMPLATE = (
    "The job stopped: config file {path} is missing (exit code {exit_code}). "
    "Create {path} holding the line 'mode = fast'. Keep {{braces}} and {\"json\": 1} as written."
)

FIX = reply(tool_calls=[call("write_file", path="app.cfg", content="mode = fast\n")])
DONE = reply(tool_calls=[call("done", summary="created app.cfg")])


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A directory holding the job, which fails until app.cfg says 'mode = fast'."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "job.py").write_text(JOB)
    return folder


def write_rule(home: Path, **llm_config: Any) -> Path:
    llm_config.setdefault("prompt_template", TEMPLATE)
    llm_config.setdefault("tools", ["write_file"])
    rule = {
        "name": "missing-config",
        "description": "the job needs its config file",
        "when": [{"fact": "stderr", "regex": r"config file (?P<path>\S+) is missing"}],
        "llm_config": llm_config,
    }
    path = home / "rules" / "missing-config.rule.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(rule, sort_keys=False))
    return path


def engine(home: Path, llm: Any) -> Tether:
    return Tether(home=home, starter_rules=False, llm=llm, strict=True)


def run_job(t: Tether, work: Path) -> tuple[Any, Outcome]:
    result, outcome = t.run_command([sys.executable, "job.py"], cwd=work, stream=False)
    assert outcome is not None
    return result, outcome


def sent(request: ScriptedRequest) -> str:
    """Everything a request showed the model, as text."""
    parts = [p for m in request.messages for p in getattr(m, "parts", [])]
    return "\n".join(str(getattr(p, "content", "")) for p in parts)


def assert_original_failure(result: Any) -> None:
    assert result.exit_code == 1
    assert result.stderr.strip() == "config file app.cfg is missing"


async def _no_sleep(seconds: float) -> None:
    return None


# -- the conversation decides the step --------------------------------------------------------


def test_done_after_a_real_fix_recovers_the_job(home: Path, work: Path) -> None:
    write_rule(home)
    model = ScriptedModel([FIX, DONE])
    result, outcome = run_job(engine(home, model), work)

    assert result.exit_code == 0 and result.stdout.strip() == "ok"
    assert outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [("missing-config", "success")]
    assert (work / "app.cfg").read_text() == "mode = fast\n"
    first = model.requests[0]
    assert sorted(first.tools) == ["done", "give_up", "write_file"]
    shown = sent(first)
    assert "config file app.cfg is missing (exit code 1)" in shown
    assert 'Keep {braces} and {"json": 1} as written.' in shown
    assert "{path}" not in shown


def test_done_is_verified_by_running_the_job_again(home: Path, work: Path) -> None:
    write_rule(home)
    model = ScriptedModel([reply(tool_calls=[call("done", summary="fixed, trust me")])])
    result, outcome = run_job(engine(home, model), work)

    assert not outcome.recovered
    assert [a.outcome for a in outcome.attempts] == ["failure"]
    assert_original_failure(result)


def test_give_up_returns_the_original_failure_with_the_reason(home: Path, work: Path) -> None:
    write_rule(home)
    model = ScriptedModel([reply(tool_calls=[call("give_up", reason="no write access here")])])
    result, outcome = run_job(engine(home, model), work)

    assert_original_failure(result)
    assert not outcome.recovered
    [attempt] = outcome.attempts
    assert attempt.outcome == "action_error"
    assert attempt.error is not None
    assert "rule 'missing-config'" in attempt.error
    assert "the model gave up: no write access here" in attempt.error
    assert "1 model requests, 20 tokens" in attempt.error
    assert not (work / "app.cfg").exists()


def test_a_plain_answer_without_a_signal_fails_the_step(home: Path, work: Path) -> None:
    write_rule(home)
    model = ScriptedModel([reply("I would create app.cfg.")])
    result, outcome = run_job(engine(home, model), work)

    assert_original_failure(result)
    [attempt] = outcome.attempts
    assert attempt.outcome == "action_error"
    assert "without calling done or give_up" in (attempt.error or "")


def test_marked_function_gets_its_own_exception_back_after_give_up(
    home: Path, tmp_path: Path
) -> None:
    rule_yaml = """\
name: missing-settings
when: [{fact: error, regex: "No such file or directory: '(?P<path>[^']+)'"}]
llm_config:
  prompt_template: "{error_type}: {path} is missing"
  tools: [write_file]
"""
    (home / "rules").mkdir()
    (home / "rules" / "missing-settings.rule.yaml").write_text(rule_yaml)
    model = ScriptedModel([reply(tool_calls=[call("give_up", reason="unknown contents")])])
    t = engine(home, model)
    raised: list[BaseException] = []

    @t.mark
    def read_settings(path: Path) -> str:
        try:
            return path.read_text()
        except FileNotFoundError as exc:
            raised.append(exc)
            raise

    with pytest.raises(FileNotFoundError) as info:
        read_settings(tmp_path / "settings.ini")

    assert info.value is raised[0] and len(raised) == 1
    assert info.value.__notes__[-1].startswith("tether: tried missing-settings (action_error)")
    assert "FileNotFoundError: " in sent(model.requests[0])


def test_async_marked_function_recovers_through_the_conversation(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule_yaml = """\
name: missing-settings
when: [{fact: error, regex: "No such file or directory: '(?P<path>[^']+)'"}]
llm_config:
  prompt_template: "create {path} with the text 'ready'"
  tools: [write_file]
"""
    (home / "rules").mkdir()
    (home / "rules" / "missing-settings.rule.yaml").write_text(rule_yaml)
    settings = tmp_path / "settings.ini"
    model = ScriptedModel([
        reply(tool_calls=[call("write_file", path="settings.ini", content="ready")]),
        reply(tool_calls=[call("done", summary="wrote settings.ini")]),
    ])  # fmt: skip
    t = engine(home, model)

    @t.mark
    async def read_settings() -> str:
        return settings.read_text()

    monkeypatch.chdir(tmp_path)  # a marked function's tools work in the process's directory
    assert asyncio.run(read_settings()) == "ready"
    assert len(model.requests) == 2


# -- the rule's parts ---------------------------------------------------------------------------


def test_prompt_template_from_a_file_in_the_home(home: Path, work: Path) -> None:
    (home / "prompts").mkdir(parents=True)
    (home / "prompts" / "config.md").write_text("From the file: write {path} for {command}.\n")
    write_rule(home, prompt_template="file://prompts/config.md")
    model = ScriptedModel([FIX, DONE])
    result, outcome = run_job(engine(home, model), work)

    assert outcome.recovered and result.exit_code == 0
    assert "From the file: write app.cfg for " in sent(model.requests[0])
    assert "job.py." in sent(model.requests[0])


def test_prompt_file_outside_the_home_is_refused(home: Path, work: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.md").write_text("Fix {path}")
    write_rule(home, prompt_template="file://../elsewhere.md")
    model = ScriptedModel([])
    result, outcome = run_job(engine(home, model), work)

    assert_original_failure(result)
    error = outcome.attempts[0].error or ""
    assert "rule 'missing-config'" in error and "field 'llm_config.prompt_template'" in error
    assert "'file://../elsewhere.md' resolves outside the home" in error
    assert model.requests == []


def test_missing_prompt_file_is_named(home: Path, work: Path) -> None:
    write_rule(home, prompt_template="file://prompts/nope.md")
    result, outcome = run_job(engine(home, ScriptedModel([])), work)

    assert_original_failure(result)
    error = outcome.attempts[0].error or ""
    assert "cannot read the prompt file" in error and "nope.md" in error


def test_missing_placeholder_names_the_rule_and_the_placeholder(home: Path, work: Path) -> None:
    write_rule(home, prompt_template="Create {path} owned by {owner}.")
    model = ScriptedModel([])
    result, outcome = run_job(engine(home, model), work)

    assert_original_failure(result)
    error = outcome.attempts[0].error or ""
    assert "rule 'missing-config'" in error and "field 'llm_config.prompt_template'" in error
    assert "placeholder {owner} has no capture and no context value" in error
    assert "{{owner}}" in error  # how to write it literally
    assert model.requests == []


def test_unknown_tool_names_the_rule_and_the_tool(home: Path, work: Path) -> None:
    write_rule(home, tools=["write_file", "frobnicate"])
    model = ScriptedModel([])
    result, outcome = run_job(engine(home, model), work)

    assert_original_failure(result)
    error = outcome.attempts[0].error or ""
    assert "rule 'missing-config'" in error and "field 'llm_config.tools'" in error
    assert "unknown tool 'frobnicate'" in error and "read_file" in error
    assert model.requests == []


def test_signal_tools_cannot_be_listed(home: Path, work: Path) -> None:
    write_rule(home, tools=["done"])
    _, outcome = run_job(engine(home, ScriptedModel([])), work)
    assert "'done' is a signal tool" in (outcome.attempts[0].error or "")


def test_tool_registered_on_the_engine_is_offered_by_name(home: Path, work: Path) -> None:
    write_rule(home, tools=["set_mode"])
    model = ScriptedModel([reply(tool_calls=[call("set_mode", mode="fast")]), DONE])
    t = engine(home, model)

    @t.tool()
    def set_mode(mode: str) -> str:
        """Write app.cfg with a mode.

        Args:
            mode: the mode to set.
        """
        Path("app.cfg").write_text(f"mode = {mode}\n")
        return "written"

    result, outcome = run_job(t, work)
    assert outcome.recovered and result.exit_code == 0
    assert sorted(model.requests[0].tools) == ["done", "give_up", "set_mode"]


def test_builtin_tools_are_confined_to_the_jobs_directory(
    home: Path, work: Path, tmp_path: Path
) -> None:
    write_rule(home)
    model = ScriptedModel([
        reply(tool_calls=[call("write_file", path="../escaped.txt", content="x")]),
        reply(tool_calls=[call("give_up", reason="cannot write there")]),
    ])  # fmt: skip
    result, _ = run_job(engine(home, model), work)

    assert not (tmp_path / "escaped.txt").exists()
    assert "outside the workspace" in sent(model.requests[1])
    assert_original_failure(result)


# -- ceilings, models, records -------------------------------------------------------------


def test_max_tool_calls_stops_a_model_that_keeps_calling_tools(home: Path, work: Path) -> None:
    write_rule(home, constraints={"max_tool_calls": 2})
    model = ScriptedModel(
        [
            reply(tool_calls=[call("write_file", path=f"note{i}.txt", content="x")])
            for i in (1, 2, 3, 4)
        ]
    )
    result, outcome = run_job(engine(home, model), work)

    assert_original_failure(result)
    assert (work / "note1.txt").exists() and (work / "note2.txt").exists()
    assert not (work / "note3.txt").exists()
    assert len(model.requests) == 2  # the ceiling is checked before the next model call
    error = outcome.attempts[0].error or ""
    assert "BUDGET_EXHAUSTED" in error and "tool-call ceiling reached (2 of 2)" in error


def test_max_tokens_is_the_conversations_token_ceiling(home: Path, work: Path) -> None:
    write_rule(home, constraints={"max_tokens": 300})
    model = ScriptedModel([
        reply(tool_calls=[call("write_file", path=f"note{i}.txt", content="x")], usage=(120, 60))
        for i in (1, 2, 3)
    ])  # fmt: skip
    _, outcome = run_job(engine(home, model), work)

    error = outcome.attempts[0].error or ""
    assert "BUDGET_EXHAUSTED" in error and "token ceiling" in error
    assert len(model.requests) <= 2


def test_provider_failure_fails_the_step_and_keeps_the_users_failure(
    home: Path, work: Path
) -> None:
    write_rule(home)
    model = ScriptedModel([server_error()] * 4)
    result, outcome = run_job(engine(home, LLM(model, sleep=_no_sleep)), work)

    assert_original_failure(result)
    assert not outcome.recovered
    [attempt] = outcome.attempts
    assert attempt.outcome == "action_error"
    assert "ERROR: model call failed" in (attempt.error or "")
    assert len(model.requests) == 4  # the client's retries, then the step fails


def test_no_model_configured_fails_the_step_clearly(home: Path, work: Path) -> None:
    write_rule(home)
    result, outcome = run_job(engine(home, None), work)

    assert_original_failure(result)
    error = outcome.attempts[0].error or ""
    assert "no model is configured" in error and "engine.llm" in error


def test_use_secondary_talks_to_the_secondary_model_only(home: Path, work: Path) -> None:
    write_rule(home, use_secondary=True)
    primary, secondary = ScriptedModel([]), ScriptedModel([FIX, DONE], name="strong")
    result, outcome = run_job(engine(home, LLM(primary, secondary=secondary)), work)

    assert outcome.recovered and result.exit_code == 0
    assert primary.requests == []
    assert len(secondary.requests) == 2


def test_use_secondary_without_a_secondary_is_refused(home: Path, work: Path) -> None:
    write_rule(home, use_secondary=True)
    model = ScriptedModel([])
    _, outcome = run_job(engine(home, model), work)

    error = outcome.attempts[0].error or ""
    assert "field 'llm_config.use_secondary'" in error and "llm_secondary" in error
    assert model.requests == []


def test_tokens_model_and_trace_are_recorded(
    home: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_rule(home)
    model = ScriptedModel([
        reply(tool_calls=[call("write_file", path="app.cfg", content="mode = fast\n")], usage=(100, 20)),
        reply(tool_calls=[call("done", summary="created app.cfg")], usage=(150, 10)),
    ])  # fmt: skip
    t = engine(home, model)
    context = run_command([sys.executable, "job.py"], cwd=work, stream=False).context()
    monkeypatch.chdir(work)

    run = t.execute_rule(t.book.get("missing-config"), context)  # type: ignore[arg-type]

    assert isinstance(run, LLMRuleRun) and run.ok
    assert (run.usage.input_tokens, run.usage.output_tokens, run.usage.requests) == (250, 30, 2)
    assert run.model == "scripted/scripted"
    assert run.conversation is not None and run.conversation.exit is not None
    assert run.conversation.exit.arguments == {"summary": "created app.cfg"}
    [step] = run.steps
    assert step.action == "llm" and step.ok
    assert step.result.startswith("done: created app.cfg [2 model requests, 280 tokens")
    assert run.trace_path is not None and run.trace_path.parent == home / "traces"
    assert run.trace_path.name.startswith("missing-config-")
    events = [json.loads(line) for line in run.trace_path.read_text().splitlines()]
    assert [e["event"] for e in events if e["event"] == "llm.call"] == ["llm.call"] * 2
    assert events[-1]["event"] == "loop.end" and events[-1]["status"] == "SUCCESS"


def test_render_template_fills_captures_before_context() -> None:
    [rule] = load_text(
        "name: r\nwhen: [{fact: stderr, contains: x}]\nllm_config: {prompt_template: t}\n"
    )
    text = render_template(
        "{path} {{path}} {{{path}}} {code} {ok} {not a field} }",
        {"path": "from-capture"},
        {"path": "from-context", "code": 126, "ok": True},
        rule=rule,
    )
    assert text == "from-capture {path} {from-capture} 126 true {not a field} }"


def test_the_conversations_tokens_reach_the_observation(home: Path, work: Path) -> None:
    write_rule(home)
    model = ScriptedModel([
        reply(tool_calls=[call("write_file", path="app.cfg", content="mode = fast\n")], usage=(100, 20)),
        reply(tool_calls=[call("done", summary="created app.cfg")], usage=(150, 10)),
    ])  # fmt: skip
    result, _ = run_job(engine(home, model), work)
    assert result.exit_code == 0
    records = [json.loads(line) for line in (home / "observations.jsonl").read_text().splitlines()]
    [record] = [r for r in records if r.get("rule") == "missing-config"]
    assert record["llm"]["kind"] == "llm_action" and record["llm"]["outcome"] == "success"
    assert (record["llm"]["input_tokens"], record["llm"]["output_tokens"]) == (250, 30)
