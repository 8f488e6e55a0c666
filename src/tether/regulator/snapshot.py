"""The snapshot format: a versioned JSON document holding all of a regulator's state.

``export_json()`` writes, and ``from_json()`` reads back, exactly the state
the regulator had, so a restored regulator decides as the original would
(turn, task, learned corrections and settings). Before anything is built the
whole document is checked here; a document that does not fit raises
:class:`SnapshotError` naming the path of the bad field, and one written by
another format version raises :class:`SnapshotVersionError`.

A snapshot exported by ``noos`` (the seed's regulator) is accepted too: its
user and learned correction patterns are imported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from tether.regulator.errors import SnapshotError, SnapshotVersionError

__all__ = ["FORMAT", "LEARNED_FORMAT", "VERSION", "check_learned", "check_snapshot", "parse"]

FORMAT = "tether.regulator"
LEARNED_FORMAT = "tether.regulator.learned"
VERSION = 1

SETTINGS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # name: (type, may be None)
    "cost_cap_tokens": (int, False),
    "quality_window": (int, False),
    "poor_quality": (float, False),
    "decline_min": (float, False),
    "task_failure_halt": (int, False),
    "loop_warn_at": (int, False),
    "loop_halt_at": (int, False),
    "same_call_warn": (int, False),
    "same_call_halt": (int, False),
    "tool_failure_halt": (int, False),
    "drift_threshold": (float, False),
    "min_corrections": (int, False),
    "max_clusters": (int, False),
    "max_examples": (int, False),
    "implicit_correction_window_s": (float, True),
    "low_confidence_threshold": (float, False),
}


def parse(text: str | bytes) -> Any:
    """JSON-decode ``text``, raising :class:`SnapshotError` if it is not JSON."""
    if not isinstance(text, str | bytes | bytearray):
        raise SnapshotError(f"a snapshot is a JSON string, got {type(text).__name__}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise SnapshotError(f"snapshot is not valid JSON ({exc}); was it truncated?") from None


def _fail(path: str, problem: str) -> SnapshotError:
    return SnapshotError(f"snapshot field {path!r}: {problem}; the snapshot is corrupted")


def _obj(value: Any, path: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, got {type(value).__name__}")
    missing = keys - value.keys()
    if missing:
        raise _fail(path, f"missing {', '.join(sorted(missing))}")
    extra = value.keys() - keys
    if extra:
        raise _fail(path, f"unknown {', '.join(sorted(extra))}")
    return value


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f"expected a whole number >= 0, got {value!r}")
    return value


def _num(value: Any, path: str, *, lo: float = -math.inf, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _fail(path, f"expected a number in [{lo}, {hi}], got {value!r}")
    return float(value)


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {type(value).__name__}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, f"expected a list, got {type(value).__name__}")
    return value


def _row(value: Any, path: str, n: int) -> list[Any]:
    row = _list(value, path)
    if len(row) != n:
        raise _fail(path, f"expected {n} items, got {len(row)}")
    return row


def _str_map(value: Any, path: str, check: Any) -> None:
    if not isinstance(value, dict):
        raise _fail(path, f"expected an object, got {type(value).__name__}")
    for k, v in value.items():
        check(v, f"{path}.{k}")


def _version(data: Any, fmt: str) -> None:
    if not isinstance(data, dict) or data.get("format") != fmt:
        found = data.get("format") if isinstance(data, dict) else None
        raise SnapshotError(
            f"not a {fmt} snapshot (format {found!r}); pass what export_json() returned"
        )
    if data.get("version") != VERSION:
        raise SnapshotVersionError(data.get("version"), VERSION)


def check_learned(data: Any, path: str = "learned") -> list[list[Any]]:
    """Check the learned corrections: ``[[cluster, count, [examples]], ...]``."""
    rows = _list(data, path)
    for i, row in enumerate(rows):
        cluster, count, examples = _row(row, f"{path}[{i}]", 3)
        _str(cluster, f"{path}[{i}][0]")
        if _int(count, f"{path}[{i}][1]") < 1:
            raise _fail(f"{path}[{i}][1]", "a cluster has at least one correction")
        for j, text in enumerate(_list(examples, f"{path}[{i}][2]")):
            _str(text, f"{path}[{i}][2][{j}]")
    return rows


def check_learned_document(data: Any) -> tuple[str, list[list[Any]]]:
    """Check a store document (``{"format": LEARNED_FORMAT, "version", "user_id", "clusters"}``)."""
    _version(data, LEARNED_FORMAT)
    doc = _obj(data, "", {"format", "version", "user_id", "clusters"})
    return _str(doc["user_id"], "user_id"), check_learned(doc["clusters"], "clusters")


def check_snapshot(data: Any) -> dict[str, Any]:
    """Check a full snapshot; returns it (unchanged) or raises :class:`SnapshotError`."""
    _version(data, FORMAT)
    doc = _obj(data, "", {"format", "version", "user_id", "settings", "turn", "task", "learned"})
    _str(doc["user_id"], "user_id")

    settings = _obj(doc["settings"], "settings", set(SETTINGS))
    for name, (_, nullable) in SETTINGS.items():
        value = settings[name]
        if value is None and nullable:
            continue
        if SETTINGS[name][0] is int:
            _int(value, f"settings.{name}")
        else:
            _num(value, f"settings.{name}", lo=0.0)

    turn = _obj(
        doc["turn"],
        "turn",
        {"index", "task_words", "response_words", "last_complete_at", "tokens", "loops"},
    )
    _int(turn["index"], "turn.index")
    _str_map(turn["task_words"], "turn.task_words", _str)
    if turn["response_words"] is not None:
        _str_map(turn["response_words"], "turn.response_words", _str)
    if turn["last_complete_at"] is not None:
        _num(turn["last_complete_at"], "turn.last_complete_at")
    for i, tok in enumerate(_list(turn["tokens"], "turn.tokens")):
        index, text, lp = _row(tok, f"turn.tokens[{i}]", 3)
        _int(index, f"turn.tokens[{i}][0]")
        _str(text, f"turn.tokens[{i}][1]")
        if lp is not None:
            _num(lp, f"turn.tokens[{i}][2]", hi=0.0)
    _check_loops(turn["loops"], "turn.loops")

    task = _obj(
        doc["task"],
        "task",
        {"index", "halt", "cost_quality", "implicit_corrections", "ignored_corrections"},
    )
    _int(task["index"], "task.index")
    _int(task["implicit_corrections"], "task.implicit_corrections")
    _int(task["ignored_corrections"], "task.ignored_corrections")
    if task["halt"] is not None:
        _check_reason(task["halt"], "task.halt")
    cq = _obj(
        task["cost_quality"],
        "task.cost_quality",
        {"tokens_in", "tokens_out", "wallclock_ms", "qualities", "cluster_fails"},
    )
    _int(cq["tokens_in"], "task.cost_quality.tokens_in")
    _int(cq["tokens_out"], "task.cost_quality.tokens_out")
    _num(cq["wallclock_ms"], "task.cost_quality.wallclock_ms", lo=0.0)
    for i, q in enumerate(_list(cq["qualities"], "task.cost_quality.qualities")):
        _num(q, f"task.cost_quality.qualities[{i}]", lo=0.0, hi=1.0)
    for i, row in enumerate(_list(cq["cluster_fails"], "task.cost_quality.cluster_fails")):
        k, v = _row(row, f"task.cost_quality.cluster_fails[{i}]", 2)
        _str(k, f"task.cost_quality.cluster_fails[{i}][0]")
        _int(v, f"task.cost_quality.cluster_fails[{i}][1]")
    check_learned(doc["learned"])
    return doc


def _check_loops(value: Any, path: str) -> None:
    loops = _obj(
        value,
        path,
        {
            "recent",
            "runs",
            "counts_by_name",
            "total_calls",
            "failures",
            "invalid",
            "duration_ms",
            "warning",
            "same_call",
            "fail_streak",
        },
    )
    for i, name in enumerate(_list(loops["recent"], f"{path}.recent")):
        _str(name, f"{path}.recent[{i}]")
    for i, run in enumerate(_row(loops["runs"], f"{path}.runs", 3)):
        _int(run, f"{path}.runs[{i}]")
    _str_map(loops["counts_by_name"], f"{path}.counts_by_name", _int)
    _str_map(loops["fail_streak"], f"{path}.fail_streak", _int)
    for key in ("total_calls", "failures", "invalid"):
        _int(loops[key], f"{path}.{key}")
    _num(loops["duration_ms"], f"{path}.duration_ms", lo=0.0)
    if loops["warning"] is not None:
        name, count, pattern, halt_at = _row(loops["warning"], f"{path}.warning", 4)
        _str(name, f"{path}.warning[0]")
        _int(count, f"{path}.warning[1]")
        if pattern not in ("same_tool", "cycle", "same_call"):
            raise _fail(f"{path}.warning[2]", f"unknown loop pattern {pattern!r}")
        _int(halt_at, f"{path}.warning[3]")
    for i, row in enumerate(_list(loops["same_call"], f"{path}.same_call")):
        key, count, turn = _row(row, f"{path}.same_call[{i}]", 3)
        _str(key, f"{path}.same_call[{i}][0]")
        _int(count, f"{path}.same_call[{i}][1]")
        _int(turn, f"{path}.same_call[{i}][2]")


_REASON_FIELDS: dict[str, dict[str, Callable[[Any, str], object]]] = {
    "cost_cap_reached": {"tokens_spent": _int, "tokens_cap": _int, "mean_quality_last_n": _num},
    "quality_decline_no_recovery": {"turns": _int, "mean_delta": _num},
    "repeated_tool_call_loop": {"tool_name": _str, "consecutive_count": _int, "pattern": _str},
    "repeated_failure_pattern": {"cluster": _str, "failure_count": _int},
}


def _check_reason(value: Any, path: str) -> None:
    if not isinstance(value, dict) or value.get("kind") not in _REASON_FIELDS:
        raise _fail(path, "expected a circuit-break reason with a known kind")
    spec = _REASON_FIELDS[value["kind"]]
    _obj(value, path, {"kind", *spec})
    for key, check in spec.items():
        check(value[key], f"{path}.{key}")


def is_noos(data: Any) -> bool:
    """Whether ``data`` looks like a snapshot exported by ``noos``."""
    return (
        isinstance(data, dict)
        and "format" not in data
        and {"user_id", "learned", "correction_patterns"} <= data.keys()
    )


def noos_learned(data: dict[str, Any]) -> tuple[str, list[list[Any]]]:
    """``(user_id, learned rows)`` from a ``noos`` snapshot."""
    user_id = _str(data["user_id"], "user_id")
    patterns = data["correction_patterns"]
    if not isinstance(patterns, dict):
        raise _fail("correction_patterns", "expected an object")
    rows = []
    for cluster, p in patterns.items():
        path = f"correction_patterns.{cluster}"
        if not isinstance(p, dict):
            raise _fail(path, "expected an object")
        count = _int(p.get("learned_from_turns"), f"{path}.learned_from_turns")
        examples = [
            _str(t, f"{path}.example_corrections[{i}]")
            for i, t in enumerate(_list(p.get("example_corrections", []), path))
        ]
        if count:
            rows.append([cluster, count, examples[::-1]])
    return user_id, rows
