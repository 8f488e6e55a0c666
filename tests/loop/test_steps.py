"""The steps of a run, one at a time: ``Loop.iter()``, and steps run alone on a run state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tether.loop import Loop, LoopStatus
from tether.loop.end import End
from tether.loop.steps import Act, Begin, Close, Gate, Judge, Observe, Plan, Step
from tether.testing import ScriptedModel, call, reply
from tether.tools import builtin_tools

pytest.importorskip("pydantic_ai")


async def _collect(loop: Loop) -> list[Step | End]:
    return [step async for step in loop.iter()]


def test_iter_yields_every_step_in_order_and_ends_with_the_result(tmp_path: Path) -> None:
    model = ScriptedModel([
        reply(tool_calls=[call("list_directory", path=str(tmp_path))], usage=(100, 10)),
        reply("all done", usage=(120, 5)),
    ])  # fmt: skip
    loop = Loop("look around", builtin_tools(), model, quiet=True)
    steps = asyncio.run(_collect(loop))
    kinds = [type(s) for s in steps]
    assert kinds == [Begin, Observe, Judge, Plan, Gate, Act, Close, Observe, Judge, Plan, End]
    assert [s.index for s in steps if isinstance(s, Observe)] == [1, 2]
    end = steps[-1]
    assert isinstance(end, End) and end.result.status is LoopStatus.SUCCESS
    assert end.result.text == "all done" and loop.iteration == 1


def test_a_cut_off_answer_is_one_plan_step_per_model_call(tmp_path: Path) -> None:
    model = ScriptedModel([
        reply("first half, ", finish_reason="length"),
        reply("second half"),
    ])  # fmt: skip
    steps = asyncio.run(_collect(Loop("say it", builtin_tools(), model, quiet=True)))
    plans = [s for s in steps if isinstance(s, Plan)]
    assert [(p.attempt, p.parts) for p in plans] == [(0, ()), (1, ("first half, ",))]
    end = steps[-1]
    assert isinstance(end, End) and end.result.text == "first half, second half"


def _texts(model: ScriptedModel) -> list[list[str]]:
    """What each request said (texts, tool calls and results), without ids or timestamps."""
    out = []
    for request in model.requests:
        parts = []
        for message in request.messages:
            for part in getattr(message, "parts", []):
                content = getattr(part, "content", None)
                if isinstance(content, str):
                    parts.append(content)
                elif getattr(part, "part_kind", "") == "tool-call":
                    parts.append(f"{part.tool_name}{part.args}")
        out.append(parts)
    return out


def step(n: int) -> str:
    """Take step ``n``.

    Args:
        n: the step number.
    """
    return f"step {n} done"


def _script() -> list[object]:
    return [
        *(reply(f"doing {n}", tool_calls=[call("step", n=n)], usage=(100, 10)) for n in (1, 2)),
        reply("done", usage=(100, 5)),
    ]


def test_leaving_iter_early_leaves_a_run_that_resumes_with_the_same_prompts(
    tmp_path: Path,
) -> None:
    whole_model = ScriptedModel(_script())
    whole = Loop("walk", [step], whole_model, quiet=True, policies=[]).run()
    assert whole.status is LoopStatus.SUCCESS and whole.iterations == 2

    path = tmp_path / "run.json"
    first_model = ScriptedModel(_script())
    loop = Loop("walk", [step], first_model, quiet=True, policies=[], state_path=path)

    async def until_the_second_close() -> None:
        closes = 0
        async for s in loop.iter():
            closes += isinstance(s, Close)
            if closes == 2:
                break  # this Close is not run: iteration 2 is not finished

    asyncio.run(until_the_second_close())
    assert loop.iteration == 1 and len(first_model.requests) == 2

    rest_model = ScriptedModel(_script()[1:])
    rest = Loop.resume(path, tools=[step], llm=rest_model, policies=[], quiet=True)
    assert rest.status is LoopStatus.SUCCESS and rest.iterations == 2
    # iteration 2 is planned again with the prompt it had, and the run goes on as if never stopped
    assert _texts(rest_model) == _texts(whole_model)[1:]


def test_steps_run_alone_on_a_run_state(tmp_path: Path) -> None:
    model = ScriptedModel([reply("never sent")])
    loop = Loop("g", builtin_tools(), model, quiet=True, max_iterations=2, clock=lambda: 0.0)
    state, deps = loop.run_state, loop.services

    assert asyncio.run(Observe(1).run(state, deps)) == Judge(1)
    nxt = asyncio.run(Judge(1).run(state, deps))
    assert nxt == Plan(1) and "Iteration 1 of at most 2" in str(state.messages[0])

    past = asyncio.run(Judge(3).run(state, deps))
    assert isinstance(past, End) and past.result.status is LoopStatus.BUDGET_EXHAUSTED
    assert "iterations ceiling" in past.result.reason and past.result.resumable
    assert model.requests == []


def test_plan_refuses_a_call_the_token_ceiling_cannot_hold(tmp_path: Path) -> None:
    model = ScriptedModel([reply("x")])
    goal = "fix everything " * 200  # about 1000 tokens of prompt by the estimate
    loop = Loop(goal, builtin_tools(), model, quiet=True, token_limit=500, clock=lambda: 0.0)
    state, deps = loop.run_state, loop.services
    asyncio.run(Judge(1).run(state, deps))
    end = asyncio.run(Plan(1).run(state, deps))
    assert isinstance(end, End) and end.result.status is LoopStatus.BUDGET_EXHAUSTED
    assert "input tokens" in end.result.reason and model.requests == []


def test_a_summarizer_with_the_old_spelling_still_works_with_a_warning(tmp_path: Path) -> None:
    from tether.llm.types import Usage
    from tether.loop.summary import DeterministicSummarizer, summarise_line, summarize_line

    class OldSpelling:
        version = "old-1"

        async def summarise(self, index: int, messages: list[object]) -> tuple[str, Usage, None]:
            return f"- iteration {index}: old", Usage(), None

    model = ScriptedModel([reply(tool_calls=[call("step", n=n)]) for n in (1, 2, 3)])
    loop = Loop("walk", [step], model, quiet=True, policies=[], max_iterations=3,
                verbatim_iterations=1, summarizer=OldSpelling())  # fmt: skip
    with pytest.warns(DeprecationWarning, match="OldSpelling.summarise is deprecated"):
        loop.run()
    assert loop.summaries == ["- iteration 1: old", "- iteration 2: old"]
    assert loop.summarised == loop.summarized == 2
    assert summarise_line is summarize_line
    with pytest.warns(DeprecationWarning, match="call summarize"):
        line, _, _ = asyncio.run(DeterministicSummarizer().summarise(1, []))
    assert line == "- iteration 1: no tool call"
