"""Goal runs in a real git repo with a real pytest suite: only a verified outcome is GOAL_MET."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tether.llm import LLM, RetryPolicy
from tether.orchestrate import AgentRun, Budget, Evaluator, Goal, Memory, Project
from tether.orchestrate.goal import GoalError
from tether.store import open_store
from tether.testing import ScriptedModel, Turn, call, reply, server_error

BROKEN = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
VERIFY = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(BROKEN)
    (root / "tests" / "test_calc.py").write_text(TEST)
    (root / "conftest.py").write_text(
        "import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n"
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "broken add")
    return root


def quick(model: ScriptedModel) -> LLM:
    async def no_sleep(_: float) -> None:
        return None

    return LLM(model, retry=RetryPolicy(attempts=1), sleep=no_sleep)


def goal_run(
    goal: Goal,
    repo: Path,
    worker: ScriptedModel,
    *,
    budget: Budget | None = None,
    tmp_home: Path | None = None,
) -> tuple[object, Callable[[], list[str]]]:
    project = Project.at(repo, home=tmp_home or repo.parent / "home")
    store = open_store(project.home)
    llm = quick(worker)

    def make_run(prompt: str, room: Budget, run_id: str) -> AgentRun:
        return AgentRun(prompt, project=project, model=llm, budget=room, run_id=run_id)

    result = goal.run(
        "make the tests pass",
        make_run=make_run,
        budget=budget or Budget(max_iterations=5, token_limit=100_000),
        workspace=repo,
        store=store,
        task_key="fix-add",
    )
    return result, lambda: [t.status for t in Memory(store).tasks("fix-add")]


def verdict(met: bool, reason: str = "r", impossible: bool = False) -> Turn:
    return reply(tool_calls=[call("verdict", met=met, reason=reason, impossible=impossible)])


def test_a_worker_that_only_claims_success_never_meets_the_goal(repo: Path) -> None:
    worker = ScriptedModel([reply("All tests pass now! Goal complete.")] * 3)
    result, statuses = goal_run(Goal("the tests pass", verify=VERIFY, max_rounds=3), repo, worker)
    assert result.status == "GOAL_NOT_MET"
    assert [r.met for r in result.rounds] == [False, False, False]
    assert all(r.verifier is not None and r.verifier.exit_code == 1 for r in result.rounds)
    second = worker.requests[1].last_user_text
    assert "VERIFIER" in second and "1 failed" in second  # the output tail reaches the next round
    assert result.spending.verifier_runs == 3
    assert statuses() == ["GOAL_NOT_MET"]


def test_a_claim_with_an_evaluator_that_would_say_met_is_not_asked_when_the_verifier_fails(
    repo: Path,
) -> None:
    judge = ScriptedModel([verdict(True)] * 2)
    worker = ScriptedModel([reply("Done, all green.")] * 2)
    goal = Goal("the tests pass", verify=VERIFY, evaluator=Evaluator(judge), max_rounds=2)
    result, _ = goal_run(goal, repo, worker)
    assert result.status == "GOAL_NOT_MET"
    assert judge.requests == []


def test_a_worker_that_fixes_the_code_meets_the_goal_and_the_spending_is_itemised(
    repo: Path,
) -> None:
    worker = ScriptedModel(
        [
            reply(tool_calls=[call("write_file", path="calc.py", content=FIXED)], usage=(100, 20)),
            reply("fixed the sign", usage=(120, 10)),
        ]
    )
    judge = ScriptedModel([verdict(True, "pytest passed and calc.py changed")])
    goal = Goal("the tests pass", verify=VERIFY, evaluator=Evaluator(judge), max_rounds=3)
    result, statuses = goal_run(goal, repo, worker)
    assert result.status == "GOAL_MET", result.reason
    assert len(result.rounds) == 1 and result.rounds[0].verifier.passed
    assert "calc.py" in judge.requests[0].last_user_text  # the diff stat is evidence
    spent = result.spending.to_dict()
    assert spent["worker"]["tokens"] == 250
    assert spent["evaluator"]["calls"] == 1 and spent["evaluator"]["tokens"] > 0
    assert spent["verifier"]["runs"] == 1
    assert spent["total"]["tokens"] == 250 + spent["evaluator"]["tokens"]
    assert statuses() == ["GOAL_MET"]
    json.dumps(result.to_dict())


def test_a_change_under_a_protected_path_voids_a_passing_verifier(repo: Path) -> None:
    cheat = "def test_add():\n    assert True\n"
    worker = ScriptedModel(
        [
            reply(tool_calls=[call("write_file", path="tests/test_calc.py", content=cheat)]),
            reply("done"),
        ]
    )
    goal = Goal("the tests pass", verify=VERIFY, protect=["tests"], max_rounds=1)
    result, _ = goal_run(goal, repo, worker)
    assert result.rounds[0].verifier.passed  # pytest is green ...
    assert result.status == "GOAL_NOT_MET"  # ... but it does not count
    assert result.rounds[0].protected_changed == ("tests/test_calc.py",)
    assert "protected" in result.rounds[0].note


def test_a_provider_error_round_is_never_met_and_ends_the_goal_run(repo: Path) -> None:
    judge = ScriptedModel([verdict(True)])
    worker = ScriptedModel([server_error(503)] * 4)
    goal = Goal("the tests pass", evaluator=Evaluator(judge), max_rounds=3)
    result, statuses = goal_run(goal, repo, worker)
    assert result.status == "ERROR"
    assert len(result.rounds) == 1 and not result.rounds[0].met
    assert judge.requests == []
    assert statuses() == ["ERROR"]


def test_a_round_that_hit_its_ceiling_is_never_judged_met(repo: Path) -> None:
    judge = ScriptedModel([verdict(True)] * 2)
    worker = ScriptedModel([reply(tool_calls=[call("read_file", path="calc.py")])] * 4)
    goal = Goal("the tests pass", evaluator=Evaluator(judge), max_rounds=1)
    result, _ = goal_run(goal, repo, worker, budget=Budget(max_iterations=1))
    assert result.rounds[0].loop_status == "BUDGET_EXHAUSTED"
    assert result.status == "GOAL_NOT_MET" and judge.requests == []


def test_an_unusable_evaluator_ends_in_evaluator_error(repo: Path) -> None:
    judge = ScriptedModel([reply("NOT satisfied"), reply('{"satisfied": "false"}')])
    worker = ScriptedModel([reply("done")])
    result, _ = goal_run(Goal("x", evaluator=Evaluator(judge)), repo, worker)
    assert result.status == "EVALUATOR_ERROR" and not result.met
    assert result.spending.evaluator_calls == 2


def test_an_impossible_verdict_ends_the_run(repo: Path) -> None:
    judge = ScriptedModel([verdict(False, "needs network", impossible=True)])
    worker = ScriptedModel([reply("cannot")])
    result, _ = goal_run(Goal("x", evaluator=Evaluator(judge), max_rounds=3), repo, worker)
    assert (result.status, len(result.rounds)) == ("IMPOSSIBLE", 1)


def test_one_budget_covers_every_round(repo: Path) -> None:
    worker = ScriptedModel([reply("claim", usage=(700, 100))] * 5)
    goal = Goal("the tests pass", verify="exit 1", max_rounds=5)
    result, _ = goal_run(goal, repo, worker, budget=Budget(max_iterations=3, token_limit=1600))
    assert result.status == "BUDGET_EXHAUSTED" and "token ceiling" in result.reason
    assert len(result.rounds) <= 2  # round 2 gets what round 1 left, not a fresh 1600
    assert 800 <= result.spending.worker_tokens <= 1600


def test_a_goal_needs_something_to_decide_it() -> None:
    with pytest.raises(GoalError, match="--verify"):
        Goal("x")
    with pytest.raises(GoalError, match="--protect"):
        Goal("x", verify="true", protect=["../outside"])


def test_a_verifier_that_hangs_is_killed_at_its_timeout(repo: Path) -> None:
    worker = ScriptedModel([reply("done")])
    goal = Goal("x", verify="sleep 30", verify_timeout_s=0.5, max_rounds=1)
    result, _ = goal_run(goal, repo, worker)
    run = result.rounds[0].verifier
    assert run.timed_out and run.exit_code is None and run.duration_s < 10
    assert result.status == "GOAL_NOT_MET"


def test_a_no_progress_round_is_never_judged_met(repo: Path) -> None:
    judge = ScriptedModel([verdict(True)] * 2)
    worker = ScriptedModel([reply(tool_calls=[call("read_file", path="calc.py")])] * 8)
    goal = Goal("the tests pass", evaluator=Evaluator(judge), max_rounds=1)
    result, _ = goal_run(goal, repo, worker, budget=Budget(max_iterations=8))
    assert result.rounds[0].loop_status == "NO_PROGRESS"
    assert result.status == "GOAL_NOT_MET" and judge.requests == []
