"""Goal runs: worker rounds until a condition is *verified*, under one budget.

``Goal(condition, verify=CMD, evaluator=…, max_rounds=N, protect=[…]).run(prompt, …)`` runs the
worker (an :class:`~tether.orchestrate.run.AgentRun`, hence a governed Loop) round after round.
After each round:

1. The round's own ending is checked first. A provider error, an abort or a pending approval
   ends the goal run with the loop's status. A round that hit a ceiling or NoProgress is never
   judged met (the verifier still runs, so that the next round sees its output).
2. With ``verify``, the command decides: it runs in the workspace (shell, timeout) *after* the
   round, and the goal can only be met when it exits 0. Its output tail goes into the next
   round's prompt. A change under a ``protect`` path (compared with the start, by content hash)
   voids a passing verifier: the worker may not make the tests pass by editing the tests.
3. The evaluator (:class:`~tether.orchestrate.evaluator.Evaluator`, a second model with no
   tools) is an extra gate after a passing verifier, or the only one without ``verify``. It sees
   evidence, not only the claim. An unusable verdict ends the run ``EVALUATOR_ERROR`` (not met);
   ``impossible`` ends it ``IMPOSSIBLE``.

One :class:`~tether.orchestrate.run.Budget` covers everything: worker rounds draw tokens, USD
and seconds from it, evaluator calls tokens and USD, verifier runs seconds; each round gets
what is left (``max_iterations`` is per round). :class:`GoalResult.spending` itemises it.

Statuses: ``GOAL_MET``, ``GOAL_NOT_MET`` (rounds exhausted), ``IMPOSSIBLE``,
``EVALUATOR_ERROR``, or the loop's own (``BUDGET_EXHAUSTED``, ``ERROR``, ``ABORTED`` …).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError
from tether.orchestrate.evaluator import Evaluator, Evidence, Verdict
from tether.orchestrate.memory import Memory
from tether.orchestrate.run import AgentRun, Budget, new_run_id
from tether.orchestrate.verify import VerifierRun, diff_stat, git_output, run_verifier, snapshot

__all__ = ["GOAL_STATUSES", "Goal", "GoalError", "GoalResult", "Round", "Spending", "VerifierRun"]

GOAL_STATUSES = ("GOAL_MET", "GOAL_NOT_MET", "IMPOSSIBLE", "EVALUATOR_ERROR")
"""The goal run's own statuses (the loop's statuses can end it too)."""

_STOPPING = ("ERROR", "ABORTED", "AWAITING_APPROVAL", "PENDING_EXPIRED")
"""Loop statuses that end the goal run at once, with that status."""


class GoalError(ConfigError):
    """A goal run is mis-configured (no way to decide, a bad protect path …)."""


@dataclass
class Spending:
    """Where a goal run's budget went, itemised.

    Attributes:
        worker_tokens, worker_cost_usd, worker_s: the worker rounds.
        evaluator_tokens, evaluator_cost_usd, evaluator_calls: the evaluator.
        verifier_runs, verifier_s: the verifier.
    """

    worker_tokens: int = 0
    worker_cost_usd: float | None = 0.0
    worker_s: float = 0.0
    evaluator_tokens: int = 0
    evaluator_cost_usd: float | None = 0.0
    evaluator_calls: int = 0
    verifier_runs: int = 0
    verifier_s: float = 0.0

    @property
    def tokens(self) -> int:
        """Tokens over worker and evaluator."""
        return self.worker_tokens + self.evaluator_tokens

    @property
    def cost_usd(self) -> float | None:
        """USD over worker and evaluator (``None`` when one was unpriced)."""
        if self.worker_cost_usd is None or self.evaluator_cost_usd is None:
            return None
        return self.worker_cost_usd + self.evaluator_cost_usd

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, totals included."""
        return {
            "worker": {
                "tokens": self.worker_tokens,
                "cost_usd": self.worker_cost_usd,
                "seconds": round(self.worker_s, 3),
            },
            "evaluator": {
                "tokens": self.evaluator_tokens,
                "cost_usd": self.evaluator_cost_usd,
                "calls": self.evaluator_calls,
            },
            "verifier": {"runs": self.verifier_runs, "seconds": round(self.verifier_s, 3)},
            "total": {"tokens": self.tokens, "cost_usd": self.cost_usd},
        }


def _shared_ceiling(reason: str) -> bool:
    """Whether a round's BUDGET_EXHAUSTED came from the shared budget (tokens, USD, seconds)
    rather than the per-round iteration ceiling (read as ``LoopResult.raise_for_status`` does)."""
    return reason.partition(" ceiling")[0].strip() != "iterations"


def _add_cost(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


@dataclass
class Round:
    """One worker round and how it was judged.

    Attributes:
        index: 1-based.
        run_id: the worker run's id (its trace is ``agent-<run_id>.jsonl``).
        loop_status, loop_reason: how the worker's loop ended.
        verifier: the verifier's run after the round, if any.
        protected_changed: protected files changed since the start.
        verdict: the evaluator's verdict, if it was asked.
        met: whether this round met the goal.
        note: why it did not, in words.
    """

    index: int
    run_id: str
    loop_status: str
    loop_reason: str
    verifier: VerifierRun | None = None
    protected_changed: tuple[str, ...] = ()
    verdict: Verdict | None = None
    met: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        verdict = self.verdict
        return {
            "index": self.index,
            "run_id": self.run_id,
            "loop_status": self.loop_status,
            "loop_reason": self.loop_reason,
            "verifier": self.verifier.to_dict() if self.verifier else None,
            "protected_changed": list(self.protected_changed),
            "verdict": None
            if verdict is None
            else {
                "met": verdict.met,
                "reason": verdict.reason,
                "impossible": verdict.impossible,
                "error": verdict.error,
            },
            "met": self.met,
            "note": self.note,
        }


@dataclass
class GoalResult:
    """How a goal run ended: ``status``, ``reason``, its ``rounds``, the itemised ``spending``,
    the goal's ``run_id`` and ``task_key``, and the worker's last ``text`` (a claim)."""

    status: str
    reason: str
    run_id: str
    task_key: str
    rounds: list[Round] = field(default_factory=list)
    spending: Spending = field(default_factory=Spending)
    text: str = ""

    @property
    def met(self) -> bool:
        """True for ``GOAL_MET``."""
        return self.status == "GOAL_MET"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``--json`` prints)."""
        return {
            "status": self.status,
            "reason": self.reason,
            "run_id": self.run_id,
            "task_key": self.task_key,
            "rounds": [r.to_dict() for r in self.rounds],
            "spending": self.spending.to_dict(),
            "text": self.text,
        }


class Goal:
    """A condition to reach, and how it is decided.

    Args:
        condition: the goal condition, in words (what the evaluator judges).
        verify: a shell command that decides (exit 0 = met), run in the workspace after each round.
        verify_timeout_s: the verifier's time limit, in seconds.
        evaluator: the independent evaluator (extra gate with ``verify``, the only one without).
        max_rounds: most worker rounds.
        protect: paths (relative to the workspace) the worker must not change; a change voids a
            passing verifier.

    Raises:
        GoalError: neither ``verify`` nor ``evaluator``; ``max_rounds`` below 1; a protect path
            that is absolute or leaves the workspace.
    """

    def __init__(
        self,
        condition: str,
        *,
        verify: str | None = None,
        verify_timeout_s: float = 600.0,
        evaluator: Evaluator | None = None,
        max_rounds: int = 3,
        protect: Sequence[str] = (),
    ) -> None:
        if not condition.strip():
            raise GoalError("the goal CONDITION is empty")
        if verify is None and evaluator is None:
            raise GoalError("nothing decides the goal: give --verify CMD or an evaluator model")
        if max_rounds < 1:
            raise GoalError(f"--max-rounds must be at least 1, got {max_rounds}")
        if verify_timeout_s <= 0:
            raise GoalError(f"the verifier timeout must be positive, got {verify_timeout_s}")
        for path in protect:
            if Path(path).is_absolute() or ".." in Path(path).parts:
                raise GoalError(f"--protect {path}: use a path inside the workspace")
        self.condition = condition
        self.verify = verify
        self.verify_timeout_s = verify_timeout_s
        self.evaluator = evaluator
        self.max_rounds = max_rounds
        self.protect = tuple(protect)

    def first_prompt(self, prompt: str) -> str:
        """The worker's prompt of round 1 (what a dry run shows)."""
        return self._round_prompt(prompt, 1, None)

    def _round_prompt(self, prompt: str, index: int, previous: Round | None) -> str:
        judge = f"the command `{self.verify}`" if self.verify else "an independent evaluator"
        parts = [
            prompt,
            f"GOAL CONDITION (checked after your round by {judge}, not by your claim): "
            f"{self.condition}",
        ]
        if self.protect:
            parts.append("Do not change these protected paths: " + ", ".join(self.protect))
        if previous is not None:
            parts.append(f"ROUND {index} of at most {self.max_rounds}. The last round was not met.")
            if previous.note:
                parts.append(f"Why: {previous.note}")
            if previous.verifier is not None:
                v = previous.verifier
                parts.append(
                    f"VERIFIER `{v.command}` exit code {v.exit_code}; output tail:\n"
                    f"{v.output[-3000:]}"
                )
            if previous.verdict is not None and previous.verdict.reason:
                parts.append(f"EVALUATOR: {previous.verdict.reason}")
        return "\n\n".join(parts)

    def run(
        self,
        prompt: str,
        *,
        make_run: Callable[[str, Budget, str], AgentRun],
        budget: Budget,
        workspace: Path,
        store: Any,
        task_key: str,
        run_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_round: Callable[[Round], None] | None = None,
    ) -> GoalResult:
        """Run rounds until the goal is decided (see the module docstring).

        Args:
            prompt: the worker's task.
            make_run: builds one round's worker run from ``(round prompt, round budget, run id)``
                (the caller fixes model, tools, skills …; sub-agents plug in here).
            budget: the one budget of the whole goal run.
            workspace: where the verifier runs and protected paths are checked.
            store: where the goal's outcome is recorded (task memory).
            task_key: the task it is recorded under.
            run_id: the goal run's id (default: new).
            clock: monotonic seconds (injectable).
            on_round: called after each judged round.
        """
        run_id = run_id or new_run_id()
        started = clock()
        spending = Spending()
        base = git_output(workspace, "rev-parse", "HEAD").strip()
        protected = snapshot(workspace, self.protect)
        result = GoalResult("GOAL_NOT_MET", "", run_id, task_key, spending=spending)
        previous: Round | None = None

        def left() -> Budget | str:
            tokens = budget.token_limit - spending.tokens
            seconds = budget.wall_clock_s - (clock() - started)
            cost = None
            if budget.cost_limit_usd is not None:
                cost = budget.cost_limit_usd - (spending.cost_usd or 0.0)
                if cost <= 0:
                    return f"USD ceiling reached ({budget.cost_limit_usd:g})"
            if tokens <= 0:
                return f"token ceiling reached ({budget.token_limit})"
            if seconds <= 0:
                return f"wall-clock ceiling reached ({budget.wall_clock_s:g}s)"
            return Budget(budget.max_iterations, tokens, cost, seconds)

        for index in range(1, self.max_rounds + 1):
            room = left()
            if isinstance(room, str):
                result.status, result.reason = "BUDGET_EXHAUSTED", f"before round {index}: {room}"
                break
            worker = make_run(
                self._round_prompt(prompt, index, previous), room, f"{run_id}-r{index}"
            )
            began = clock()
            outcome = worker.run(store, record=False)
            spending.worker_s += clock() - began
            spending.worker_tokens += outcome.tokens
            spending.worker_cost_usd = _add_cost(spending.worker_cost_usd, outcome.loop.cost_usd)
            result.text = outcome.text
            this = Round(index, outcome.run_id, outcome.status, outcome.reason)
            result.rounds.append(this)
            previous = this
            if outcome.status in _STOPPING:
                this.note = f"the worker's round ended {outcome.status}: {outcome.reason}"
                result.status, result.reason = outcome.status, this.note
                break
            if self.verify is not None:
                room = left()
                timeout = self.verify_timeout_s
                if isinstance(room, Budget):
                    timeout = min(timeout, room.wall_clock_s)
                this.verifier = run_verifier(self.verify, workspace, timeout)
                spending.verifier_runs += 1
                spending.verifier_s += this.verifier.duration_s
            now = snapshot(workspace, self.protect)
            this.protected_changed = tuple(
                sorted(k for k in set(now) | set(protected) if now.get(k) != protected.get(k))
            )
            decided = self._judge(this, outcome, workspace, base, spending, left())
            if on_round is not None:
                on_round(this)
            if decided is not None:
                result.status, result.reason = decided
                break
            if outcome.status == "BUDGET_EXHAUSTED" and _shared_ceiling(outcome.reason):
                room = left()
                result.status = "BUDGET_EXHAUSTED"
                result.reason = (
                    f"round {index}: {room if isinstance(room, str) else outcome.reason}"
                )
                break
        else:
            last = previous.note if previous is not None else ""
            result.reason = f"not met after {self.max_rounds} rounds; last: {last}"
        if not result.reason:
            result.reason = previous.note if previous is not None else "no round ran"
        Memory(store).record(
            task_key,
            run_id=run_id,
            status=result.status,
            reason=result.reason,
            kind="goal",
            title=prompt,
            tokens=spending.tokens,
            cost_usd=spending.cost_usd,
        )
        return result

    def _judge(
        self,
        this: Round,
        outcome: Any,
        workspace: Path,
        base: str,
        spending: Spending,
        room: Budget | str,
    ) -> tuple[str, str] | None:
        """Judge one round: ``(final status, reason)`` when the goal run ends, else ``None``."""
        if outcome.status != "SUCCESS":
            this.note = f"the round ended {outcome.status} ({outcome.reason}); never judged met"
            return None
        if this.verifier is not None and not this.verifier.passed:
            this.note = f"the verifier failed (exit code {this.verifier.exit_code})"
            return None
        if this.verifier is not None and this.protected_changed:
            this.note = (
                "the verifier passed, but protected paths changed: "
                + ", ".join(this.protected_changed)
                + "; restore them — a pass that edits them does not count"
            )
            return None
        if self.evaluator is None:
            this.met = True
            this.note = f"the verifier `{self.verify}` exited 0"
            return "GOAL_MET", this.note
        if isinstance(room, str):
            this.note = f"no budget left for the evaluator: {room}"
            return "BUDGET_EXHAUSTED", this.note
        evidence = Evidence(
            condition=self.condition,
            claim=outcome.text,
            round_status=outcome.status,
            verifier=this.verifier.to_dict() if this.verifier else None,
            diff_stat=diff_stat(workspace, base),
            tool_results=tuple(outcome.tool_results),
            protected_changed=this.protected_changed,
        )
        verdict = self.evaluator.judge(evidence, max_tokens=min(1024, room.token_limit))
        this.verdict = verdict
        spending.evaluator_calls += verdict.calls
        spending.evaluator_tokens += verdict.usage.total_tokens
        spending.evaluator_cost_usd = _add_cost(spending.evaluator_cost_usd, verdict.cost_usd)
        if verdict.error:
            this.note = f"EVALUATOR_ERROR: {verdict.error}"
            return "EVALUATOR_ERROR", this.note
        if verdict.met:
            this.met = True
            this.note = f"the evaluator: {verdict.reason}"
            return "GOAL_MET", this.note
        if verdict.impossible:
            this.note = f"the evaluator says it is impossible: {verdict.reason}"
            return "IMPOSSIBLE", this.note
        this.note = f"the evaluator: not met: {verdict.reason}"
        return None
