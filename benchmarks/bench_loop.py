"""Governed-loop speed: overhead per iteration with state saving off and on, state size, resume.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_loop.py [--iterations 1000] [--repeat 5] [--resumes 7]
                                              [--trace] [--tmpdir DIR] [--peer PYTHON]

    # the peer runtime goes in a venv of its own, never in tether's:
    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install tightloop
    .venv/bin/python benchmarks/bench_loop.py --peer /tmp/peer/bin/python

About 15 s with the defaults; ``--peer`` adds about 25 s.

The scenario: an instant scripted model (``tether.testing.ScriptedModel``) whose
every turn calls a trivial sync tool with new arguments, ``policies=[]`` (only
the iteration ceiling ends the run), token and wall-clock ceilings out of
reach, ``quiet=True``. The time of iteration *k* is the gap between the
``iteration.start`` events of *k* and *k+1* (the last one ends at ``loop.end``);
its CPU time is the process's CPU time (all threads) over the same gap, which
other jobs on a shared machine disturb less. An untimed 30-iteration run with
state off and one with state on warm the process up first.

1. **Per iteration**, state saving off and on (``state_path``: snapshot +
   journal, in a temporary directory), ``--repeat`` runs each, alternated:
   iterations 1-10, 11-20, the last 10 and all. *wall mean* is the window's
   mean (the median of the runs' means; the verdict uses it); *median* is the
   median iteration of the window over all runs. With state on the snapshot
   is rewritten every ``SNAPSHOT_EVERY`` journal records, and an iteration
   writes two (after the model call and at its end); those iterations are
   shown apart. *growth* divides the last window's median by that of 11-20;
   the CPU median of every 100 iterations follows the table.
2. **State size**, one more run with state on: bytes written per iteration
   (the process's ``wchar`` from ``/proc/self/io`` read at every
   ``iteration.start``; elsewhere the growth of the files), and the snapshot +
   journal on disk after iteration 100 and after the last one.
3. **Resume** of that state, ``--resumes`` times, each on a fresh copy:
   ``Loop.load`` (read the snapshot, replay the journal, rebuild the loop;
   ``StateFile.load`` alone is timed too), then ``run()`` until the resumed
   run's first model request. Three more in fresh processes, where the first
   call of each code path is paid (the imports are shown apart).
4. **Peer** (``--peer PYTHON``): the same scenario through tightloop (PyPI
   ``tightloop``, import name ``loop``: a governed loop runtime with ceilings,
   policies, state saving and resume), run by that interpreter in a
   subprocess (``--peer-child``) so tether's venv never gets it. Its state-on
   run is done once (it rewrites the whole state every iteration: about 20 s
   for 1000 iterations). Its resume is ``Loop.resume``: *load* ends when the
   loop object is built, *to the first model request* when its model is
   first called. Ratios are tightloop / tether (above 1: tether is faster).

Targets (issue 4, "Speed"): at most 1 ms per iteration at iteration 10 and at
iteration 1000 with state on, no growth; resume (``Loop.load``) at most 50 ms.
With ``--trace`` the timed runs also append every event to a JSONL trace.
Tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TARGET_MS = 1.0
TARGET_RESUME_MS = 50.0
GOAL = "benchmark"


def noop(i: int) -> str:
    """Do nothing with ``i``."""
    return "ok"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def wchar() -> int | None:
    """Bytes this process has passed to write() so far (Linux), else ``None``."""
    try:
        with open("/proc/self/io", "rb") as fh:
            for line in fh:
                if line.startswith(b"wchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def gaps_of(stamps: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(stamps)]


# -- tether ---------------------------------------------------------------------------------------


def tether_run(
    n: int, state: Path | None, trace: Path | None = None, *, watch: bool = False
) -> dict[str, Any]:
    """One run of ``n`` iterations; gaps in seconds, and with ``watch`` the state files after
    every iteration (``[snapshot size, snapshot inode, journal size, wchar]``)."""
    from tether.loop import Loop
    from tether.testing import ScriptedModel, call, reply

    journal = state.with_name(state.name + ".journal") if state is not None else None
    stamps: list[float] = []
    cpu: list[float] = []
    seen: list[list[Any]] = []

    def look() -> list[Any]:
        assert state is not None and journal is not None
        snap = state.stat()
        return [snap.st_size, snap.st_ino, file_size(journal), wchar()]

    def record(event: dict[str, Any]) -> None:
        if event["event"] in ("iteration.start", "loop.end"):
            stamps.append(time.perf_counter())
            cpu.append(time.process_time())
            if watch:
                seen.append(look())

    script = [reply(tool_calls=[call("noop", i=i)], usage=(10, 5)) for i in range(n)]
    loop = Loop(GOAL, [noop], ScriptedModel(script), policies=[], max_iterations=n,
                token_limit=10**12, wall_clock_s=10**6, state_path=state, trace_path=trace,
                on_event=record, quiet=True)  # fmt: skip
    gc.collect()
    result = loop.run()
    if watch:
        seen.append(look())  # after the run's last record
    return {"status": result.status.value, "gaps": gaps_of(stamps), "cpu": gaps_of(cpu),
            "watch": seen}  # fmt: skip


def tether_resume(state: Path, n: int) -> dict[str, float]:
    """Load a saved run and run it until its first model request; times in ms."""
    from tether.loop import Loop
    from tether.testing import ScriptedModel, call, reply

    first: list[float] = []

    def turn(request: Any) -> Any:
        first.append(time.perf_counter())
        return reply(tool_calls=[call("noop", i=n + 1)], usage=(10, 5))

    model = ScriptedModel([turn])
    gc.collect()
    t0 = time.perf_counter()
    loop = Loop.load(state, tools=[noop], llm=model, extend={"max_iterations": 1},
                     policies=[], quiet=True)  # fmt: skip
    t1 = time.perf_counter()
    result = loop.run()
    if not first or result.iterations != n + 1:
        raise SystemExit(f"resume did not run its iteration: {result.status} {result.reason}")
    return {"load": (t1 - t0) * 1e3, "run_to_first": (first[0] - t1) * 1e3,
            "to_first": (first[0] - t0) * 1e3}  # fmt: skip


def resume_child(state: Path, n: int) -> None:
    """``--resume-child``: a fresh process's resume, imports included (JSON on stdout)."""
    t0 = time.perf_counter()
    import tether.loop
    import tether.testing  # noqa: F401  (the imports are what is timed)

    imported = (time.perf_counter() - t0) * 1e3
    times = tether_resume(state, n)
    print(json.dumps({"import": imported, **times}))


def state_copy(src: Path, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True)
    for name in (src.name, src.name + ".journal"):
        if (src.parent / name).exists():
            shutil.copy(src.parent / name, dest_dir / name)
    return dest_dir / src.name


# -- the peer (runs under the peer's interpreter; imports only tightloop) ---------------------------


def peer_child(n: int, repeat: int, resumes: int, tmp: Path) -> None:
    """``--peer-child``: the same scenario through tightloop; JSON on stdout."""
    from importlib.metadata import version

    from loop import CallableLLM, LLMResponse, Loop, ToolCallReq

    def model() -> tuple[Any, list[float]]:
        calls = itertools.count()
        first: list[float] = []

        def respond(messages: Any, schemas: Any) -> Any:
            k = next(calls)
            if not first:
                first.append(time.perf_counter())
            return LLMResponse(tool_calls=[ToolCallReq(id=f"call_{k}", name="noop", args={"i": k})],
                               input_tokens=10, output_tokens=5, model_id="scripted")  # fmt: skip

        return CallableLLM(respond, model_id="scripted"), first

    def run(n: int, state: Path | None, watch: bool = False) -> dict[str, Any]:
        stamps: list[float] = []
        seen: list[list[Any]] = []

        def record(event: dict[str, Any]) -> None:
            if event["kind"] in ("iteration.start", "loop.end"):
                stamps.append(time.perf_counter())
                if watch and state is not None:
                    seen.append([file_size(state), len(seen), 0, wchar()])  # rewritten whole

        llm, _ = model()
        loop = Loop(GOAL, [noop], llm, policies=[], max_iterations=n, token_limit=10**12,
                    wall_clock_s=10**6, state_path=str(state) if state else None,
                    on_event=record, quiet=True)  # fmt: skip
        gc.collect()
        result = loop.run()
        if watch and state is not None:
            seen.append([file_size(state), len(seen), 0, wchar()])
        return {"status": result.status.value, "gaps": gaps_of(stamps), "watch": seen}

    run(30, None)
    run(30, tmp / "warm.json")
    out: dict[str, Any] = {"version": version("tightloop"), "python": sys.version.split()[0]}
    out["off"] = [run(n, None)["gaps"] for _ in range(repeat)]
    on = run(n, tmp / "peer.json", watch=True)
    out["on"], out["watch"], out["status"] = [on["gaps"]], on["watch"], on["status"]
    saved = tmp / "peer.json"
    built: list[float] = []

    class Timed(Loop):  # Loop.resume = State.load + cls(..., state=) + run: mark the cls(...) end
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            built.append(time.perf_counter())

    out["resume"] = []
    for k in range(resumes):
        copy = tmp / f"peer-resume-{k}.json"
        shutil.copy(saved, copy)
        llm, first = model()
        built.clear()
        gc.collect()
        t0 = time.perf_counter()
        Timed.resume(str(copy), tools=[noop], llm=llm, extend={"max_iterations": n + 1},
                     policies=[], quiet=True)  # fmt: skip
        out["resume"].append({"load": (built[0] - t0) * 1e3, "to_first": (first[0] - t0) * 1e3})
    print(json.dumps(out))


# -- figures --------------------------------------------------------------------------------------


def window(runs: list[list[float]], lo: int, hi: int) -> tuple[float, float]:
    """Iterations ``lo``..``hi`` (1-based): (median over runs of the window mean, pooled median),
    in ms."""
    means = [statistics.fmean(g[lo - 1 : hi]) for g in runs]
    pooled = [x for g in runs for x in g[lo - 1 : hi]]
    return statistics.median(means) * 1e3, statistics.median(pooled) * 1e3


def snapshot_iterations(watch: list[list[Any]]) -> list[int]:
    """Iterations (1-based) during which the snapshot was rewritten (its inode changed)."""
    return [k for k in range(1, len(watch) - 1) if watch[k][1] != watch[k - 1][1]]


def written(watch: list[list[Any]], n: int) -> list[int]:
    """Bytes written by iteration 1..n (wchar deltas; else file growth, snapshot rewrites whole)."""
    out = []
    for k in range(1, n + 1):
        before, after = watch[k - 1], watch[k]
        if before[3] is not None and after[3] is not None:
            out.append(after[3] - before[3])
        elif after[1] != before[1]:
            out.append(after[0] + after[2])
        else:
            out.append(after[2] - before[2])
    return out


def verdict(ms: float, target: float) -> str:
    return "PASS" if ms <= target else f"over ({ms / target:.1f}x)"


def mid(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per state mode")
    parser.add_argument("--resumes", type=int, default=7, help="timed resumes (median)")
    parser.add_argument(
        "--trace", action="store_true", help="timed runs also write the JSONL trace"
    )
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the state files go")
    parser.add_argument("--peer", metavar="PYTHON", help="interpreter that has tightloop installed")
    parser.add_argument("--peer-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--resume-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.iterations
    if n < 100:
        parser.error("--iterations must be at least 100")
    if args.resume_child is not None:
        resume_child(args.resume_child, n)
        return
    tmp = Path(tempfile.mkdtemp(prefix="tether-bench-loop-", dir=args.tmpdir))
    try:
        if args.peer_child:
            peer_child(n, args.repeat, args.resumes, tmp)
        else:
            bench(args, n, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench(args: argparse.Namespace, n: int, tmp: Path) -> None:
    from tether.loop.state import SNAPSHOT_EVERY, StateFile

    counter = itertools.count()

    def trace() -> Path | None:
        return tmp / f"trace-{next(counter)}.jsonl" if args.trace else None

    def fresh_state() -> Path:
        return tmp / f"run-{next(counter)}" / "run.state"

    log(f"warm-up, then {args.repeat} x {n} iterations with state off and on ...")
    tether_run(30, None)
    tether_run(30, fresh_state())
    runs: dict[str, list[list[float]]] = {"off": [], "on": []}
    cpus: dict[str, list[list[float]]] = {"off": [], "on": []}
    for _ in range(args.repeat):  # alternate, so a busy spell hits both modes
        for mode in ("off", "on"):
            run = tether_run(n, fresh_state() if mode == "on" else None, trace())
            runs[mode].append(run["gaps"])
            cpus[mode].append(run["cpu"])
    log("state size run ...")
    saved = fresh_state()
    sized = tether_run(n, saved, watch=True)
    watch = sized["watch"]
    snaps = snapshot_iterations(watch)
    by_iteration = written(watch, n)

    log(f"{args.resumes} resumes of the {n}-iteration state ...")
    resumes = [
        tether_resume(state_copy(saved, tmp / f"resume-{k}"), n) for k in range(args.resumes)
    ]
    replay_ms = []
    records = 0
    for k in range(args.resumes):
        copy = state_copy(saved, tmp / f"replay-{k}")
        t0 = time.perf_counter()
        StateFile(copy).load()
        replay_ms.append((time.perf_counter() - t0) * 1e3)
        records = len(StateFile(copy)._records())
    fresh = []
    for k in range(3):
        copy = state_copy(saved, tmp / f"fresh-{k}")
        out = subprocess.run([sys.executable, __file__, "--iterations", str(n), "--resume-child", str(copy)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        fresh.append(json.loads(out.stdout))

    peer_out: dict[str, Any] | None = None
    if args.peer:
        log(f"peer: tightloop under {args.peer} ({args.repeat} runs off, 1 on; ~20-30 s) ...")
        cmd = [args.peer, __file__, "--peer-child", "--iterations", str(n), "--repeat",
               str(args.repeat), "--resumes", str(args.resumes), "--tmpdir", str(tmp)]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as exc:
            log(f"peer not run: {args.peer}: {exc.strerror or exc}")
        else:
            if done.returncode != 0:
                tail = done.stderr.strip().splitlines()[-1:] or ["(no output)"]
                log(
                    f"peer failed (exit {done.returncode}; is tightloop installed there?): {tail[0]}"
                )
            else:
                peer_out = json.loads(done.stdout)

    # -- per iteration -----------------------------------------------------------------------------
    print(f"governed loop: {n} iterations, {args.repeat} runs per state mode, python "
          f"{sys.version.split()[0]}, state in {tmp.parent}, trace {'on' if args.trace else 'off'}; "
          f"status {sized['status']}")  # fmt: skip
    print()
    rows = []
    for lo, hi in [(1, 10), (11, 20), (n - 9, n), (1, n)]:
        for mode in ("off", "on"):
            mean, median = window(runs[mode], lo, hi)
            _, cpu = window(cpus[mode], lo, hi)
            target = hi - lo < 10
            rows.append([f"{lo}-{hi}" if target else f"all {n}", mode, f"{mean:.3f}", f"{median:.3f}",
                         f"{cpu:.3f}", f"≤ {TARGET_MS:g}" if target else "",
                         verdict(mean, TARGET_MS) if target else ""])  # fmt: skip
    snapped = set(snaps)
    early = [k for k in snaps if k <= 100][:3]
    late = snaps[-3:]
    others = [k for k in range(1, n + 1) if k not in snapped]

    def at(iterations: list[int], source: dict[str, list[list[float]]]) -> str:
        return f"{mid([g[k - 1] for g in source['on'] for k in iterations]) * 1e3:.3f}"

    for label, ks in ((f"snapshot rewrites {', '.join(map(str, early))}", early),
                      (f"snapshot rewrites {', '.join(map(str, late))}", late),
                      (f"the other {len(others)} (journal only)", others)):  # fmt: skip
        rows.append([label, "on", "", at(ks, runs), at(ks, cpus), "", ""])
    for mode in ("off", "on"):
        wall = window(runs[mode], n - 9, n)[1] / window(runs[mode], 11, 20)[1]
        cpu = window(cpus[mode], n - 9, n)[1] / window(cpus[mode], 11, 20)[1]
        rows.append([f"growth: {n - 9}-{n} / 11-20, medians", mode, "", f"{wall:.2f}x",
                     f"{cpu:.2f}x", "no growth", "flat" if cpu <= 1.15 else "grows (CPU)"])  # fmt: skip
    table(["iterations", "state", "wall mean ms", "wall median ms", "CPU median ms", "target",
           "verdict (wall mean)"], rows)  # fmt: skip
    for mode in ("off", "on"):
        per_100 = [window(cpus[mode], lo, lo + 99)[1] for lo in range(1, n - 98, 100)]
        print(
            f"CPU median per 100 iterations, state {mode}: " + " ".join(f"{x:.3f}" for x in per_100)
        )
    print()

    # -- state size --------------------------------------------------------------------------------
    journal_only = [by_iteration[k - 1] for k in range(1, n + 1) if k not in set(snaps)]
    snap_sizes = [watch[k][0] for k in snaps]
    how = "wchar" if watch[0][3] is not None else "file growth"
    size_rows = [
        ["journal, per iteration without a snapshot rewrite (median)", f"{mid(journal_only):,.0f}"],
        [f"snapshot rewrite: every {len(snaps) and snaps[0]} iterations ({SNAPSHOT_EVERY} records), "
         f"size at iteration {snaps[0] if snaps else '-'} / {snaps[-1] if snaps else '-'}",
         f"{snap_sizes[0]:,} / {snap_sizes[-1]:,}" if snaps else "-"],
        ["written per iteration, mean over 1-100 (snapshots included)",
         f"{statistics.fmean(by_iteration[:100]):,.0f}"],
        [f"written per iteration, mean over {n - 99}-{n}", f"{statistics.fmean(by_iteration[-100:]):,.0f}"],
        ["on disk after iteration 100 (snapshot + journal)",
         f"{watch[100][0]:,} + {watch[100][2]:,} = {watch[100][0] + watch[100][2]:,}"],
        [f"on disk after iteration {n} (run ended)",
         f"{watch[-1][0]:,} + {watch[-1][2]:,} = {watch[-1][0] + watch[-1][2]:,}"],
    ]  # fmt: skip
    table([f"state size ({how})", "bytes"], size_rows)

    # -- resume ------------------------------------------------------------------------------------
    load = [r["load"] for r in resumes]
    to_first = [r["to_first"] for r in resumes]
    res_rows = [
        ["Loop.load", f"{mid(load):.2f}", f"{min(load):.2f}-{max(load):.2f}",
         f"≤ {TARGET_RESUME_MS:g}", verdict(mid(load), TARGET_RESUME_MS)],
        [f"  of which StateFile.load (snapshot + {records} journal records)",
         f"{mid(replay_ms):.2f}", f"{min(replay_ms):.2f}-{max(replay_ms):.2f}", "", ""],
        ["run() to the first model request", f"{mid([r['run_to_first'] for r in resumes]):.2f}", "", "", ""],
        ["Loop.load to the first model request", f"{mid(to_first):.2f}",
         f"{min(to_first):.2f}-{max(to_first):.2f}", f"≤ {TARGET_RESUME_MS:g}",
         verdict(mid(to_first), TARGET_RESUME_MS)],
        ["fresh process: import tether.loop + tether.testing", f"{mid([f['import'] for f in fresh]):.1f}", "", "", ""],
        ["fresh process: Loop.load to the first model request", f"{mid([f['to_first'] for f in fresh]):.2f}",
         "", f"≤ {TARGET_RESUME_MS:g}", verdict(mid([f["to_first"] for f in fresh]), TARGET_RESUME_MS)],
    ]  # fmt: skip
    table([f"resume after {n} iterations (median of {args.resumes}; fresh: of 3)", "ms", "min-max",
           "target", "verdict"], res_rows)  # fmt: skip

    if peer_out is not None:
        peer_report(peer_out, runs, by_iteration, watch, resumes, n)


def peer_report(peer: dict[str, Any], runs: dict[str, list[list[float]]], by_iteration: list[int],
                watch: list[list[Any]], resumes: list[dict[str, float]], n: int) -> None:  # fmt: skip
    print(f"peer: tightloop {peer['version']} (python {peer['python']}), same scenario; "
          f"{len(peer['off'])} runs off, {len(peer['on'])} on; status {peer['status']}")  # fmt: skip
    print()
    rows = []
    for lo, hi in [(1, 10), (11, 20), (n - 9, n), (1, n)]:
        for mode in ("off", "on"):
            ours, _ = window(runs[mode], lo, hi)
            theirs, _ = window(peer[mode], lo, hi)
            label = f"{lo}-{hi}" if hi - lo < n - 1 else f"all {n}"
            rows.append([label, mode, f"{ours:.3f}", f"{theirs:.3f}", f"{theirs / ours:.2f}x"])
    peer_written = written(peer["watch"], n)
    ours_w = statistics.fmean(by_iteration[-100:])
    theirs_w = statistics.fmean(peer_written[-100:])
    rows.append([f"bytes written per iteration, {n - 99}-{n}", "on", f"{ours_w:,.0f}",
                 f"{theirs_w:,.0f}", f"{theirs_w / ours_w:.1f}x"])  # fmt: skip
    for at, k in ((100, 100), (n, -1)):  # [-1]: after the run's last record
        ours_d = watch[k][0] + watch[k][2]
        theirs_d = peer["watch"][k][0]
        rows.append([f"state on disk after iteration {at}, bytes", "on", f"{ours_d:,}",
                     f"{theirs_d:,}", f"{theirs_d / ours_d:.1f}x"])  # fmt: skip
    for key, label in (
        ("load", "resume: load ms"),
        ("to_first", "resume: to the first model request ms"),
    ):
        ours_r = mid([r[key] for r in resumes])
        theirs_r = mid([r[key] for r in peer["resume"]])
        rows.append([label, "on", f"{ours_r:.2f}", f"{theirs_r:.2f}", f"{theirs_r / ours_r:.1f}x"])
    table(["measure (window means, ms per iteration unless said)", "state", "tether", "tightloop",
           "tightloop / tether"], rows)  # fmt: skip


if __name__ == "__main__":
    main()
