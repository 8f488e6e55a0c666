import pytest

from tether.errors import ApprovalDenied, BudgetExceeded, LoopStopped
from tether.loop.result import LoopResult, LoopStatus


def test_success_returns_self() -> None:
    result = LoopResult(LoopStatus.SUCCESS, "done")
    assert result.raise_for_status() is result


def test_budget_raises_budget_exceeded_with_the_ceiling() -> None:
    result = LoopResult(LoopStatus.BUDGET_EXHAUSTED, "iterations ceiling reached (3)")
    with pytest.raises(BudgetExceeded) as caught:
        result.raise_for_status()
    assert caught.value.limit == "iterations"
    assert caught.value.allowed == 3


def test_denied_raises_approval_denied() -> None:
    with pytest.raises(ApprovalDenied):
        LoopResult(LoopStatus.APPROVAL_DENIED, "no").raise_for_status()


@pytest.mark.parametrize("status", [LoopStatus.NO_PROGRESS, LoopStatus.ERROR, LoopStatus.ABORTED])
def test_other_statuses_raise_loop_stopped(status: LoopStatus) -> None:
    with pytest.raises(LoopStopped, match=status.value):
        LoopResult(status, "why").raise_for_status()


def test_policy_declaring_an_unknown_status_is_a_type_error() -> None:
    from tether.loop import Loop
    from tether.testing import ScriptedModel

    class Odd:
        status = "MAYBE"

        def __call__(self, report: object) -> None:
            return None

    with pytest.raises(TypeError, match="Odd"):
        Loop("g", (), ScriptedModel([]), policies=[Odd()], quiet=True)  # type: ignore[list-item]


def test_policy_returning_an_unknown_status_at_run_time_is_a_type_error(tmp_path: object) -> None:
    from tether.loop import Loop
    from tether.loop.progress import PolicyDecision
    from tether.testing import ScriptedModel, call, reply
    from tether.tools import builtin_tools

    def odd(report: object) -> PolicyDecision:
        return PolicyDecision(stop=True, status="MAYBE", reason="unsure")

    model = ScriptedModel(
        [reply(tool_calls=[call("list_directory", path=str(tmp_path))]), reply("x")]
    )
    with pytest.raises(TypeError, match=r"odd.*MAYBE"):
        Loop("g", builtin_tools(), model, policies=[odd], quiet=True).run()
