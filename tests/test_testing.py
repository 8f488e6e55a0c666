"""tether.testing: the scripted model users test their rules, explorers and loops with."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("pydantic_ai")

from pydantic_ai import direct
from pydantic_ai import exceptions as pai_errors
from pydantic_ai.messages import ModelRequest, ToolReturnPart, UserPromptPart

from tether.errors import ProviderRejected
from tether.llm import LLM, ToolResultMessage, UserMessage
from tether.testing import (
    ScriptedModel,
    ScriptedRequest,
    call,
    rate_limited,
    rejected,
    reply,
    server_error,
)

HI = [UserMessage("hi")]


async def _no_sleep(seconds: float) -> None:
    pass


def test_plays_the_script_in_order_and_records_requests():
    model = ScriptedModel([reply("one"), reply("two")])
    llm = LLM(model)
    assert [llm.complete(HI).text, llm.complete([UserMessage("again")]).text] == ["one", "two"]
    assert len(model.requests) == 2 and model.remaining == 0
    assert model.requests[1].last_user_text == "again"


def test_running_out_of_turns_fails_the_test_loudly():
    model = ScriptedModel([reply("only one")])
    llm = LLM(model, secondary=ScriptedModel([reply("would hide the bug")]))
    llm.complete(HI)
    with pytest.raises(AssertionError, match=r"ran out of turns \(1 scripted\)"):
        llm.complete(HI)  # not a ProviderRejected, and no fallback to the secondary


def test_usage_tuple_sets_input_output_and_cache_reads():
    llm = LLM(ScriptedModel([reply("a", usage=(100, 20)), reply("b", usage=(300, 5, 250))]))
    first, second = llm.complete(HI), llm.complete(HI)
    assert (first.usage.input_tokens, first.usage.output_tokens) == (100, 20)
    assert second.usage.cache_read_tokens == 250


def test_finish_reason_is_inferred_or_given():
    llm = LLM(ScriptedModel([
        reply("done"),
        reply(tool_calls=[call("t")]),
        reply("cut", finish_reason="length"),
    ]))  # fmt: skip
    assert [llm.complete(HI).finish_reason for _ in range(3)] == ["stop", "tool_calls", "length"]


def test_call_builds_arguments_and_unique_ids():
    a, b = call("read_file", path="x"), call("read_file", {"path": "y"})
    assert (a.arguments, b.arguments) == ({"path": "x"}, {"path": "y"})
    assert a.id != b.id


def test_bad_json_arguments_reach_the_caller_as_text():
    llm = LLM(ScriptedModel([reply(tool_calls=[call("t", '{"path": ')])]))
    assert llm.complete(HI).tool_calls[0].arguments == '{"path": '


def test_a_function_step_sees_the_request():
    def answer(request: ScriptedRequest):
        return reply(f"you said {request.last_user_text}")

    assert LLM(ScriptedModel([answer])).complete([UserMessage("ping")]).text == "you said ping"


def test_last_user_text_reads_tool_results():
    seen = []
    model = ScriptedModel([lambda r: seen.append(r.last_user_text) or reply("ok")])
    LLM(model).complete([*HI, ToolResultMessage("c1", "t", "exit 0")])
    assert seen == ["exit 0"]


def test_error_steps_raise_pydantic_ai_errors():
    assert isinstance(rate_limited(3), pai_errors.ModelRateLimitError)
    assert rate_limited(3).retry_after == 3  # type: ignore[attr-defined]
    assert isinstance(server_error(), pai_errors.ModelServerError)
    assert isinstance(server_error(503), pai_errors.ModelUnavailableError)
    assert isinstance(rejected(401), pai_errors.ModelAuthenticationError)
    assert isinstance(rejected(404), pai_errors.ModelNotFoundError)
    assert isinstance(rejected(400), pai_errors.ModelRequestRejectedError)


def test_error_steps_drive_retries_and_rejections():
    llm = LLM(
        ScriptedModel([rate_limited(1), reply("ok"), rejected(401, "bad key")]), sleep=_no_sleep
    )
    assert llm.complete(HI).attempts == 2
    with pytest.raises(ProviderRejected, match="bad key"):
        llm.complete(HI)


def test_streamed_tool_calls():
    model = ScriptedModel([reply(tool_calls=[call("grep", pattern="x"), call("ls")])])
    response = LLM(model).complete(HI, on_delta=lambda d: None)
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("grep", {"pattern": "x"}),
        ("ls", {}),
    ]


def test_name_is_scripted_or_a_given_provider_model():
    assert LLM(ScriptedModel([])).model == "scripted/scripted"
    assert LLM(ScriptedModel([], name="planner")).model == "scripted/planner"
    priced = ScriptedModel([reply("x", usage=(1_000_000, 0))], name="openai/gpt-4.1-mini")
    assert priced.name == "openai/gpt-4.1-mini"
    assert LLM(priced).complete(HI).cost_usd == pytest.approx(0.4)


def test_usable_with_pydantic_ai_directly():
    model = ScriptedModel([reply("direct")])
    request = ModelRequest(parts=[UserPromptPart("hi")])
    response = asyncio.run(direct.model_request(model.model, [request]))
    assert response.parts[0].content == "direct"  # type: ignore[union-attr]
    assert model.requests[0].messages[0].parts[0].content == "hi"
    assert not any(isinstance(p, ToolReturnPart) for p in request.parts)


def test_not_collected_by_pytest():
    assert ScriptedModel.__test__ is False


def test_requests_before_running_out_are_still_counted():
    llm = LLM(ScriptedModel([server_error()]), sleep=_no_sleep)
    with pytest.raises(AssertionError):
        llm.complete(HI)
    assert llm.usage.requests == 2
