"""Saved state and resume: snapshot + journal on real files, kill -9 in a real subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from tether.llm.types import Message, Usage
from tether.loop import (
    ArtifactDriftError,
    Loop,
    LoopStatus,
    SchemaChangedError,
    StateCorrupt,
    StateError,
    StateLocked,
    StateVersionError,
)
from tether.loop.state import StateFile
from tether.loop.summary import summarise_line
from tether.testing import ScriptedModel, call, reply

pytest.importorskip("pydantic_ai")


def step(n: int) -> str:
    """Take step ``n``.

    Args:
        n: the step number.
    """
    return f"step {n} done"


def _script(first: int, count: int) -> list[Any]:
    return [
        reply(f"doing {n}", tool_calls=[call("step", n=n)], usage=(100, 10))
        for n in range(first, first + count)
    ]


def _prompts(model: ScriptedModel) -> list[str]:
    return [repr(r.messages[1:]) for r in model.requests]  # everything after the system prompt


def _texts(model: ScriptedModel) -> list[list[str]]:
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


def test_resume_sends_exactly_the_prompts_an_uninterrupted_run_sends(tmp_path: Path) -> None:
    straight = ScriptedModel(_script(1, 7))
    whole = Loop(
        "walk", [step], straight, max_iterations=7, verbatim_iterations=2, quiet=True
    ).run()
    assert whole.status is LoopStatus.BUDGET_EXHAUSTED and whole.iterations == 7

    path = tmp_path / "run.state"
    abort = threading.Event()

    def stepping(n: int) -> str:
        """Take step ``n``.

        Args:
            n: the step number.
        """
        if n == 4:
            abort.set()
        return f"step {n} done"

    stepping.__name__ = "step"
    first = ScriptedModel(_script(1, 4))
    part = Loop("walk", [stepping], first, max_iterations=7, verbatim_iterations=2, state_path=path,
                abort=abort, quiet=True).run()  # fmt: skip
    assert part.status is LoopStatus.ABORTED and part.resumable and part.iterations == 4
    second = ScriptedModel(_script(5, 3))
    rest = Loop.resume(path, tools=[step], llm=second, quiet=True)
    assert rest.status is LoopStatus.BUDGET_EXHAUSTED and rest.iterations == 7
    assert (rest.usage.input_tokens, rest.usage.output_tokens) == (700, 70)  # totals carried over
    # iterations 5-7 got the same context (summaries of 1-4, verbatim window) as without the stop
    assert _texts(second) == _texts(straight)[4:]
    assert any("EARLIER ITERATIONS" in t for t in _texts(second)[0])


class CountingSummarizer:
    version = "deterministic-1"

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def summarize(
        self, index: int, messages: list[Message]
    ) -> tuple[str, Usage, float | None]:
        self.calls.append(index)
        return summarise_line(index, messages), Usage(), 0.0


def test_stored_summaries_are_reused_never_recomputed(tmp_path: Path) -> None:
    path = tmp_path / "run.state"
    Loop("walk", [step], ScriptedModel(_script(1, 5)), max_iterations=5, verbatim_iterations=2,
         state_path=path, quiet=True).run()  # fmt: skip
    state = StateFile(path).load()
    assert state.summarised == 3 and len(state.summaries) == 3 and len(state.history) == 2
    counting = CountingSummarizer()
    Loop.resume(path, tools=[step], llm=ScriptedModel(_script(6, 2)), extend={"max_iterations": 2},
                summarizer=counting, quiet=True)  # fmt: skip
    assert counting.calls == [4, 5]  # only the iterations that left the window after the resume


def test_another_summariser_version_is_artifact_drift(tmp_path: Path) -> None:
    path = tmp_path / "run.state"
    Loop("walk", [step], ScriptedModel(_script(1, 3)), max_iterations=3, verbatim_iterations=1,
         state_path=path, quiet=True).run()  # fmt: skip
    other = CountingSummarizer()
    other.version = "model-1:cheap"
    with pytest.raises(ArtifactDriftError) as info:
        Loop.load(path, tools=[step], llm=ScriptedModel([]), summarizer=other)
    assert info.value.stored == "deterministic-1" and "allow_artifact_drift" in str(info.value)
    loop = Loop.load(
        path, tools=[step], llm=ScriptedModel([]), summarizer=other, allow_artifact_drift=True
    )
    assert loop.summaries == StateFile(path).load().summaries  # reused as they are


def test_a_changed_tool_schema_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = tmp_path / "run.state"
    Loop(
        "walk", [step], ScriptedModel(_script(1, 2)), max_iterations=2, state_path=path, quiet=True
    ).run()

    def step2(n: int, fast: bool = False) -> str:
        """Take step ``n``.

        Args:
            n: the step number.
            fast: hurry.
        """
        return "x"

    step2.__name__ = "step"
    with pytest.raises(SchemaChangedError) as info:
        Loop.load(path, tools=[step2], llm=ScriptedModel([]))
    assert info.value.changed == ["step"] and str(path) in str(info.value)
    assert (
        Loop.load(path, tools=[step2], llm=ScriptedModel([]), allow_schema_change=True).iteration
        == 2
    )


def _run_signalled(
    tmp_path: Path, at_step: int, signal_name: str
) -> subprocess.CompletedProcess[str]:
    """Run an 8-iteration loop (state and trace under ``tmp_path``) in a real Python process
    that sends itself ``signal_name`` while running step ``at_step``; it prints status, resumable."""
    path, trace = tmp_path / "run.state", tmp_path / "trace.jsonl"
    script = tmp_path / "signalled.py"
    script.write_text(
        textwrap.dedent(f"""
        import os, signal
        from tether.loop import Loop
        from tether.testing import ScriptedModel, call, reply

        def step(n: int) -> str:
            '''Take step ``n``.

            Args:
                n: the step number.
            '''
            if n == {at_step}:
                os.kill(os.getpid(), signal.{signal_name})
            return f"step {{n}} done"

        model = ScriptedModel([reply(tool_calls=[call("step", n=n)], usage=(100, 10)) for n in range(1, 9)])
        result = Loop("walk", [step], model, max_iterations=8, state_path={str(path)!r},
                      trace_path={str(trace)!r}, quiet=True).run()
        print(result.status.value, result.resumable)
    """)
    )
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)


def test_kill_9_mid_run_leaves_a_loadable_state_that_resumes(tmp_path: Path) -> None:
    path = tmp_path / "run.state"
    done = _run_signalled(tmp_path, at_step=4, signal_name="SIGKILL")
    assert done.returncode == -signal.SIGKILL, done.stderr
    state = StateFile(path).load()
    assert state.iteration == 3 and state.status == ""  # iteration 4 never finished
    assert (
        state.usage["input_tokens"] == 400
    )  # its model call was saved: the tokens are not forgotten
    with pytest.raises(StateError, match="did not finish"):
        Loop(
            "walk", [step], ScriptedModel([]), state_path=path, quiet=True
        ).run()  # never overwritten
    result = Loop.resume(path, tools=[step], llm=ScriptedModel(_script(4, 5)), quiet=True)
    assert result.status is LoopStatus.BUDGET_EXHAUSTED and result.iterations == 8


def test_state_size_and_memory_stay_flat_over_a_long_run(tmp_path: Path) -> None:
    path = tmp_path / "run.state"
    sizes: dict[int, int] = {}

    def probe(event: dict[str, Any]) -> None:
        if event["event"] == "iteration.end" and event["iteration"] in (100, 400):
            state = StateFile(path).load()
            sizes[event["iteration"]] = len(state.to_json()) - len(json.dumps(state.seen))

    loop = Loop("walk", [step], ScriptedModel(_script(1, 400)), max_iterations=400, policies=[],
                state_path=path, on_event=probe, quiet=True)  # fmt: skip
    assert loop.run().iterations == 400
    assert len(loop.history) <= loop.verbatim_iterations and len(loop.summaries) <= 40
    # what the state holds besides the action fingerprints (bounded too) does not grow
    assert sizes[400] < 1.05 * sizes[100], sizes
    journal = path.with_name(path.name + ".journal")
    assert len(journal.read_text().splitlines()) < 2 * 64  # at most one snapshot interval of steps


def test_corrupt_truncated_and_newer_states_are_typed_errors_and_left_untouched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.state"
    Loop(
        "walk", [step], ScriptedModel(_script(1, 3)), max_iterations=3, state_path=path, quiet=True
    ).run()
    journal = path.with_name(path.name + ".journal")
    good_snapshot, good_journal = path.read_bytes(), journal.read_bytes()

    journal.write_bytes(good_journal + b'{"seq": 99, "set": {"itera')  # torn last write (kill -9)
    assert StateFile(path).load().iteration == 3

    lines = good_journal.decode().splitlines(keepends=True)
    journal.write_text(lines[0] + "garbage\n" + "".join(lines[1:]))
    with pytest.raises(StateCorrupt, match=r"journal:2: damaged"):
        Loop.load(path, tools=[step], llm=ScriptedModel([]))
    journal.write_bytes(good_journal)

    path.write_bytes(good_snapshot[: len(good_snapshot) // 2])
    with pytest.raises(StateCorrupt, match="not valid JSON") as info:
        Loop.load(path, tools=[step], llm=ScriptedModel([]))
    assert info.value.path == str(path)
    assert path.read_bytes() == good_snapshot[: len(good_snapshot) // 2]  # nothing rewritten

    data = json.loads(good_snapshot)
    data["version"] = 99
    path.write_text(json.dumps(data))
    with pytest.raises(StateVersionError, match="newer tether"):
        Loop.load(path, tools=[step], llm=ScriptedModel([]))
    with pytest.raises(StateError, match="no saved loop state"):
        Loop.load(tmp_path / "missing.state", tools=[step], llm=ScriptedModel([]))


def test_abort_is_resumable_and_a_second_process_cannot_run_the_same_state(tmp_path: Path) -> None:
    path = tmp_path / "run.state"
    abort = threading.Event()

    def stepping(n: int) -> str:
        """Take step ``n``.

        Args:
            n: the step number.
        """
        if n == 2:
            abort.set()
        return "ok"

    stepping.__name__ = "step"
    result = Loop("walk", [stepping], ScriptedModel(_script(1, 5)), max_iterations=5, state_path=path,
                  abort=abort, quiet=True).run()  # fmt: skip
    assert result.status is LoopStatus.ABORTED and result.resumable and result.iterations == 2

    holder = StateFile(path)
    holder.lock()
    try:
        with pytest.raises(StateLocked):
            Loop.load(path, tools=[step], llm=ScriptedModel([])).run()
    finally:
        holder.close()
    resumed = Loop.resume(path, tools=[step], llm=ScriptedModel(_script(3, 3)), quiet=True)
    assert resumed.status is LoopStatus.BUDGET_EXHAUSTED and resumed.iterations == 5


def test_unwritable_trace_is_a_config_error_and_leaves_no_state(tmp_path: Path) -> None:
    from tether.errors import ConfigError

    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path / "run.state"
    with pytest.raises(ConfigError, match="cannot append"):
        Loop(
            "walk",
            [step],
            ScriptedModel([]),
            trace_path=blocker / "t.jsonl",
            state_path=path,
            quiet=True,
        ).run()
    assert not path.exists()


def test_extend_rejects_unknown_ceilings(tmp_path: Path) -> None:
    path = tmp_path / "run.state"
    Loop(
        "walk", [step], ScriptedModel(_script(1, 1)), max_iterations=1, state_path=path, quiet=True
    ).run()
    with pytest.raises(ValueError, match="unknown ceiling 'iterations'"):
        Loop.load(path, tools=[step], llm=ScriptedModel([]), extend={"iterations": 3})


def test_a_finished_run_is_not_resumed_and_its_state_may_be_replaced(tmp_path: Path) -> None:
    path = tmp_path / "run.state"
    ok = Loop("walk", [step], ScriptedModel([reply("all done")]), state_path=path, quiet=True).run()
    assert ok.status is LoopStatus.SUCCESS
    with pytest.raises(StateError, match="ended SUCCESS"):
        Loop.load(path, tools=[step], llm=ScriptedModel([]))
    again = Loop("walk", [step], ScriptedModel([reply("again")]), state_path=path, quiet=True).run()
    assert again.status is LoopStatus.SUCCESS


def test_budget_report_itemises_the_next_prompt(tmp_path: Path) -> None:
    loop = Loop("walk", [step], ScriptedModel(_script(1, 4)), max_iterations=4, verbatim_iterations=1,
                pinned=["the floor is lava"], quiet=True)  # fmt: skip
    loop.run()
    report = loop.budget_report()
    assert report.pinned > 0 and report.summaries > 0 and report.verbatim > 0 and report.tools > 0
    assert report.spent == 440 and report.left == loop.token_limit - 440
    assert "| summaries |" in report.to_markdown()


def test_an_unwritable_state_path_is_a_typed_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    with pytest.raises(StateError, match="cannot create"):
        Loop("walk", [step], ScriptedModel([]), state_path=blocker / "run.state", quiet=True).run()
    assert blocker.read_text() == "keep me"


def test_a_tool_raising_mid_parallel_batch_keeps_the_others_results_and_the_state(
    tmp_path: Path,
) -> None:
    from tether.tools import Tool

    def fetch(name: str) -> str:
        """Fetch one thing.

        Args:
            name: what to fetch.
        """
        if name == "b":
            raise ConnectionError("b is down")
        return f"{name} fetched"

    tool = Tool.from_function(fetch, parallel_safe=True)
    model = ScriptedModel(
        [reply(tool_calls=[call("fetch", name=n) for n in "abc"]), reply("two of three")]
    )
    path = tmp_path / "run.state"
    loop = Loop("fetch all", [tool], model, state_path=path, quiet=True)
    result = loop.run()
    assert result.status is LoopStatus.SUCCESS
    returns = [
        part.content
        for message in model.requests[1].messages
        for part in getattr(message, "parts", [])
        if getattr(part, "part_kind", "") == "tool-return"
    ]
    assert returns[0] == "a fetched" and returns[2] == "c fetched"
    assert "ConnectionError" in str(returns[1]) and "b is down" in str(returns[1])
    saved = StateFile(path).load()
    assert saved.status == "SUCCESS" and saved.iteration == 1


def test_ctrl_c_in_a_real_process_ends_aborted_with_a_resumable_state(tmp_path: Path) -> None:
    path = tmp_path / "run.state"
    done = _run_signalled(tmp_path, at_step=3, signal_name="SIGINT")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ABORTED", "True"]
    assert StateFile(path).load().status == "ABORTED"
    loop = Loop.load(path, tools=[step], llm=ScriptedModel(_script(3, 8)), quiet=True)
    result = loop.run()
    assert result.status is LoopStatus.BUDGET_EXHAUSTED and result.iterations == 8
    explained = loop.explain()  # from the trace file: both sessions, as one run
    text = explained.to_markdown()
    assert "BUDGET_EXHAUSTED" in text and "resumed" in text.lower()


def test_a_cheaper_model_summarises_old_iterations_within_the_same_budget(tmp_path: Path) -> None:
    from tether.loop import ModelSummarizer
    from tether.testing import server_error

    cheap = ScriptedModel(
        [reply("walked step 1, fine", usage=(50, 5)), server_error()], name="cheap"
    )
    from tether.llm import LLM, RetryPolicy

    summarizer = ModelSummarizer(LLM(cheap, retry=RetryPolicy(attempts=1)))
    assert summarizer.version.startswith("model-1:") and summarizer.version.endswith("cheap")
    loop = Loop("walk", [step], ScriptedModel(_script(1, 4)), max_iterations=4, verbatim_iterations=2,
                summarizer=summarizer, quiet=True)  # fmt: skip
    result = loop.run()
    assert result.usage.input_tokens == 400 + 50  # the summary's tokens count against the ceiling
    assert loop.summaries[0] == "- iteration 1: walked step 1, fine"
    assert loop.summaries[1].startswith(
        "- iteration 2: step("
    )  # the provider failed: deterministic line
