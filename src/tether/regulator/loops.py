"""Tool loops: the same tool in a row, short cycles, the same call across turns; failing tools.

Per turn (cleared at each ``turn_start``):

- **same tool in a row** (``same_tool``): A,A,A ... regardless of arguments;
  warns at ``warn_at`` calls, halts at ``halt_at``.
- **short cycles** (``cycle``): A,B,A,B ... or A,B,C,A,B,C ...; warns after two
  full cycles, halts after three.

Per task (cleared when a new task starts):

- **same call across turns** (``same_call``): the same tool with the same
  arguments (JSON compared after parsing, so key order and spacing do not
  matter) in ``same_call_warn`` / ``same_call_halt`` different turns.
- **failing tool**: ``failure_halt`` failed results of one tool in a row.

Every update is O(1): for each period p in 1..3 a counter holds how many
calls in a row equalled the call p places before, so the periodic suffix is
known without rescanning history.
"""

from __future__ import annotations

import json
from typing import Any

from tether.regulator.decision import CircuitBreakReason, LoopWarning

__all__ = ["ToolLoops"]

_MAX_PERIOD = 3
_MAX_CALL_KEYS = 4096
_canonical_cache: dict[str, str | None] = {}


def _canonical(args_json: str) -> str | None:
    """``args_json`` re-encoded with sorted keys and no spacing; ``None`` if it is not JSON."""
    hit = _canonical_cache.get(args_json, "")
    if hit != "":
        return hit
    try:
        out: str | None = json.dumps(
            json.loads(args_json), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
    except (ValueError, RecursionError):
        out = None
    if len(_canonical_cache) >= _MAX_CALL_KEYS:
        _canonical_cache.clear()
    _canonical_cache[args_json] = out
    return out


class ToolLoops:
    """Loop and failure detection over ``tool_call`` / ``tool_result`` events.

    After each update, :attr:`warning` holds the loop that is forming (or
    ``None``) and the update returns a :class:`CircuitBreakReason` when a
    halt threshold is crossed.
    """

    __slots__ = (
        "counts_by_name",
        "duration_ms",
        "fail_streak",
        "failure_halt",
        "failures",
        "halt_at",
        "invalid",
        "recent",
        "runs",
        "same_call",
        "same_call_halt",
        "same_call_warn",
        "total_calls",
        "warn_at",
        "warning",
    )

    def __init__(
        self,
        *,
        warn_at: int = 3,
        halt_at: int = 5,
        same_call_warn: int = 2,
        same_call_halt: int = 3,
        failure_halt: int = 3,
    ) -> None:
        self.warn_at = warn_at
        self.halt_at = halt_at
        self.same_call_warn = same_call_warn
        self.same_call_halt = same_call_halt
        self.failure_halt = failure_halt
        self.same_call: dict[str, list[int]] = {}
        self.fail_streak: dict[str, int] = {}
        self.new_turn()

    def new_turn(self) -> None:
        """Clear the per-turn counters (a new ``turn_start``)."""
        self.recent: list[str] = []
        self.runs = [0] * _MAX_PERIOD
        self.counts_by_name: dict[str, int] = {}
        self.total_calls = 0
        self.failures = 0
        self.invalid = 0
        self.duration_ms = 0.0
        self.warning: LoopWarning | None = None

    def new_task(self) -> None:
        """Clear everything (a new task)."""
        self.same_call.clear()
        self.fail_streak.clear()
        self.new_turn()

    def on_call(self, name: str, args_json: str | None, turn: int) -> CircuitBreakReason | None:
        """Record a call of ``name`` in turn number ``turn``; a halt reason when a loop is confirmed."""
        self.total_calls += 1
        self.counts_by_name[name] = self.counts_by_name.get(name, 0) + 1
        recent = self.recent
        runs = self.runs
        n = len(recent)
        for p in range(1, _MAX_PERIOD + 1):
            runs[p - 1] = runs[p - 1] + 1 if n >= p and recent[n - p] == name else 0
        recent.append(name)
        if n >= _MAX_PERIOD:
            del recent[0]

        if args_json is None:
            key = name + "\x00"
        else:
            canonical = _canonical(args_json)
            if canonical is None:
                self.invalid += 1
                canonical = args_json
            key = name + "\x00" + canonical
        entry = self.same_call.get(key)
        if entry is None:
            if len(self.same_call) >= _MAX_CALL_KEYS:
                del self.same_call[next(iter(self.same_call))]
            entry = self.same_call[key] = [1, turn]
        elif entry[1] != turn:
            entry[0] += 1
            entry[1] = turn

        halt: CircuitBreakReason | None = None
        warning: LoopWarning | None = None
        in_a_row = runs[0] + 1
        if in_a_row >= self.warn_at:
            warning = LoopWarning(name, in_a_row, "same_tool", self.halt_at)
            if in_a_row >= self.halt_at:
                halt = _loop(name, in_a_row, "same_tool")
        else:
            for p in (2, 3):
                length = runs[p - 1] + p
                if runs[p - 1] and length // p >= 2 and len(set(recent[-p:])) > 1:
                    cycle = ">".join(recent[-p:])
                    warning = LoopWarning(cycle, length, "cycle", 3 * p)
                    if length // p >= 3:
                        halt = _loop(cycle, length, "cycle")
                    break
        if halt is None and entry[0] >= self.same_call_warn:
            if warning is None:
                warning = LoopWarning(name, entry[0], "same_call", self.same_call_halt)
            if entry[0] >= self.same_call_halt:
                halt = _loop(name, entry[0], "same_call")
        self.warning = warning
        return halt

    def on_result(self, name: str, success: bool, duration_ms: float) -> CircuitBreakReason | None:
        """Record a result; a halt reason when ``name`` has failed ``failure_halt`` times in a row."""
        self.duration_ms += duration_ms
        if success:
            self.fail_streak.pop(name, None)
            return None
        self.failures += 1
        streak = self.fail_streak[name] = self.fail_streak.get(name, 0) + 1
        if len(self.fail_streak) > _MAX_CALL_KEYS:
            del self.fail_streak[next(iter(self.fail_streak))]
        if streak >= self.failure_halt:
            return CircuitBreakReason(
                "repeated_failure_pattern", cluster=f"tool:{name}", failure_count=streak
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        """Everything, for a snapshot."""
        w = self.warning
        return {
            "recent": list(self.recent),
            "runs": list(self.runs),
            "counts_by_name": dict(self.counts_by_name),
            "total_calls": self.total_calls,
            "failures": self.failures,
            "invalid": self.invalid,
            "duration_ms": self.duration_ms,
            "warning": None
            if w is None
            else [w.tool_name, w.consecutive_count, w.pattern, w.halt_at],
            "same_call": [[k, v[0], v[1]] for k, v in self.same_call.items()],
            "fail_streak": dict(self.fail_streak),
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore from :meth:`to_dict` output (already validated by the snapshot reader)."""
        self.recent = list(data["recent"])
        self.runs = list(data["runs"])
        self.counts_by_name = dict(data["counts_by_name"])
        self.total_calls = data["total_calls"]
        self.failures = data["failures"]
        self.invalid = data["invalid"]
        self.duration_ms = float(data["duration_ms"])
        w = data["warning"]
        self.warning = None if w is None else LoopWarning(w[0], w[1], w[2], w[3])
        self.same_call = {k: [c, t] for k, c, t in data["same_call"]}
        self.fail_streak = dict(data["fail_streak"])


def _loop(name: str, count: int, pattern: str) -> CircuitBreakReason:
    return CircuitBreakReason(
        "repeated_tool_call_loop", tool_name=name, consecutive_count=count, pattern=pattern
    )
