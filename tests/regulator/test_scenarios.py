"""Every rule, priority conflict and edge case, as event lists with expected decisions.

Each ``scenarios/*.yaml`` file holds a list of scenarios::

    - name: what it shows
      settings: {with_cost_cap: 1000}          # builder calls (keyword dicts for several args)
      steps:
        - {kind: turn_start, user_message: "..."}            # an event, LLMEvent.from_dict form
        - repeat: 3                                          # the same steps n times
          steps: [...]
        - expect: {kind: circuit_break, reason.kind: cost_cap_reached}   # decide(), dotted fields
        - raises: InvalidQualityError                        # the next event must raise this
          event: {kind: quality_feedback, quality: .nan}
        - call: reset                                        # a method of the regulator
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

import tether.regulator as regulator_module
from tether.regulator import Decision, LLMEvent, Regulator

HERE = Path(__file__).parent / "scenarios"
CASES = [
    pytest.param(case, id=f"{path.stem}:{case['name']}")
    for path in sorted(HERE.glob("*.yaml"))
    for case in yaml.safe_load(path.read_text(encoding="utf-8"))
]


def field(decision: Decision, dotted: str) -> Any:
    value: Any = decision
    for part in dotted.split("."):
        if isinstance(value, tuple) and part.isdigit():
            value = value[int(part)]
        else:
            value = getattr(value, part)
    return list(value) if isinstance(value, tuple) else value


def expand(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for step in steps:
        if "repeat" in step:
            out.extend(expand(step["steps"]) * step["repeat"])
        else:
            out.append(step)
    return out


def build(settings: dict[str, Any]) -> Regulator:
    reg = Regulator.for_user("scenario-user", clock=lambda: 1000.0)
    for name, arg in settings.items():
        method = getattr(reg, name)
        if isinstance(arg, dict):
            method(**arg)
        else:
            method(arg)
    return reg


def check(decision: Decision, expected: dict[str, Any], where: str) -> None:
    for dotted, want in expected.items():
        got = field(decision, dotted)
        if isinstance(want, float) and isinstance(got, float):
            assert math.isclose(got, want, abs_tol=1e-9), (
                f"{where}: {dotted} = {got!r}, want {want!r}"
            )
        else:
            assert got == want, f"{where}: {dotted} = {got!r}, want {want!r}\n{decision}"


@pytest.mark.parametrize("case", CASES)
def test_scenario(case: dict[str, Any]) -> None:
    reg = build(case.get("settings", {}))
    checked = 0
    for i, step in enumerate(expand(case["steps"])):
        where = f"{case['name']} step {i}"
        if "expect" in step:
            first = reg.decide()
            check(first, step["expect"], where)
            assert reg.decide() is first, f"{where}: decide() is not idempotent"
            checked += 1
        elif "raises" in step:
            error = getattr(regulator_module, step["raises"])
            before = reg.export_json()
            with pytest.raises(error):
                reg.on_event(LLMEvent.from_dict(step["event"]))
            assert reg.export_json() == before, f"{where}: a refused event changed the state"
            checked += 1
        elif "call" in step:
            getattr(reg, step["call"])(*step.get("args", []))
        else:
            reg.on_event(LLMEvent.from_dict(step))
    assert checked, "a scenario must check something"
    # whatever state the scenario ends in survives a snapshot round trip
    again = Regulator.from_json(reg.export_json())
    assert again.export_json() == reg.export_json()
    assert again.decide() == reg.decide()
