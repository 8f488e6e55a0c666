"""A state saved by a version-1 tether (``summariser``/``summarised``) still resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tether.loop import Loop, LoopStatus
from tether.loop.state import STATE_VERSION, StateFile
from tether.testing import ScriptedModel, call, reply

pytest.importorskip("pydantic_ai")


def step(n: int) -> str:
    """Take step ``n``.

    Args:
        n: the step number.
    """
    return f"step {n} done"


def test_a_version_1_state_resumes_and_is_saved_in_todays_format(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    model = ScriptedModel([reply(tool_calls=[call("step", n=n)]) for n in (1, 2, 3)])
    first = Loop("walk", [step], model, max_iterations=3, verbatim_iterations=1,
                 state_path=path, quiet=True, policies=[]).run()  # fmt: skip
    assert first.status is LoopStatus.BUDGET_EXHAUSTED
    saved = StateFile(path).load()
    data = json.loads(saved.to_json())
    data["version"] = 1
    data["summariser"] = data.pop("summarizer")
    data["summarised"] = data.pop("summarized")
    path.write_text(json.dumps(data))
    path.with_name(path.name + ".journal").write_text(
        json.dumps({"seq": saved.seq + 1, "set": {"summarised": 2}, "add": {}}) + "\n"
    )

    old = StateFile(path).load()
    assert (old.summarizer, old.summarized, old.summarised) == ("deterministic-1", 2, 2)
    assert old.summaries == saved.summaries and old.version == 1

    rest = Loop.resume(path, tools=[step], llm=ScriptedModel([reply("done")]), quiet=True,
                       policies=[], extend={"max_iterations": 1})  # fmt: skip
    assert rest.status is LoopStatus.SUCCESS
    snapshot = json.loads(path.read_text())
    assert snapshot["version"] == STATE_VERSION and "summarizer" in snapshot
