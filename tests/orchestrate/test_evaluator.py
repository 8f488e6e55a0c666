"""The evaluator answers through a strict schema: words, strings and doubled objects never yield met."""

from __future__ import annotations

import json

import pytest

from tether.orchestrate.evaluator import VERDICT_TOOL, Evaluator, Evidence, parse_verdict
from tether.testing import ScriptedModel, call, reply, server_error

EVIDENCE = Evidence(
    condition="the tests pass",
    claim="All tests pass now!",
    round_status="SUCCESS",
    verifier={"command": "pytest -q", "exit_code": 1, "output": "1 failed", "timed_out": False},
    diff_stat="",
    tool_results=({"tool": "read_file", "status": "ok", "content": "def add(a, b): return a - b"},),
)

# The seed's parser (a greedy ``\{.*\}`` regex, ``bool(data.get("satisfied"))``, then a word
# search for true/satisfied/yes/complete/passed) called every one of these satisfied.
SEED_FOOLERS = {
    "NOT satisfied": "NOT satisfied",
    "incomplete": "The work is incomplete.",
    "string false": '{"satisfied": "false", "reason": "tests fail"}',
    "two objects": '{"satisfied": false, "reason": "tests fail"} {"note": "retry"}',
    "not passed": "The tests have not passed yet.",
    "not true": "It is not true that the goal is met.",
    "yes in a no": "Did it work? No - the eyes of the verifier say 1 failed.",
}


@pytest.mark.parametrize("name", sorted(SEED_FOOLERS))
def test_the_seeds_seven_fooling_replies_never_yield_met(name: str) -> None:
    text = SEED_FOOLERS[name]
    model = ScriptedModel([reply(text), reply(text)])
    verdict = Evaluator(model).judge(EVIDENCE)
    assert verdict.met is False
    assert verdict.error.startswith("unusable verdict twice")
    assert verdict.calls == 2
    assert "could not be used" in model.requests[1].last_user_text


@pytest.mark.parametrize(
    "arguments",
    [
        {"met": "true", "reason": "ok", "impossible": False},
        {"met": 1, "reason": "ok", "impossible": False},
        {"met": True, "reason": "ok"},
        {"met": True, "reason": "ok", "impossible": False, "satisfied": True},
        {"met": True, "reason": "ok", "impossible": True},
        '{"met": true, "reason": "ok", "impossible": false',
    ],
)
def test_tool_arguments_off_the_schema_are_not_met(arguments: object) -> None:
    model = ScriptedModel([reply(tool_calls=[call("verdict", arguments)])] * 2)
    verdict = Evaluator(model).judge(EVIDENCE)
    assert (verdict.met, bool(verdict.error)) == (False, True)


def test_a_strict_verdict_call_is_used_and_only_the_verdict_tool_is_offered() -> None:
    model = ScriptedModel(
        [reply(tool_calls=[call("verdict", met=True, reason="pytest exit 0", impossible=False)])]
    )
    verdict = Evaluator(model).judge(EVIDENCE)
    assert (verdict.met, verdict.reason, verdict.error, verdict.calls) == (
        True,
        "pytest exit 0",
        "",
        1,
    )
    assert model.requests[0].tools == ["verdict"]
    schema = model.requests[0].tool_schemas["verdict"]
    assert schema["properties"]["met"]["type"] == "boolean"
    assert set(schema["required"]) == {"met", "reason", "impossible"}


def test_the_evidence_labels_the_workers_text_a_claim_and_shows_the_verifier() -> None:
    model = ScriptedModel(
        [reply(tool_calls=[call("verdict", met=False, reason="1 failed", impossible=False)])]
    )
    Evaluator(model).judge(EVIDENCE)
    prompt = model.requests[0].last_user_text
    assert "WORKER'S CLAIM (unverified" in prompt
    assert "VERIFIER `pytest -q` exit code 1" in prompt and "1 failed" in prompt
    assert "LAST TOOL RESULTS" in prompt and "a - b" in prompt


def test_one_correction_then_a_good_answer_counts() -> None:
    good = json.dumps({"met": False, "reason": "fails", "impossible": True})
    model = ScriptedModel([reply("I think it is satisfied"), reply(good)])
    verdict = Evaluator(model).judge(EVIDENCE)
    assert (verdict.met, verdict.impossible, verdict.calls, verdict.error) == (False, True, 2, "")


def test_a_provider_error_is_an_evaluator_error_not_an_exception() -> None:
    from tether.llm import LLM, RetryPolicy

    async def no_sleep(_: float) -> None:
        return None

    llm = LLM(ScriptedModel([server_error()] * 10), retry=RetryPolicy(attempts=1), sleep=no_sleep)
    verdict = Evaluator(llm).judge(EVIDENCE)
    assert verdict.met is False and verdict.error.startswith("evaluator call failed")


def test_parse_verdict_reads_whole_text_json_only() -> None:
    assert parse_verdict('  {"met": true, "reason": "r", "impossible": false}\n') == (
        True,
        "r",
        False,
    )
    assert isinstance(parse_verdict('Sure: {"met": true, "reason": "r", "impossible": false}'), str)
    assert VERDICT_TOOL.parameters["additionalProperties"] is False
