"""Bad input from the model or its provider: every exploration ends with a clear reason in the
trace and the observations, the user's failure comes back unchanged, and nothing half-written
is left under the home."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.explore.jobs import CODE, RULE, config_job
from tether import Tether
from tether.store.observations import read_observations
from tether.testing import ScriptedModel, call, rejected, reply

GIVE_UP = reply(tool_calls=[call("give_up", reason="could not get a rule accepted")])


def submit(rule: str = RULE, code: str | None = CODE) -> Any:
    return reply(tool_calls=[call("submit_rule", rule_yaml=rule, action_code=code)])


def explore(
    home: Path, work: Path, script: list[Any], config: str = ""
) -> tuple[Any, dict[str, Any], str]:
    """Run the real failing job with exploration; returns (result, last observation, trace text)."""
    if config:
        (home / "config.yaml").write_text(config)
    engine = Tether(home=home, llm=ScriptedModel(script))
    result, _ = engine.run_command(config_job(work), cwd=work, stream=False,
                                   settings=engine.settings(explore=True))  # fmt: skip
    record = [
        r for r in read_observations(home / "observations.jsonl") if r.get("kind") != "unmatched"
    ][-1]
    trace = "\n".join(p.read_text() for p in sorted((home / "traces").glob("explore-*.jsonl")))
    return result, record, trace


def assert_unchanged_and_clean(result: Any, home: Path) -> None:
    assert result.exit_code == 1
    assert (
        result.stderr
        == "fatal: cannot open config file 'conf/app.ini': No such file or directory\n"
    )
    assert not (home / "rules").exists() and not (home / "actions").exists()
    leftovers = [p for p in home.rglob("*") if p.name.endswith(".tmp") or p.suffix == ".py"]
    assert leftovers == []


def tool_errors(trace: str) -> list[str]:
    events = [json.loads(line) for line in trace.splitlines()]
    return [e["content"] for e in events if e["event"] == "tool.result" and e["status"] != "ok"]


@pytest.mark.parametrize(
    ("submission", "words"),
    [
        (submit("name: broken\nwhen: [\n  - fact: stderr\n"), "yaml check failed: malformed YAML"),
        (submit(RULE, "def create_config_file(path:\n"), "code check failed"),
        (submit(RULE, "import tether_missing_dependency_xyz\n"), "No module named"),
        (
            submit(
                'name: everything\nwhen:\n  - {fact: stderr, regex: ".*"}\n  - {fact: stdout, regex: ""}\n'
                "then: [{action: create_config_file, params: {path: x}}]\n"
            ),
            "too_broad check failed",
        ),
        (submit(RULE.replace("[^']+)'", "[^']+)(?<!x)'")), "regex check failed"),
    ],
)
def test_a_bad_submission_goes_back_to_the_model_and_is_never_kept(
    home: Path, tmp_path: Path, submission: Any, words: str
) -> None:
    result, record, trace = explore(home, tmp_path / "work", [submission, GIVE_UP])
    assert_unchanged_and_clean(result, home)
    assert any(words in e for e in tool_errors(trace)), tool_errors(trace)
    assert record["kind"] == "exploration" and record["outcome"] == "failure"
    assert (
        record["exploration"] == "gave_up" and record["reason"] == "could not get a rule accepted"
    )
    assert any(words in r for r in record["rejections"])


def test_code_writing_outside_the_workspace_is_caught_and_writes_nothing(
    home: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside" / "owned.txt"
    outside.parent.mkdir()
    code = CODE + f"\nopen({str(outside)!r}, 'w').write('x')\n"
    result, record, trace = explore(home, tmp_path / "work", [submit(RULE, code), GIVE_UP])
    assert_unchanged_and_clean(result, home)
    assert not outside.exists() and record["exploration"] == "gave_up"
    assert any("refused" in e and "owned.txt" in e for e in tool_errors(trace))


def test_a_model_that_never_signals_stops_at_the_tool_call_budget(
    home: Path, tmp_path: Path
) -> None:
    script = [reply(tool_calls=[call("list_directory", path=p)]) for p in (".", "..", "/", "/tmp")]
    config = "engine:\n  max_tool_calls_per_session: 3\n"
    result, record, trace = explore(home, tmp_path / "work", script, config)
    assert_unchanged_and_clean(result, home)
    assert record["exploration"] == "failed" and record["status"] == "BUDGET_EXHAUSTED"
    assert "tool-call ceiling reached (3 of 3)" in record["reason"]
    assert '"event": "loop.end"' in trace and "tool-call ceiling reached" in trace


def test_a_model_that_only_talks_ends_without_a_rule(home: Path, tmp_path: Path) -> None:
    result, record, _ = explore(home, tmp_path / "work", [reply("I think the config is missing.")])
    assert_unchanged_and_clean(result, home)
    assert "without calling a signal tool" in record["reason"]


def test_the_token_ceiling_holds(home: Path, tmp_path: Path) -> None:
    script = [reply(tool_calls=[call("list_directory", path=".")], usage=(2000, 100))] * 3
    config = "engine:\n  max_tokens_per_session: 3000\n"
    result, record, _ = explore(home, tmp_path / "work", script, config)
    assert_unchanged_and_clean(result, home)
    assert record["status"] == "BUDGET_EXHAUSTED" and "token ceiling" in record["reason"]
    assert record["input_tokens"] + record["output_tokens"] <= 3000 + 2100


def test_a_provider_failing_mid_exploration_ends_it_with_the_reason(
    home: Path, tmp_path: Path
) -> None:
    script = [
        reply(tool_calls=[call("read_file", path="job.py")]),
        rejected(400, "context too long"),
    ]
    result, record, trace = explore(home, tmp_path / "work", script)
    assert_unchanged_and_clean(result, home)
    assert record["status"] == "ERROR" and "model call failed" in record["reason"]
    assert "context too long" in record["reason"]
    assert '"status": "ERROR"' in trace


def test_an_action_that_raises_during_verification_is_rejected(home: Path, tmp_path: Path) -> None:
    code = CODE.replace(
        "    target = Path(path)", '    raise PermissionError("read-only file system")'
    )
    result, record, _ = explore(home, tmp_path / "work", [submit(RULE, code)])
    assert_unchanged_and_clean(result, home)
    assert record["outcome"] == "action_error" and record["llm"]["outcome"] == "failure"
    assert "read-only file system" in record["llm"]["rejection"]
