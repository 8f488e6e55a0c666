"""The starter pack on its corpus: families x cases, recovered, recognised, false fires.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_starter.py [--family NAME] [--verbose]

Every case of every ``tests/starter/corpus_*.py`` module (the same scenarios the
tests assert) is built in a fresh temporary directory and run through
``Tether.run_command`` with a fresh home (its ``packs`` switched on in
``config.yaml``); the clock's sleeps are recorded, never waited. A case whose
tool is missing is counted as skipped.

Columns, per family:

- ``cases``: cases run (skipped ones apart);
- ``recovered``: ``recovered`` cases whose re-run passed, out of those expected;
- ``recognised``: ``recognised`` cases where a rule fired, changed nothing and the
  command's exit code came back, out of those expected;
- ``matched``: ``not-fired`` cases (passing commands, read-side twins, unrelated
  failures) for which some rule matched and its action refused (changing nothing):
  the text alone could not tell, the action's precondition did;
- ``false fires``: ``not-fired`` cases where a rule's action completed, or the exit
  code changed (target: 0);
- ``wrong``: any other case whose outcome was not the expected one.

The last column is the wall time of the family's cases (running the real tools twice
or more per case: the failure and the re-runs).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.starter.corpus import ALL_CASES, Case  # noqa: E402

from tether import Tether  # noqa: E402


@dataclass
class Row:
    """The tallies of one family."""

    cases: int = 0
    skipped: int = 0
    recovered: int = 0
    expected_recovered: int = 0
    recognised: int = 0
    expected_recognised: int = 0
    matched: int = 0
    false_fires: int = 0
    wrong: int = 0
    seconds: float = 0.0


def run_case(case: Case, base: Path) -> str:
    """Run one case in a fresh directory under ``base``; return ``"ok"``, ``"matched"``, ``"false fire"`` or ``"wrong"``."""
    work, home = base / "work", base / "home"
    work.mkdir()
    home.mkdir()
    (base / "elsewhere").mkdir()
    if case.packs:
        (home / "config.yaml").write_text(f"engine:\n  packs: [{', '.join(case.packs)}]\n")
    argv = case.setup(work)
    engine = Tether(home=home, sleep=lambda s: None)
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    attempts = outcome.attempts if outcome is not None else []
    completed = [a for a in attempts if a.outcome != "action_error"]
    if case.expect == "recovered":
        return (
            "ok" if result.exit_code == 0 and outcome is not None and outcome.recovered else "wrong"
        )
    if case.expect == "recognised":
        said = bool(attempts) and "MergeConflict" in (attempts[0].error or "")
        return "ok" if said and not completed and result.exit_code != 0 else "wrong"
    if completed or (outcome is not None and outcome.recovered):
        return "false fire"
    return "matched" if attempts else "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", help="only this family")
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    args = parser.parse_args()
    rows: dict[str, Row] = defaultdict(Row)
    for case in ALL_CASES():
        if args.family and case.family != args.family:
            continue
        row = rows[case.family]
        missing = [tool for tool in case.needs if shutil.which(tool) is None]
        if missing:
            row.skipped += 1
            continue
        row.cases += 1
        row.expected_recovered += case.expect == "recovered"
        row.expected_recognised += case.expect == "recognised"
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bench-starter-") as tmp:
            try:
                verdict = run_case(case, Path(tmp))
            except Exception as exc:  # a broken scenario is a wrong case, not a crash
                verdict = f"wrong ({type(exc).__name__}: {exc})"
        row.seconds += time.perf_counter() - started
        if verdict == "ok":
            row.recovered += case.expect == "recovered"
            row.recognised += case.expect == "recognised"
        elif verdict == "matched":
            row.matched += 1
        elif verdict == "false fire":
            row.false_fires += 1
        else:
            row.wrong += 1
        if args.verbose or verdict not in ("ok", "matched"):
            print(f"  {case.id:<48} {case.expect:<11} {verdict}", file=sys.stderr)

    header = (
        "family",
        "cases",
        "skipped",
        "recovered",
        "recognised",
        "matched",
        "false fires",
        "wrong",
        "s",
    )
    lines = [header]
    total = Row()
    for family in sorted(rows):
        r = rows[family]
        for name in vars(total):
            setattr(total, name, getattr(total, name) + getattr(r, name))
        lines.append(_cells(family, r))
    lines.append(_cells("total", total))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for number, line in enumerate(lines):
        print(" | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
        if number == 0 or number == len(lines) - 2:
            print("-+-".join("-" * w for w in widths))


def _cells(family: str, r: Row) -> tuple[str, ...]:
    return (
        family,
        str(r.cases),
        str(r.skipped),
        f"{r.recovered}/{r.expected_recovered}",
        f"{r.recognised}/{r.expected_recognised}",
        str(r.matched),
        str(r.false_fires),
        str(r.wrong),
        f"{r.seconds:.1f}",
    )


if __name__ == "__main__":
    main()
