"""LLM: retries, backoff, fallback, cool-down and accounting, on the scripted model.

Time is injected (``sleep`` records, ``clock`` is a counter, ``rng`` is fixed), so
the exact waits are asserted and nothing sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

pytest.importorskip("pydantic_ai")

from tether.errors import ProviderRejected, ProviderUnavailable
from tether.llm import LLM, RetryPolicy, ToolDefinition, UserMessage
from tether.llm.pricing import Price, PriceTable
from tether.testing import ScriptedModel, call, rate_limited, rejected, reply, server_error

HI = [UserMessage("hi")]


class Clock:
    """Monotonic seconds that only move when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make(sleeps: list[float], clock: Clock) -> Callable[..., LLM]:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def build(model: Any, **kwargs: Any) -> LLM:
        kwargs.setdefault("sleep", sleep)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("rng", lambda: 0.5)  # jitter factor exactly 1
        return LLM(model, **kwargs)

    return build


# -- RetryPolicy -------------------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap():
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=5.0, jitter=0.0)
    assert [policy.wait_s(n, None, lambda: 0.5) for n in range(1, 6)] == [1, 2, 4, 5, 5]


@pytest.mark.parametrize(("r", "factor"), [(0.0, 0.75), (0.5, 1.0), (0.999999, 1.25)])
def test_jitter_scales_the_wait_within_its_bounds(r, factor):
    policy = RetryPolicy(backoff_s=2.0, jitter=0.25)
    assert policy.wait_s(1, None, lambda: r) == pytest.approx(2.0 * factor, rel=1e-5)


def test_jitter_never_pushes_a_wait_past_max_backoff():
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=4.0, jitter=0.5)
    waits = [policy.wait_s(n, None, lambda: 0.99) for n in range(1, 8)]
    assert max(waits) <= 4.0


def test_retry_after_is_a_floor_not_a_ceiling():
    policy = RetryPolicy(backoff_s=1.0, jitter=0.0)
    assert policy.wait_s(1, 7.5, lambda: 0.5) == 7.5
    assert policy.wait_s(4, 0.1, lambda: 0.5) == 8.0  # the backoff is longer than asked


# -- retries -----------------------------------------------------------------------------------------


def test_transient_errors_are_retried_with_exact_waits(make, sleeps):
    model = ScriptedModel([server_error(500), server_error(503), rate_limited(), reply("ok")])
    llm = make(model, retry=RetryPolicy(attempts=4, backoff_s=0.5, jitter=0.0))
    response = llm.complete(HI)
    assert response.text == "ok"
    assert sleeps == [0.5, 1.0, 2.0]
    assert response.attempts == 4 and response.usage.requests == 4
    assert len(model.requests) == 4


def test_jitter_comes_from_the_injected_rng(make, sleeps):
    values = iter([0.0, 1.0])
    model = ScriptedModel([server_error(), server_error(), reply("ok")])
    llm = make(model, rng=lambda: next(values), retry=RetryPolicy(backoff_s=1.0, jitter=0.2))
    llm.complete(HI)
    assert sleeps == pytest.approx([0.8, 2.4])


def test_retry_after_is_honoured(make, sleeps):
    llm = make(ScriptedModel([rate_limited(retry_after=12), reply("ok")]))
    assert llm.complete(HI).text == "ok"
    assert sleeps == [12]


def test_attempts_bound_the_retries(make, sleeps):
    model = ScriptedModel([server_error()] * 5)
    llm = make(model, retry=RetryPolicy(attempts=3, backoff_s=1.0, jitter=0.0))
    with pytest.raises(ProviderUnavailable) as info:
        llm.complete(HI)
    assert info.value.attempts == 3
    assert sleeps == [1.0, 2.0]
    assert model.remaining == 2
    assert "gave up after 3 attempts" in str(info.value)


def test_max_wait_bounds_the_seconds_spent_waiting(make, sleeps):
    model = ScriptedModel([server_error()] * 10)
    llm = make(model, retry=RetryPolicy(attempts=10, backoff_s=4.0, max_wait_s=13.0, jitter=0.0))
    with pytest.raises(ProviderUnavailable):
        llm.complete(HI)
    assert sleeps == [4.0, 8.0]  # the next (16) would pass 13 s in total
    assert sum(sleeps) <= 13.0
    assert len(model.requests) == 3


def test_retry_after_longer_than_max_wait_is_not_waited(make, sleeps):
    model = ScriptedModel([rate_limited(retry_after=600)])
    llm = make(model, retry=RetryPolicy(max_wait_s=60))
    with pytest.raises(ProviderUnavailable):
        llm.complete(HI)
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "kind"), [(400, "bad_request"), (401, "auth"), (404, "not_found")]
)
def test_rejections_are_never_retried(status, kind, make, sleeps):
    model = ScriptedModel([rejected(status), reply("never")])
    with pytest.raises(ProviderRejected) as info:
        make(model).complete(HI)
    assert (info.value.status, info.value.kind) == (status, kind)
    assert sleeps == [] and model.remaining == 1
    assert "not retried" in str(info.value)


# -- fallback ------------------------------------------------------------------------------------------


def test_rejected_primary_falls_back_to_the_secondary(make, sleeps):
    primary = ScriptedModel([rejected(400)], name="primary")
    secondary = ScriptedModel([reply("from b")], name="secondary")
    response = make(primary, secondary=secondary).complete(HI)
    assert (response.text, response.model) == ("from b", "scripted/secondary")
    assert sleeps == []
    assert response.attempts == 2


def test_exhausted_primary_falls_back_to_the_secondary(make, sleeps):
    primary = ScriptedModel([server_error()] * 2, name="primary")
    secondary = ScriptedModel([reply("from b")], name="secondary")
    llm = make(primary, secondary=secondary, retry=RetryPolicy(attempts=2, jitter=0.0))
    response = llm.complete(HI)
    assert response.text == "from b"
    assert sleeps == [1.0]
    assert response.attempts == 3
    assert llm.usage.requests == 3


def test_both_failing_raises_the_secondarys_error(make):
    primary = ScriptedModel([rejected(401)], name="primary")
    secondary = ScriptedModel([rejected(400, "bad tool schema")], name="secondary")
    with pytest.raises(ProviderRejected) as info:
        make(primary, secondary=secondary).complete(HI)
    assert info.value.model == "secondary"
    assert info.value.kind == "bad_request"


# -- cool-down ---------------------------------------------------------------------------------------


def test_failing_model_cools_down_then_is_tried_again(make, clock):
    primary = ScriptedModel([server_error()] * 4 + [reply("primary back")], name="primary")
    secondary = ScriptedModel([reply("b1"), reply("b2"), reply("b3")], name="secondary")
    llm = make(primary, secondary=secondary, failure_threshold=2, cooldown_s=60,
               retry=RetryPolicy(attempts=2))  # fmt: skip

    assert llm.complete(HI).text == "b1"  # primary: 2 attempts, 1st failed call
    assert llm.complete(HI).text == "b2"  # primary: 2 attempts, 2nd failed call -> open
    assert len(primary.requests) == 4

    clock.now += 30
    reply3 = llm.complete(HI)
    assert reply3.text == "b3"
    assert len(primary.requests) == 4  # skipped while cooling down
    assert reply3.attempts == 1

    clock.now += 31
    assert llm.complete(HI).text == "primary back"  # retried after the cool-down
    assert len(primary.requests) == 5


def test_cooling_down_without_secondary_is_unavailable_without_a_request(make, clock):
    model = ScriptedModel([server_error()] * 2 + [reply("later")])
    llm = make(model, failure_threshold=1, cooldown_s=10, retry=RetryPolicy(attempts=2))
    with pytest.raises(ProviderUnavailable):
        llm.complete(HI)
    with pytest.raises(ProviderUnavailable, match="cooling down") as info:
        llm.complete(HI)
    assert info.value.attempts == 0
    assert len(model.requests) == 2
    clock.now += 11
    assert llm.complete(HI).text == "later"


def test_a_success_resets_the_failure_count(make, clock):
    model = ScriptedModel(
        [server_error(), reply("a"), server_error(), reply("b"), server_error(), reply("c")]
    )
    llm = make(model, failure_threshold=1, retry=RetryPolicy(attempts=2))
    assert [llm.complete(HI).text for _ in range(3)] == ["a", "b", "c"]
    assert llm.slots[0].open_until == 0.0


def test_rejections_do_not_trip_the_breaker(make):
    model = ScriptedModel([rejected(400), rejected(400), reply("fine")])
    llm = make(model, failure_threshold=1)
    for _ in range(2):
        with pytest.raises(ProviderRejected):
            llm.complete(HI)
    assert llm.complete(HI).text == "fine"


# -- usage and cost ----------------------------------------------------------------------------------


def _table(**prices: Price) -> PriceTable:
    return PriceTable(
        {k.replace("__", "/").replace("_", "-"): v for k, v in prices.items()},
        as_of=date(2026, 1, 1),
        today=date(2026, 1, 2),
    )


def test_usage_and_cost_are_accounted_for_a_known_model(make):
    model = ScriptedModel(
        [reply("a", usage=(1000, 200)), reply("b", usage=(3000, 400, 2000))],
        name="openai/gpt-4.1-mini",
    )
    prices = PriceTable.bundled(today=date(2026, 11, 22))
    llm = make(model, prices=prices)
    first, second = llm.complete(HI), llm.complete(HI)

    assert first.model == "openai/gpt-4.1-mini"
    assert first.cost_usd == pytest.approx((1000 * 0.4 + 200 * 1.6) / 1e6)
    # 2000 of the 3000 input tokens were cache reads, priced at the cache-read rate
    assert second.cost_usd == pytest.approx((1000 * 0.4 + 2000 * 0.1 + 400 * 1.6) / 1e6)
    assert second.usage.cache_read_tokens == 2000
    assert llm.usage.input_tokens == 4000 and llm.usage.output_tokens == 600
    assert llm.usage.requests == 2
    assert llm.cost_usd == pytest.approx(first.cost_usd + second.cost_usd)
    assert llm.unpriced_calls == 0


def test_unknown_model_has_no_cost_but_counts_tokens(make):
    llm = make(ScriptedModel([reply("a", usage=(50, 5))], name="mystery"))
    response = llm.complete(HI)
    assert response.cost_usd is None
    assert llm.unpriced_calls == 1 and llm.cost_usd == 0.0
    assert llm.usage.total_tokens == 55


def test_failed_attempts_count_as_requests_in_the_usage(make):
    llm = make(ScriptedModel([server_error(), reply("ok", usage=(10, 2))]))
    response = llm.complete(HI)
    assert response.usage.requests == 2
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 2)


def test_failed_calls_still_count_their_requests(make):
    llm = make(ScriptedModel([server_error()] * 2), retry=RetryPolicy(attempts=2))
    with pytest.raises(ProviderUnavailable):
        llm.complete(HI)
    assert llm.usage.requests == 2 and llm.usage.total_tokens == 0


def test_cost_of_a_fallback_is_priced_at_the_secondary(make):
    table = _table(a__cheap=Price(1.0, 1.0), b__dear=Price(100.0, 100.0))
    primary = ScriptedModel([rejected(400)], name="a/cheap")
    secondary = ScriptedModel([reply("x", usage=(10_000, 0))], name="b/dear")
    response = make(primary, secondary=secondary, prices=table).complete(HI)
    assert response.cost_usd == pytest.approx(1.0)


# -- what the model was sent -------------------------------------------------------------------------


def test_settings_and_tools_reach_the_model(make):
    model = ScriptedModel([reply(tool_calls=[call("grep", pattern="TODO")])])
    tool = ToolDefinition(
        "grep", "Search.", {"type": "object", "properties": {"pattern": {"type": "string"}}}
    )
    response = make(model).complete(HI, [tool], max_tokens=77, temperature=0.1)
    (request,) = model.requests
    assert (request.max_tokens, request.temperature) == (77, 0.1)
    assert request.tools == ["grep"]
    assert request.tool_schemas["grep"]["properties"] == {"pattern": {"type": "string"}}
    assert response.tool_calls[0].arguments == {"pattern": "TODO"}
    assert response.finish_reason == "tool_calls"


def test_streaming_calls_on_delta_in_order(make):
    deltas: list[str] = []
    response = make(ScriptedModel([reply("one two three")])).complete(HI, on_delta=deltas.append)
    assert deltas == ["one ", "two ", "three"]
    assert response.text == "one two three"


def test_acomplete_and_complete_share_accounting(make):
    llm = make(ScriptedModel([reply("a", usage=(1, 1)), reply("b", usage=(2, 2))]))
    assert asyncio.run(llm.acomplete(HI)).text == "a"
    assert llm.complete(HI).text == "b"
    assert llm.usage.total_tokens == 6
    llm.close()
    llm.close()  # idempotent


def test_repr_names_the_models(make):
    llm = make(ScriptedModel([], name="a"), secondary=ScriptedModel([], name="b"))
    assert repr(llm) == "LLM(scripted/a -> scripted/b)"
    assert llm.model == "scripted/a"


def test_a_bare_function_model_is_accepted(make):
    from pydantic_ai.messages import ModelResponse, TextPart
    from pydantic_ai.models.function import FunctionModel

    llm = make(FunctionModel(lambda m, i: ModelResponse([TextPart("raw")]), model_name="fm"))
    assert llm.complete(HI).text == "raw"


def test_a_non_model_is_a_type_error():
    with pytest.raises(TypeError, match="provider/model"):
        LLM(42)


def test_a_stream_that_breaks_after_delivering_text_is_not_retried_or_failed_over() -> None:
    from pydantic_ai.models.function import FunctionModel

    hits: list[int] = []

    async def broken(messages: Any, info: Any) -> Any:
        hits.append(1)
        yield "partial "
        raise rate_limited(1.0)

    secondary = ScriptedModel([reply("from the secondary")])
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    llm = LLM(FunctionModel(stream_function=broken), secondary=secondary, sleep=sleep)
    seen: list[str] = []
    with pytest.raises(ProviderUnavailable, match="not retried"):
        llm.complete([UserMessage("hi")], on_delta=seen.append)
    assert seen == ["partial "]  # delivered once, never repeated
    assert hits == [1] and waits == [] and secondary.requests == []


def test_without_the_llm_extra_the_first_call_says_what_to_install() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pydantic_ai'] = None\n"  # as if the extra were not installed
        "from tether.llm import LLM, UserMessage\n"
        "from tether.errors import ProviderMissing\n"
        "llm = LLM('anthropic/claude-sonnet-4', api_key='k')\n"
        "try:\n    llm.complete([UserMessage('x')])\n"
        "except ProviderMissing as e:\n    print(e.extra, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("llm ") and "pip install 'tether[llm]'" in out.stdout


def test_secondary_only_is_a_client_of_the_secondary_alone() -> None:
    primary, secondary = (
        ScriptedModel([reply("p")], name="p"),
        ScriptedModel([reply("s")], name="s"),
    )
    llm = LLM(primary, secondary=secondary)
    alone = llm.secondary_only()
    assert alone is not None and alone.model.endswith("/s")
    assert alone.complete([UserMessage("hi")]).text == "s"
    assert primary.requests == []
    assert LLM(primary).secondary_only() is None
