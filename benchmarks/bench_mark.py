"""Per-call overhead of ``@Tether().mark`` on a function that does not raise.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_mark.py [--loops 2000000] [--repeat 5]

``timeit`` runs the bare function and the marked one ``--loops`` times,
``--repeat`` times each; the best (minimum) run of each is taken, as the
``timeit`` documentation recommends. Overhead = marked - bare, in ns per call.
Both the positional call ``f(x)`` and a keyword call ``f(x, y=2)`` are measured,
for a sync function; the disabled wrapper (``enabled=False``) is shown too.
Nothing is read from disk: the engine's home is an empty temporary directory.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import timeit

TARGET_NS = 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loops", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from tether import Tether

    home = tempfile.mkdtemp(prefix="tether-bench-mark-")
    engine = Tether(home=home)

    def bare(x: int, y: int = 1) -> int:
        return x + y

    marked = engine.mark(bare)
    marked_with_settings = engine.mark(max_retries=2, tags=["bench"])(bare)
    disabled = engine.mark(enabled=False)(bare)

    def best_ns(stmt: str, fn: object) -> float:
        times = timeit.repeat(stmt, globals={"f": fn}, number=args.loops, repeat=args.repeat)
        return min(times) / args.loops * 1e9

    print(
        f"@mark overhead (best of {args.repeat} x {args.loops:,} calls, "
        f"python {sys.version.split()[0]})"
    )
    head = (
        f"{'call':<14} | {'bare ns':>8} | {'wrapper':<22} | {'wrapped ns':>10} | "
        f"{'overhead ns':>11} | {'target ns':>9} | verdict"
    )
    print(head)
    print("-" * len(head))
    for stmt in ("f(1)", "f(1, y=2)"):
        base = best_ns(stmt, bare)
        for label, fn in (
            ("@t.mark", marked),
            ("@t.mark(...)", marked_with_settings),
            ("mark(enabled=False)", disabled),
        ):
            wrapped = best_ns(stmt, fn)
            over = wrapped - base
            verdict = "PASS" if over <= TARGET_NS else "MISS"
            print(
                f"{stmt:<14} | {base:>8.1f} | {label:<22} | {wrapped:>10.1f} | {over:>11.1f} | "
                f"{TARGET_NS:>9.0f} | {verdict}"
            )


if __name__ == "__main__":
    main()
