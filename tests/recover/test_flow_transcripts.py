"""The recovery generator driven alone: scripted answers in, the exact next step out.

No engine and no processes; the services are a recorder (the stand-in for the engine).
"""

from __future__ import annotations

from typing import Any

import pytest

from tether.recover.loop import Failure, RecoveryEvent, RecoverySettings, recovery


class Recorder:
    """Answers ``candidates`` from a script and records every other call."""

    def __init__(self) -> None:
        self.events: list[RecoveryEvent] = []

    def candidates(self, context: Any, settings: Any, exclude: list[str]) -> list[Any]:
        return []

    def record(self, rule: Any, attempt: Any, observation: Any) -> None:
        raise AssertionError("nothing to record")

    def promote(self, rule: Any) -> None:
        raise AssertionError("nothing to promote")

    def reject(self, rule: Any, reason: str) -> str:
        raise AssertionError("nothing to reject")

    def emit(self, event: RecoveryEvent) -> None:
        self.events.append(event)


def test_no_rule_matches_ends_without_a_request() -> None:
    services = Recorder()
    gen = recovery(Failure({"stderr": "boom"}, 1), RecoverySettings(), services)
    with pytest.raises(StopIteration) as stop:
        next(gen)
    outcome = stop.value.value
    assert not outcome.recovered and outcome.reason == "no rule matches this failure"
    assert [(e.kind, e.data) for e in services.events] == [
        ("gave_up", {"reason": "no rule matches this failure", "attempts": 0})
    ]
