"""Store operations per second: the SQLite file against PostgreSQL, with 1 and 8 processes.

Usage (from the repository root; PostgreSQL needs ``pip install -e '.[fleet]'``)::

    .venv/bin/python benchmarks/bench_store.py --pg-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/bench_store.py --quick        # 0.5 s per cell

The URL defaults to ``$TETHER_BENCH_PG_URL``, else ``$TETHER_TEST_PG_URL`` (what ``.ci/run``
exports); without one only SQLite is measured. Each cell gets a fresh store (a new file in
a temporary directory; a new schema, dropped afterwards). Workers are separate processes
(``spawn``): each opens its own store, does one warm-up operation, waits at a barrier, then
repeats its operation for ``--seconds``. The figure is all workers' operations divided by
that time. Operations:

- ``record``: ``record_outcome`` on one shared rule (the hot counter: every worker hits one row);
- ``stats``: ``rule_stats`` over 50 rules (a read);
- ``decide``: ``add_approval`` then ``set_approval_status`` of a new token (two writes);
- ``regulator``: ``load_regulator_state_versioned`` then a versioned save of the worker's user
  (a read and a compare-and-set write).

Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

OPS = ("record", "stats", "decide", "regulator")


def open_store(spec: str) -> Any:
    """``sqlite:<path>`` or a PostgreSQL URL."""
    if spec.startswith("sqlite:"):
        from tether.store.sqlite import SQLiteStore

        return SQLiteStore(Path(spec.removeprefix("sqlite:")))
    from tether.store.postgres import PostgresStore

    return PostgresStore(spec, max_connections=1)


def operation(store: Any, op: str, me: int) -> Callable[[int], None]:
    """One call of ``op`` (``n`` makes tokens unique)."""
    if op == "record":
        return lambda n: store.record_outcome("shared", "success" if n % 5 else "failure")
    if op == "stats":
        return lambda n: store.rule_stats()
    if op == "decide":

        def decide(n: int) -> None:
            token = f"apv_{me}_{n}"
            store.add_approval(token, "/runs/bench", {"requests": []}, 1.0, 2e9)
            store.set_approval_status(token, "approved", now_s=2.0)

        return decide

    def regulate(n: int) -> None:
        found = store.load_regulator_state_versioned(f"user-{me}")
        store.save_regulator_state(
            f"user-{me}", f'{{"n": {n}}}', expected_version=0 if found is None else found[1]
        )

    return regulate


def worker(spec: str, op: str, me: int, seconds: float, barrier: Any, out: Any) -> None:
    store = open_store(spec)
    call = operation(store, op, me)
    call(-1)  # connect, migrate, warm up
    barrier.wait()
    deadline = time.perf_counter() + seconds
    count = 0
    while time.perf_counter() < deadline:
        call(count)
        count += 1
    store.close()
    out.put(count)


def prepare(spec: str, op: str) -> None:
    store = open_store(spec)
    if op == "stats":
        for n in range(50):
            store.record_outcome(f"rule-{n:02d}", "success")
    store.open()
    store.close()


def measure(spec: str, op: str, processes: int, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    prepare(spec, op)
    barrier = ctx.Barrier(processes)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(spec, op, me, seconds, barrier, out))
        for me in range(processes)
    ]
    for proc in procs:
        proc.start()
    counts = [out.get(timeout=120 + seconds) for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a worker failed ({op}, {processes} processes)")
    return sum(counts) / seconds


def fresh_pg(base: str) -> tuple[str, Callable[[], None]]:
    """A new schema in ``base``'s database: its URL and how to drop it."""
    import psycopg

    schema = "bench_" + secrets.token_hex(4)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=" + quote(f"-csearch_path={schema}", safe=""), drop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TETHER_BENCH_PG_URL") or os.environ.get("TETHER_TEST_PG_URL"),
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="per cell (default 2)")
    parser.add_argument("--processes", default="1,8", help="comma-separated (default 1,8)")
    parser.add_argument("--ops", default=",".join(OPS), help=f"of {', '.join(OPS)}")
    parser.add_argument("--quick", action="store_true", help="0.5 s per cell")
    args = parser.parse_args(argv)
    seconds = 0.5 if args.quick else args.seconds
    counts = [int(p) for p in args.processes.split(",")]
    ops = [op for op in args.ops.split(",") if op]
    unknown = set(ops) - set(OPS)
    if unknown:
        parser.error(f"--ops: unknown {', '.join(sorted(unknown))} (choose from {', '.join(OPS)})")
    backends = ["sqlite"] + (["postgresql"] if args.pg_url else [])
    if not args.pg_url:
        print("no --pg-url / $TETHER_BENCH_PG_URL: SQLite only", file=sys.stderr)

    results: dict[tuple[str, str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="tether-bench-store-") as tmp:
        for backend in backends:
            for op in ops:
                for n in counts:
                    drop: Callable[[], None] = lambda: None  # noqa: E731
                    if backend == "sqlite":
                        spec = f"sqlite:{tmp}/{op}-{n}.db"
                    else:
                        spec, drop = fresh_pg(args.pg_url)
                    print(f"{backend} {op} x{n} ...", file=sys.stderr, flush=True)
                    try:
                        results[backend, op, n] = measure(spec, op, n, seconds)
                    finally:
                        drop()

    header = ["operation", "backend", *[f"{n} proc ops/s" for n in counts]]
    rows = [
        [op, backend, *[f"{results[backend, op, n]:,.0f}" for n in counts]]
        for op in ops
        for backend in backends
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"store operations per second ({seconds:g} s a cell, cpus: {os.cpu_count()})")
    for row in [header, ["-" * w for w in widths], *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
