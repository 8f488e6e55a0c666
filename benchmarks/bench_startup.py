"""Start-up cost: ``import tether``, ``tether --help`` and ``tether run -- true``.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_startup.py [--runs 15]

The first table is wall time net of a bare interpreter. The second is CPU time
(user + system of the child process, from ``os.wait4``), the figure the
``tether run`` target is stated in: ``tether run -- true`` at most 1.5x
``tether --help`` (medians of ``--runs`` runs; CPU time does not depend on what
else the machine runs as much as wall time does).

Each command runs ``--runs`` times as a fresh subprocess (after one untimed
warm-up run that fills the OS file cache and ``__pycache__``); the table shows
the median wall time, and the median minus the median of ``python -c pass``.
Then it lists which heavy modules are imported by ``import tether`` (expected:
none) and by ``tether --help``, and the slowest imports of each (``-X importtime``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGETS_MS = {"import tether": 100.0, "tether --help": 200.0}
HEAVY = ("pydantic", "re2", "yaml", "typer", "rich", "click", "sqlite3")


def _wall(cmd: list[str], runs: int) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    subprocess.run(cmd, capture_output=True, env=env, check=True)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cpu(cmd: list[str], runs: int) -> float:
    """Median CPU seconds (user + system) of ``cmd`` as a child process, after one warm-up run."""
    times = []
    for i in range(runs + 1):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if i:
            times.append(usage.ru_utime + usage.ru_stime)
    return statistics.median(times)


RUN_RATIO_TARGET = 1.5
"""``tether run -- true`` may cost at most this many times ``tether --help`` in CPU."""


def _modules_after(code: str) -> list[str]:
    probe = (
        f"import sys\n{code}\n"
        f"print('MODULES:' + ','.join(m for m in {HEAVY!r} if m in sys.modules or "
        "any(k.startswith(m + '.') for k in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("MODULES:"))
    return [m for m in line.removeprefix("MODULES:").split(",") if m]


def _slowest_imports(cmd: list[str], top: int = 8) -> list[tuple[int, str]]:
    """Top-level packages by cumulative import time (µs) under ``-X importtime``."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd], capture_output=True, text=True
    )
    totals: dict[str, int] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        parts = line.split("|")
        cumulative, name = int(parts[1]), parts[2]
        if len(name) - len(name.lstrip()) <= 1:  # a top-level import (no nesting indent)
            totals[name.strip()] = totals.get(name.strip(), 0) + cumulative
    return sorted(((us, mod) for mod, us in totals.items()), reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    python = sys.executable
    script = Path(python).parent / "tether"
    if not script.exists():
        sys.exit(f"console script not found: {script} (install the package in this venv)")

    baseline = _wall([python, "-c", "pass"], args.runs)
    cases = {
        "import tether": [python, "-c", "import tether"],
        "tether --help": [str(script), "--help"],
    }
    measured = {label: _wall(cmd, args.runs) for label, cmd in cases.items()}

    print(f"Start-up benchmark (median of {args.runs} runs, python {sys.version.split()[0]})")
    head = f"{'command':<22} | {'raw ms':>8} | {'net ms':>8} | {'target ms':>9} | verdict"
    print(head)
    print("-" * len(head))
    print(f"{'python -c pass':<22} | {baseline * 1e3:>8.1f} | {'-':>8} | {'-':>9} | baseline")
    for label, wall in measured.items():
        net = (wall - baseline) * 1e3
        target = TARGETS_MS[label]
        verdict = "PASS" if net <= target else "MISS"
        print(f"{label:<22} | {wall * 1e3:>8.1f} | {net:>8.1f} | {target:>9.0f} | {verdict}")

    print()
    help_cpu = _cpu([str(script), "--help"], args.runs)
    run_cpu = _cpu([str(script), "run", "--", "true"], args.runs)
    ratio = run_cpu / help_cpu
    verdict = "PASS" if ratio <= RUN_RATIO_TARGET else "MISS"
    print(f"CPU time (user+sys, median of {args.runs} runs)")
    print(f"  tether --help          {help_cpu * 1e3:8.1f} ms")
    print(f"  tether run -- true     {run_cpu * 1e3:8.1f} ms")
    print(f"  ratio                  {ratio:8.2f}x (target <= {RUN_RATIO_TARGET}x) {verdict}")

    print()
    after_import = _modules_after("import tether")
    print(f"heavy modules after `import tether`: {', '.join(after_import) or 'none'}")
    help_probe = (
        "import sys\nsys.argv = ['tether', '--help']\nfrom tether.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    after_help = _modules_after(help_probe)
    print(f"heavy modules after `tether --help`: {', '.join(after_help) or 'none'}")
    run_probe = help_probe.replace("'--help'", "'run', '--', 'true'")
    after_run = _modules_after(run_probe)
    print(f"heavy modules after `tether run -- true`: {', '.join(after_run) or 'none'}")

    print()
    print("slowest top-level imports (-X importtime, cumulative ms, one run):")
    for label, code in (("import tether", "import tether"), ("tether --help", help_probe)):
        top = _slowest_imports(["-c", code])
        listed = ", ".join(f"{mod} {us / 1e3:.1f}" for us, mod in top)
        print(f"  {label}: {listed}")


if __name__ == "__main__":
    main()
