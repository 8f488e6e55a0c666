"""The explorer end to end: a real failing job, a scripted model, verification, promotion."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.explore.jobs import CODE, NOOP_CODE, RULE, config_job, failing_context
from tether import Tether
from tether.errors import ExplorationError
from tether.llm import LLM
from tether.recover.loop import RecoveryEvent
from tether.store.observations import read_observations
from tether.testing import ScriptedModel, call, reply


def submitting(rule: str = RULE, code: str | None = CODE, *before: Any) -> ScriptedModel:
    return ScriptedModel([
        *before,
        reply(tool_calls=[call("read_file", path="job.py")], usage=(400, 30)),
        reply(tool_calls=[call("submit_rule", rule_yaml=rule, action_code=code)], usage=(600, 180)),
    ])  # fmt: skip


def run(engine: Tether, work: Path, **settings: Any) -> Any:
    settings.setdefault("explore", True)
    return engine.run_command(config_job(work), cwd=work, stream=False,
                              settings=engine.settings(**settings))  # fmt: skip


def prompt_of(model: ScriptedModel, n: int = 0) -> str:
    """Everything the model was sent in request ``n`` (system prompt included)."""
    return json.dumps([m.parts for m in model.requests[n].messages], default=str)


def test_explored_rule_is_verified_promoted_and_resolves_next_time_with_no_model_call(
    home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    model = submitting()
    first, outcome = run(Tether(home=home, llm=model), work)
    assert first.exit_code == 0 and first.stdout == "config ok\n"
    assert outcome.recovered and [a.rule for a in outcome.attempts] == ["missing-config-file"]
    assert len(model.requests) == 2
    # promoted: the rule and its action, written where people review them
    assert (home / "rules" / "missing-config-file.rule.yaml").exists()
    assert (home / "actions" / "missing_config_file.py").read_text() == CODE
    record = read_observations(home / "observations.jsonl")[-1]
    assert record["outcome"] == "success"
    assert record["llm"]["outcome"] == "success"
    assert (record["llm"]["input_tokens"], record["llm"]["output_tokens"]) == (1000, 210)
    assert record["llm"]["tool_calls"] == 2 and record["llm"]["duration_s"] >= 0
    trace = Path(record["llm"]["traces"][0])
    events = [json.loads(x)["event"] for x in trace.read_text().splitlines()]
    assert events[0] == "loop.start" and events[-1] == "loop.end"

    (work / "conf" / "app.ini").unlink()
    idle = ScriptedModel([])
    again, outcome = run(Tether(home=home, llm=idle), work)
    assert again.exit_code == 0
    assert [a.rule for a in outcome.attempts] == ["missing-config-file"]
    assert idle.requests == []  # resolved by the rule: zero tokens


def test_a_rule_that_does_not_fix_it_is_rejected_nothing_is_kept_and_the_next_exploration_hears(
    home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    result, outcome = run(Tether(home=home, llm=submitting(code=NOOP_CODE)), work)
    assert result.exit_code == 1  # the user's failure, unchanged
    assert "cannot open config file 'conf/app.ini'" in result.stderr
    assert not outcome.recovered
    assert not (home / "rules").exists() and not (home / "actions").exists()
    record = read_observations(home / "observations.jsonl")[-1]
    assert record["outcome"] == "failure" and record["llm"]["outcome"] == "failure"
    assert "did not fix the failure" in record["llm"]["rejection"]

    listener = submitting()
    result, outcome = run(Tether(home=home, llm=listener), work)
    assert result.exit_code == 0
    assert "REJECTED" in prompt_of(listener) and "did not fix the failure" in prompt_of(listener)


def test_a_rejected_rule_leaves_the_session_and_the_registry(home: Path, tmp_path: Path) -> None:
    engine = Tether(home=home, llm=submitting(code=NOOP_CODE))
    run(engine, tmp_path / "work")
    assert "missing-config-file" not in engine.book
    assert "create_config_file" not in engine.actions


def test_archive_llm_attempt_keeps_the_rejected_rule_aside(home: Path, tmp_path: Path) -> None:
    (home / "config.yaml").write_text("engine:\n  archive_llm_attempt: true\n")
    run(Tether(home=home, llm=submitting(code=NOOP_CODE)), tmp_path / "work")
    archived = list((home / "archive").iterdir())
    assert len(archived) == 1
    names = sorted(p.name for p in archived[0].iterdir())
    assert names == ["REJECTED.txt", "missing-config-file.rule.yaml", "missing_config_file.py"]
    assert not (home / "rules").exists()


def test_with_escalation_a_failed_verification_goes_to_the_secondary(
    home: Path, tmp_path: Path
) -> None:
    primary, secondary = submitting(code=NOOP_CODE), submitting()
    engine = Tether(home=home, llm=LLM(primary, secondary=secondary))
    result, outcome = run(engine, tmp_path / "work", allow_escalation=True)
    assert result.exit_code == 0 and outcome.recovered
    assert len(primary.requests) == 2 and len(secondary.requests) == 2
    assert "did not fix the failure" in prompt_of(secondary)


def test_without_escalation_a_failed_verification_ends_recovery(home: Path, tmp_path: Path) -> None:
    primary, secondary = submitting(code=NOOP_CODE), submitting()
    result, _ = run(Tether(home=home, llm=LLM(primary, secondary=secondary)), tmp_path / "work")
    assert result.exit_code == 1 and secondary.requests == []


def test_a_give_up_escalates_with_the_findings(home: Path, tmp_path: Path) -> None:
    primary = ScriptedModel(
        [reply(tool_calls=[call("give_up", reason="the config format is unknown to me")])]
    )
    secondary = submitting()
    engine = Tether(home=home, llm=LLM(primary, secondary=secondary))
    result, _ = run(engine, tmp_path / "work", allow_escalation=True)
    assert result.exit_code == 0
    assert "the config format is unknown to me" in prompt_of(secondary)


def test_the_same_failure_twice_in_a_session_reuses_the_first_rule(
    home: Path, tmp_path: Path
) -> None:
    model = submitting()
    engine = Tether(home=home, llm=model)
    context = failing_context(tmp_path / "work")
    rule = engine.explore(context)
    assert rule is not None and rule.ephemeral
    assert engine.explore(context) is rule
    assert len(model.requests) == 2  # the second time cost nothing
    record = read_observations(home / "observations.jsonl")[-1]
    assert record["kind"] == "exploration" and record["outcome"] == "unverified"


def test_session_limit_stops_exploring(home: Path, tmp_path: Path) -> None:
    (home / "config.yaml").write_text("engine:\n  session_limit: 1\n")
    engine = Tether(
        home=home, llm=ScriptedModel([reply(tool_calls=[call("give_up", reason="no")])])
    )
    assert engine.explore(failing_context(tmp_path / "a")) is None
    with pytest.raises(ExplorationError, match="session_limit reached"):
        engine.explore(failing_context(tmp_path / "b", "other.ini"))


def test_no_model_configured_is_said_once_and_the_failure_passes_through(
    home: Path, tmp_path: Path
) -> None:
    events: list[RecoveryEvent] = []
    result, outcome = run(Tether(home=home, on_event=events.append), tmp_path / "work")
    assert result.exit_code == 1
    skipped = [e for e in events if e.kind == "explore_skipped"]
    assert len(skipped) == 1 and "no model is configured" in skipped[0].data["reason"]
    assert "not explored: no model is configured" in outcome.reason


def test_a_model_without_its_key_is_not_called(home: Path, tmp_path: Path) -> None:
    (home / "config.yaml").write_text("engine:\n  llm: anthropic/claude-sonnet-4-20250514\n")
    engine = Tether(home=home)
    with pytest.raises(ExplorationError, match="ANTHROPIC_API_KEY"):
        engine.explore(failing_context(tmp_path / "work"))


def test_use_existing_rule_runs_a_rule_from_another_collection(home: Path, tmp_path: Path) -> None:
    (home / "rules").mkdir()
    (home / "rules" / "cfg.rule.yaml").write_text(RULE.replace("name: missing-config-file", "name: cfg")
                                                   + "collection: nightly\n")  # fmt: skip
    (home / "actions").mkdir()
    (home / "actions" / "cfg.py").write_text(CODE)
    model = ScriptedModel([reply(tool_calls=[call("use_existing_rule", name="cfg")])])
    result, outcome = run(Tether(home=home, llm=model), tmp_path / "work")
    assert result.exit_code == 0 and [a.rule for a in outcome.attempts] == ["cfg"]
    assert sorted(p.name for p in (home / "rules").iterdir()) == ["cfg.rule.yaml"]


def test_done_after_fixing_it_directly_reruns_the_job_and_keeps_no_rule(
    home: Path, tmp_path: Path
) -> None:
    model = ScriptedModel([
        reply(tool_calls=[call("write_file", path="conf/app.ini", content="[app]\n")]),
        reply(tool_calls=[call("done", summary="created conf/app.ini")]),
    ])  # fmt: skip
    result, outcome = run(Tether(home=home, llm=model), tmp_path / "work")
    assert result.exit_code == 0 and outcome.reason == "recovered by the explorer directly"
    assert not (home / "rules").exists()


def test_file_tools_cannot_write_rules_or_actions_while_exploring(tmp_path: Path) -> None:
    work = tmp_path / "work"
    home = work / ".tether"
    rule_path = ".tether/rules/sneaky.rule.yaml"
    model = ScriptedModel([
        reply(tool_calls=[call("write_file", path=rule_path, content=RULE)]),
        reply(tool_calls=[call("write_file", path=".tether/actions/sneaky.py", content=CODE)]),
        reply(tool_calls=[call("give_up", reason="cannot write rules directly")]),
    ])  # fmt: skip
    result, _ = run(Tether(home=home, llm=model), work)
    assert result.exit_code == 1
    assert not (work / rule_path).exists() and not (home / "actions" / "sneaky.py").exists()
    assert "read-only while exploring" in prompt_of(model, 1)


def test_explorable_mark_needs_tether_explore(home: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    model = submitting(RULE.replace("fact: stderr", "fact: error"))
    engine = Tether(home=home, llm=model)

    @engine.mark(explorable=True)
    def job() -> str:
        path = Path("conf/app.ini")
        if not path.exists():
            raise RuntimeError(f"cannot open config file '{path}'")
        return "ran"

    monkeypatch.delenv("TETHER_EXPLORE", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="cannot open config file"):
            job()
    assert any("TETHER_EXPLORE=1" in str(w.message) for w in caught)
    assert model.requests == []

    monkeypatch.setenv("TETHER_EXPLORE", "1")
    assert job() == "ran"
    assert (home / "rules" / "missing-config-file.rule.yaml").exists()


def test_an_async_marked_function_explores_too(home: Path, tmp_path: Path, monkeypatch) -> None:
    import asyncio

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TETHER_EXPLORE", "1")
    engine = Tether(home=home, llm=submitting(RULE.replace("fact: stderr", "fact: error")))

    @engine.mark(explorable=True)
    async def job() -> str:
        if not Path("conf/app.ini").exists():
            raise RuntimeError("cannot open config file 'conf/app.ini'")
        return "ran"

    assert asyncio.run(job()) == "ran"


def test_explorer_events_carry_the_budget_left(home: Path, tmp_path: Path) -> None:
    events: list[RecoveryEvent] = []
    run(Tether(home=home, llm=submitting(), on_event=events.append), tmp_path / "work")
    kinds = [e.kind for e in events]
    assert kinds[:1] == ["explore_start"] and "explore_end" in kinds and "promoted" in kinds
    calls = [e.data for e in events if e.kind == "explore" and e.data["event"] == "tool.call"]
    assert [c["tool"] for c in calls] == ["read_file", "submit_rule"]
    assert [c["calls_made"] for c in calls] == [1, 2]
    assert calls[1]["tokens_used"] == 1210 and calls[1]["token_limit"] == 100_000


def test_a_sync_marked_function_called_from_async_code_still_explores(
    home: Path, tmp_path: Path, monkeypatch
) -> None:
    import asyncio

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TETHER_EXPLORE", "1")
    engine = Tether(home=home, llm=submitting(RULE.replace("fact: stderr", "fact: error")))

    @engine.mark(explorable=True)
    def job() -> str:
        if not Path("conf/app.ini").exists():
            raise RuntimeError("cannot open config file 'conf/app.ini'")
        return "ran"

    async def main() -> str:
        return job()

    assert asyncio.run(main()) == "ran"


TWO_STEP_JOB = """\
import sys
from pathlib import Path
if not Path("conf/app.ini").exists():
    sys.exit("fatal: cannot open config file 'conf/app.ini': No such file or directory")
if not Path("data/input.csv").exists():
    sys.exit("fatal: input data 'data/input.csv' is missing")
print("all good")
"""

DATA_RULE = """\
name: missing-input-data
when:
  - fact: stderr
    regex: "input data '(?P<path>[^']+)' is missing"
then:
  - action: create_config_file
    params: {path: "{path}"}
"""


def test_deep_recovery_promotes_on_verified_progress_and_explores_the_next_level(
    home: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "job.py").write_text(TWO_STEP_JOB)
    model = ScriptedModel([
        reply(tool_calls=[call("submit_rule", rule_yaml=RULE, action_code=CODE)]),
        reply(tool_calls=[call("submit_rule", rule_yaml=DATA_RULE)]),
    ])  # fmt: skip
    engine = Tether(home=home, llm=model)
    result, outcome = engine.run_command([sys.executable, "job.py"], cwd=work, stream=False,
                                         settings=engine.settings(explore=True))  # fmt: skip
    assert result.exit_code == 0 and result.stdout == "all good\n"
    assert [(a.rule, a.outcome, a.level) for a in outcome.attempts] == [
        ("missing-config-file", "progress", 1),
        ("missing-input-data", "success", 2),
    ]
    assert sorted(p.name for p in (home / "rules").iterdir()) == [
        "missing-config-file.rule.yaml",
        "missing-input-data.rule.yaml",
    ]
    assert "missing-config-file" in prompt_of(
        model, 1
    )  # the second exploration sees the first rule
