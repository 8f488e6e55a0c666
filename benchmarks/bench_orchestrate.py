"""Automations and the inbox: schedule drift and concurrent inbox writes, tether beside the seed.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_orchestrate.py [--slots 25] [--writers 8] [--puts 200]
        [--seed-python /tmp/seed-venv/bin/python]

- **drift**: an automation every 2 s whose run takes 1 s (a real ``time.sleep``), scheduled
  by a real :class:`tether.orchestrate.Scheduler` daemon on a real store in a temporary home;
  drift is the run's start minus its slot's time, over ``--slots`` slots (p50, p99, max).
  The seed (*agentic-loop* 0.3.0, ``run_interval``: "sleep after the run") runs the same task
  at the same time in its own venv when ``--seed-python`` points at one (``python -m venv
  /tmp/seed-venv && /tmp/seed-venv/bin/pip install agentic-loop==0.3.0``); its drift is
  measured against the same fixed-rate slots (start + 2 s x k). Target: p99 <= 50 ms.
- **inbox**: ``--writers`` processes each putting ``--puts`` items (half on one shared
  dedupe key, half on keys of their own) into one home; writes per second and whether the
  shared count came out exact. The seed has no inbox.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SEED_DRIVER = r"""
import asyncio, json, sys, time
from agentic_loop.orchestration.automations import run_interval

n = int(sys.argv[1])
starts = []

async def task():
    starts.append(time.time())
    await asyncio.sleep(1.0)

t0 = time.time()
asyncio.run(run_interval(every="2s", task=task, max_runs=n))
print(json.dumps([s - (starts[0] + 2.0 * k) for k, s in enumerate(starts)]))
"""

PUTTER = r"""
import os, sys, time
from tether.orchestrate import Inbox
from tether.store import open_store

inbox = Inbox(open_store(sys.argv[1]))
inbox.store.open()
me, n, start_at = os.getpid(), int(sys.argv[2]), float(sys.argv[3])
time.sleep(max(0.0, start_at - time.time()))  # all writers start together, imports done
for i in range(n):
    if i % 2:
        inbox.put("shared:failure", "shared", run_id=f"{me}-{i}")
    else:
        inbox.put(f"own:{me}:{i}", "mine")
print(time.time())
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def tether_drift(slots: int) -> list[float]:
    from tether.orchestrate import Automation, Every, RunRecord, Scheduler
    from tether.store import open_store

    drifts: list[float] = []
    stop = threading.Event()

    def run(automation: Automation, slot: object) -> RunRecord:
        drifts.append(time.time() - slot.start_s)  # type: ignore[attr-defined]
        if len(drifts) >= slots:
            stop.set()
        time.sleep(1.0)
        return RunRecord(ok=True, status="SUCCESS")

    with tempfile.TemporaryDirectory() as home:
        a = Automation("bench", Every(2.0), "sleep 1s", created_s=time.time())
        Scheduler(open_store(home), [a], run).run(stop)
    return drifts[:slots]


def seed_drift(python: str, slots: int) -> subprocess.Popen[str] | None:
    if not python or not Path(python).exists():
        return None
    return subprocess.Popen(
        [python, "-c", SEED_DRIVER, str(slots)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def inbox_rate(writers: int, puts: int) -> tuple[float, bool]:
    from tether.orchestrate import Inbox
    from tether.store import open_store

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with tempfile.TemporaryDirectory() as home:
        open_store(home).open()  # schema first, so the writers time only their puts
        start_at = time.time() + 3.0 + 0.3 * writers  # past every writer's imports
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", PUTTER, home, str(puts), str(start_at)],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(writers)
        ]
        ends = [float(p.communicate()[0].strip()) for p in procs]
        elapsed = max(ends) - start_at
        shared = Inbox(open_store(home)).get("shared:failure")
        exact = shared.count == writers * (puts // 2) and len(shared.run_ids) == shared.count
    return writers * puts / elapsed, exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=25, help="slots measured (2 s each)")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--puts", type=int, default=200, help="puts per writer")
    parser.add_argument("--seed-python", default="/tmp/seed-venv/bin/python")
    args = parser.parse_args()

    seed = seed_drift(args.seed_python, args.slots)  # runs beside tether's, same wall time
    ours = tether_drift(args.slots)
    theirs: list[float] | None = None
    if seed is not None:
        out, err = seed.communicate(timeout=args.slots * 4 + 60)
        theirs = json.loads(out) if seed.returncode == 0 else None
        if theirs is None:
            print(f"seed did not run: {err.strip()[-300:]}", file=sys.stderr)
    rate, exact = inbox_rate(args.writers, args.puts)

    print(f"\nschedule drift: a 1 s task every 2 s, {args.slots} slots (start - slot, ms)")
    print(f"{'scheduler':<34}{'p50':>10}{'p99':>10}{'max':>10}  each slot once")
    rows = [("tether Scheduler (fixed-rate)", ours, "yes (store claim)")]
    if theirs is not None:
        rows.append(("agentic-loop 0.3.0 run_interval", theirs, "n/a (one process)"))
    for name, values, once in rows:
        ms = [v * 1000 for v in values]
        print(f"{name:<34}{pct(ms, 0.5):>10.1f}{pct(ms, 0.99):>10.1f}{max(ms):>10.1f}  {once}")
    if theirs is None:
        print("agentic-loop 0.3.0: not measured (no --seed-python venv)")
    print(f"\ninbox: {args.writers} processes x {args.puts} puts")
    print(f"{'writes/s':<34}{rate:>10.0f}")
    print(f"{'shared count exact':<34}{'yes' if exact else 'NO':>10}")


if __name__ == "__main__":
    main()
