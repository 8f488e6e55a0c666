"""The extension points in tether.protocols: every built-in fits its protocol, a plain object none."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tether.loop.approval import CallbackApproval, CLIApproval, HeadlessApproval, RequireApproval
from tether.loop.budget import CostLimit
from tether.loop.progress import IterationReport, NoProgress, PolicyDecision
from tether.loop.summary import DeterministicSummarizer, ModelSummarizer
from tether.loop.testfix import PytestMetric
from tether.protocols import ApprovalRunner, GoalMetric, Policy, Summarizer, WatchesEvents
from tether.regulator import Regulator
from tether.regulator.policy import RegulatorPolicy
from tether.testing import ScriptedModel

PROTOCOLS = [ApprovalRunner, GoalMetric, Policy, Summarizer, WatchesEvents]


def _builtins() -> dict[type, list[object]]:
    regulator_policy = RegulatorPolicy(Regulator("alice"))
    return {
        Policy: [NoProgress(), CostLimit(1.0), RequireApproval(tools=["rm"]), regulator_policy],
        WatchesEvents: [CostLimit(1.0), regulator_policy],
        ApprovalRunner: [CLIApproval(), CallbackApproval(lambda r: True), HeadlessApproval()],
        Summarizer: [DeterministicSummarizer(), ModelSummarizer(ScriptedModel([]))],
        GoalMetric: [PytestMetric()],
    }


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_each_builtin_fits_its_protocol(protocol: type) -> None:
    for impl in _builtins()[protocol]:
        assert isinstance(impl, protocol), f"{type(impl).__name__} is not a {protocol.__name__}"


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_a_plain_object_fits_none(protocol: type) -> None:
    assert not isinstance(object(), protocol)


def test_a_plain_function_is_a_policy_and_nothing_else() -> None:
    def stop_at_three(report: IterationReport) -> PolicyDecision | None:
        return PolicyDecision(stop=True) if report.index >= 3 else None

    assert isinstance(stop_at_three, Policy)
    assert not isinstance(stop_at_three, WatchesEvents | ApprovalRunner | GoalMetric | Summarizer)


def test_a_summarizer_without_its_version_stamp_does_not_fit() -> None:
    class Unstamped:
        async def summarise(self, index: int, messages: list[object]) -> tuple[str, object, None]:
            return "", None, None

    assert not isinstance(Unstamped(), Summarizer)


def test_importing_the_protocols_imports_no_other_tether_module() -> None:
    code = (
        "import sys, tether.protocols; "
        "print(sorted(m for m in sys.modules if m.startswith('tether.') and m not in "
        "('tether.protocols', 'tether._lazy', 'tether.errors', 'tether.loop', "
        "'tether.loop.hooks')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
