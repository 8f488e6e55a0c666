"""Actions: registration, signature checks before anything runs, timeouts, errors recorded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.helpers import write_action
from tether import Tether
from tether.actions.registry import ActionRegistry
from tether.actions.run import run_rule
from tether.errors import ActionError
from tether.rules.load import load_text


def make_rule(then: str, name: str = "r") -> object:
    [rule] = load_text(
        f"name: {name}\nwhen: [{{fact: stderr, regex: 'err (?P<code>\\d+)'}}]\nthen:\n{then}"
    )
    return rule


def registry_with(tmp_path: Path) -> tuple[ActionRegistry, list[tuple[str, object]]]:
    reg = ActionRegistry()
    calls: list[tuple[str, object]] = []

    @reg.register("write")
    def write(path: str, text: str = "x") -> str:
        (tmp_path / path).write_text(text)
        calls.append(("write", path))
        return "wrote"

    @reg.register("count")
    def count(n: int) -> int:
        calls.append(("count", n))
        return n + 1

    @reg.register("boom")
    def boom() -> None:
        raise OSError("disk on fire")

    @reg.register("hang")
    def hang() -> None:
        time.sleep(5)

    return reg, calls


def test_placeholders_fill_from_captures_then_context_and_coerce(tmp_path: Path) -> None:
    reg, calls = registry_with(tmp_path)
    rule = make_rule("  - action: count\n    params: {n: '{code}'}\n"
                     "  - action: write\n    params: {path: 'out-{code}-{who}.txt'}\n")  # fmt: skip
    run = run_rule(rule, {"code": "41"}, {"stderr": "err 41", "who": "ci", "code": "0"}, reg)
    assert run.ok, run.error
    assert calls == [("count", 41), ("write", "out-41-ci.txt")]
    assert run.steps[0].result == 42
    assert (tmp_path / "out-41-ci.txt").exists()


@pytest.mark.parametrize(
    ("then", "param", "words"),
    [
        ("  - action: count\n", "n", "required param is missing"),
        ("  - action: count\n    params: {n: 1, m: 2}\n", "m", "unknown param"),
        ("  - action: count\n    params: {n: 'lots'}\n", "n", "ill-typed"),
        ("  - action: count\n    params: {n: '{nope}'}\n", "n", "placeholder {nope}"),
    ],
)
def test_bad_params_are_refused_before_any_step_runs(
    tmp_path: Path, then: str, param: str, words: str
) -> None:
    reg, calls = registry_with(tmp_path)
    rule = make_rule("  - action: write\n    params: {path: first.txt}\n" + then)
    run = run_rule(rule, {"code": "1"}, {"stderr": "err 1"}, reg)
    assert not run.ok
    assert f"rule 'r', step 2, action 'count', param '{param}'" in (run.error or "")
    assert words in (run.error or "")
    assert calls == [] and not (tmp_path / "first.txt").exists()


def test_unknown_action_is_named(tmp_path: Path) -> None:
    reg, _ = registry_with(tmp_path)
    run = run_rule(make_rule("  - action: wrtie\n"), {}, {"stderr": "err 1"}, reg)
    assert "action 'wrtie'" in (run.error or "") and "no such action" in (run.error or "")


def test_raising_action_is_recorded_and_stops_the_rule(tmp_path: Path) -> None:
    reg, calls = registry_with(tmp_path)
    rule = make_rule("  - action: boom\n  - action: write\n    params: {path: after.txt}\n")
    run = run_rule(rule, {}, {"stderr": "err 1"}, reg)
    assert not run.ok and "OSError: disk on fire" in (run.error or "")
    assert [s.ok for s in run.steps] == [False]
    assert calls == []


def test_hanging_action_times_out(tmp_path: Path) -> None:
    reg, _ = registry_with(tmp_path)
    started = time.monotonic()
    run = run_rule(make_rule("  - action: hang\n"), {}, {"stderr": "err 1"}, reg, timeout_s=0.2)
    assert time.monotonic() - started < 2
    assert not run.ok and "timed out after 0.2s" in (run.error or "")


def test_missing_action_param_comes_from_context(tmp_path: Path) -> None:
    reg, calls = registry_with(tmp_path)
    run = run_rule(
        make_rule("  - action: write\n"), {}, {"stderr": "err 1", "path": "ctx.txt"}, reg
    )
    assert run.ok and calls == [("write", "ctx.txt")]


def test_actions_discovered_from_home_and_engine_actions_win(home: Path, tmp_path: Path) -> None:
    write_action(
        home,
        "mine",
        "from tether import action\n\n@action('greet')\ndef greet(who: str) -> str:\n    return 'file ' + who\n",
    )
    write_action(home, "broken", "from tether import action\nraise RuntimeError('bad import')\n")
    engine = Tether(home=home, starter_rules=False)
    with pytest.warns(RuntimeWarning, match="broken.py.*bad import"):
        engine.load()
    assert "greet" in engine.actions

    @engine.action("greet")
    def greet(who: str) -> str:
        return "engine " + who

    spec = engine.actions.get("greet")
    assert spec is not None and spec.fn("me") == "engine me"
    other = Tether(home=tmp_path / "other-home", starter_rules=False)
    other.load()
    assert "greet" not in other.actions  # discovery is per engine, not process-wide


def test_action_error_pickles() -> None:
    import pickle

    err = ActionError("bad", action="a", rule="r", step=2, param="p")
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.param == "p"
