"""The ceilings object, ``Loop.charge()`` (work done elsewhere) and ``Loop.remaining()``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tether.llm.types import Usage
from tether.loop import Loop, LoopStatus
from tether.loop.ceilings import Ceilings, Remaining
from tether.loop.run_state import RunState
from tether.testing import ScriptedModel, call, reply
from tether.tools import builtin_tools

pytest.importorskip("pydantic_ai")


def _spent(input_tokens: int = 0, cost_usd: float | None = 0.0, calls: int = 0) -> RunState:
    state = RunState(usage=Usage(input_tokens=input_tokens), cost_usd=cost_usd)
    state.tool_calls_made = calls
    return state


def test_each_ceiling_must_be_positive_and_is_named() -> None:
    for name in ("max_iterations", "token_limit", "wall_clock_s", "max_tokens_per_call"):
        with pytest.raises(ValueError, match=name):
            Ceilings(**{name: 0})
    with pytest.raises(ValueError, match="max_tool_calls"):
        Ceilings(max_tool_calls=0)


def test_before_a_call_the_input_estimate_counts_and_max_tokens_is_clamped() -> None:
    ceilings = Ceilings(token_limit=1000, max_tokens_per_call=4096)
    assert ceilings.before_call(_spent(600), estimate=300) == (100, None)
    max_tokens, why = ceilings.before_call(_spent(600), estimate=390)
    assert max_tokens == 0 and why is not None and "390 input tokens" in why


def test_a_usd_ceiling_clamps_output_to_the_money_left() -> None:
    price = SimpleNamespace(input=1.0, output=10.0)  # USD per million tokens
    ceilings = Ceilings(cost_limit_usd=0.01, max_tokens_per_call=4096)
    max_tokens, why = ceilings.before_call(_spent(cost_usd=0.0), estimate=1000, price=price)
    assert why is None and max_tokens == 900  # (0.01 - 0.001) USD at 10 USD per million
    _, why = ceilings.before_call(_spent(cost_usd=0.0095), estimate=1000, price=price)
    assert why is not None and "USD ceiling" in why


def test_calls_past_the_tool_call_ceiling_are_refused_but_skipped_ones_are_not_counted() -> None:
    calls = [call("a"), call("b"), call("c")]
    ceilings = Ceilings(max_tool_calls=3)
    refused = ceilings.tool_calls_refused(_spent(calls=2), calls, skip={calls[0].id})
    assert list(refused) == [calls[2].id] and "c was not run" in refused[calls[2].id]
    assert Ceilings().tool_calls_refused(_spent(calls=99), calls, skip=set()) == {}


def test_safe_points_check_wall_clock_then_spending() -> None:
    ceilings = Ceilings(wall_clock_s=10, token_limit=100, max_tool_calls=2)
    assert ceilings.at_safe_point(_spent(), now=5.0) is None
    assert "wall-clock" in str(ceilings.at_safe_point(_spent(), now=10.0))
    assert "token ceiling" in str(ceilings.at_safe_point(_spent(100), now=0.0))
    assert "tool-call ceiling" in str(ceilings.after_usage(_spent(calls=2)))
    assert ceilings.iterations_done(20) is None and ceilings.iterations_done(21) is not None


def test_extending_adds_to_the_ceilings_and_refuses_unknown_keys() -> None:
    more = Ceilings(max_iterations=5).extended({"max_iterations": 3, "cost_limit_usd": 0.5})
    assert (more.max_iterations, more.cost_limit_usd) == (8, 0.5)
    with pytest.raises(ValueError, match="unknown ceiling 'verbatim'"):
        Ceilings().extended({"verbatim": 1})
    with pytest.raises(ValueError, match="must not be negative"):
        Ceilings().extended({"token_limit": -1})


def test_remaining_before_during_and_after_a_run(tmp_path: Path) -> None:
    now = [100.0]
    model = ScriptedModel([
        reply(tool_calls=[call("list_directory", path=str(tmp_path))], usage=(100, 10)),
        reply("done", usage=(50, 5)),
    ])  # fmt: skip
    loop = Loop(
        "look", builtin_tools(), model, quiet=True, token_limit=1000, wall_clock_s=60,
        max_iterations=4, clock=lambda: now[0],
    )  # fmt: skip
    assert loop.remaining() == Remaining(iterations=4, tokens=1000, cost_usd=None, wall_clock_s=60)
    seen: list[Remaining] = []

    def watch(event: dict[str, object]) -> None:
        if event["event"] == "tool.call":
            now[0] += 20  # the tool takes 20 s of the injected clock
            seen.append(loop.remaining())

    loop.on_event = watch
    result = loop.run()
    assert result.status is LoopStatus.SUCCESS
    assert seen == [Remaining(iterations=4, tokens=890, cost_usd=None, wall_clock_s=40.0)]
    after = loop.remaining()
    assert after == Remaining(iterations=3, tokens=835, cost_usd=None, wall_clock_s=40.0)
    now[0] += 1000  # between sessions the wall clock stands still
    assert loop.remaining().wall_clock_s == 40.0


def test_remaining_usd_is_the_limit_less_what_was_spent_and_charged() -> None:
    loop = Loop("g", builtin_tools(), ScriptedModel([]), quiet=True, cost_limit_usd=1.0)
    loop.charge(cost_usd=0.25, input_tokens=10, output_tokens=5)
    left = loop.remaining()
    assert left.cost_usd == pytest.approx(0.75) and left.tokens == 500_000 - 15


def test_charge_refuses_negative_amounts() -> None:
    loop = Loop("g", builtin_tools(), ScriptedModel([]), quiet=True)
    with pytest.raises(ValueError, match="input_tokens=-1"):
        loop.charge(input_tokens=-1)


def test_work_charged_by_a_tool_is_seen_by_the_next_ceiling_check(tmp_path: Path) -> None:
    holder: list[Loop] = []

    def delegate(task: str) -> str:
        """Hand the task to a helper (its tokens are charged to this run)."""
        holder[0].charge(input_tokens=4000, output_tokens=500, cost_usd=0.0)
        return f"helper finished {task}"

    model = ScriptedModel([
        reply(tool_calls=[call("delegate", task="t1")], usage=(100, 10)),
        reply("never asked"),
    ])  # fmt: skip
    path = tmp_path / "run.json"
    loop = Loop("get it done", [delegate], model, token_limit=2000, quiet=True, state_path=path)
    holder.append(loop)
    result = loop.run()
    assert result.status is LoopStatus.BUDGET_EXHAUSTED and "token ceiling" in result.reason
    assert len(model.requests) == 1  # stopped before the second model call
    assert (result.usage.input_tokens, result.usage.output_tokens) == (4100, 510)
    saved = Loop.load(path, tools=[delegate], llm=ScriptedModel([]))
    assert saved.usage.total_tokens == 4610  # the charge was saved with the run
