"""Rule loading (cold/warm), index build, resolve latency and RSS, beside a baseline commit.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_resolve.py                  # 10k rules, vs 94329e6
    .venv/bin/python benchmarks/bench_resolve.py --sizes 1000,10000,100000
    .venv/bin/python benchmarks/bench_resolve.py --baseline none  # this tree only
    .venv/bin/python benchmarks/bench_resolve.py --quick          # 100 and 1k rules

For each N a fresh temporary home is filled with N generated seed-format
``*.rule.yaml`` files (see ``generate_home``: regexes with named captures, an
example per stderr fact, params filled from the captures), their times set an
hour back as in a checkout that is not brand new. Then, for the baseline
(``git archive <commit> src`` into a temporary folder, run with that folder on
``PYTHONPATH``) and for this tree, in that order, on the same files, the
home's ``tether.db`` is removed and three fresh subprocesses run, so no
``functools`` cache, compiled regex or imported module carries over:

1. cold load: ``Tether(home).load()`` on a home without ``tether.db``
   (YAML parsing, validation, RE2 compilation, filling the SQLite rule cache);
2. warm load: the same in a new process, rules unchanged (served by the cache);
3. resolve: a warm load, then ``Tether.resolve(context)`` on a 64 KiB stderr of
   build noise with the one error line of a chosen rule in the middle. The first
   call builds the rule book's index and is reported on its own; the following
   calls give p50/p99. Every call must return the chosen rule.

Wall and CPU seconds are both reported: on a shared machine CPU time is the
steadier figure. The last table gives baseline / current ratios. Everything is
seeded (``--seed``), so a run is reproducible.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASELINE = "94329e6"
"""The commit before the loading work of issue 11, section 5."""

TARGETS = {
    "p50_10k_ms": 1.0,
    "p50_100k_ms": 5.0,
    "load_cold_10k_s": 5.0,
    "load_warm_10k_s": 1.0,
}

STDERR_BYTES = 64 * 1024
NOISE_VARIANTS = 8
DECOYS_PER_VARIANT = 16

# --------------------------------------------------------------------------------------
# Rule generation
# --------------------------------------------------------------------------------------

_SYLLABLES = [
    *("ba", "ko", "ri", "zen", "tor", "mak", "lu", "vis", "nar", "quo", "pel", "dri", "fen"),
    *("gus", "hal", "jor", "kel", "mun", "pra", "sol", "tam", "ux", "vel", "wen", "yor", "zil"),
    *("cra", "bre", "sti", "flo", "gar", "hex"),
]

_TOOLS = ["make", "cargo", "npm", "pip", "go", "gradle", "docker", "terraform", "pytest", "cmake"]
_EXIT_CODES = [1] * 8 + [2] * 3 + [126, 127, 127, 137, 137, 128, 255]

# Longest required literal is a phrase shared by many rules ("weak" gate).
_GENERIC = [
    ("{w1}: (?P<path>\\S+): No such file or directory", "{w1}: {path}: No such file or directory"),
    ("{w1} (?P<path>\\S+): Permission denied", "{w1} {path}: Permission denied"),
    (
        "(?P<pkg>{w1}[\\w.-]*) could not be resolved from the registry",
        "{w1}-core could not be resolved from the registry",
    ),
    (
        "{w1}\\[(?P<pid>\\d+)\\]: segmentation fault \\(core dumped\\)",
        "{w1}[4242]: segmentation fault (core dumped)",
    ),
    (
        "{w1}: connection timed out after (?P<secs>\\d+) seconds",
        "{w1}: connection timed out after 30 seconds",
    ),
    (
        "{w1}: (?P<what>\\S+): resource temporarily unavailable",
        "{w1}: {path}: resource temporarily unavailable",
    ),
    ("{w1} (?P<obj>\\S+): certificate has expired", "{w1} {path}: certificate has expired"),
    ("{w1}: (?P<dev>\\S+): No space left on device", "{w1}: {path}: No space left on device"),
]
# Generic phrases that also occur in the noise (so those rules pass the prefilter).
_GENERIC_IN_NOISE = ("No such file or directory", "Permission denied")

# A few rules have no usable literal (always checked), or only a very common one.
_NO_LITERAL = [
    ("\\w+: \\d+ errors?", "linkcheck: 3 errors"),
    ("^(?P<code>[A-Z]{2}\\d{4}):\\d+:\\d+: [EW]\\d{3,4}", "QX{num4}:12:7: E{num3}"),
    ("\\b(?P<failed>\\d+) (?:failed|errored), (?P<ok>\\d+) passed", "{num3} errored, 1 passed"),
    ("(?i)\\w+ (?:timeout|timed out) after \\d+(?:ms|s)\\b", "Handshake TIMED OUT after 9000ms"),
]


def _word(rng: random.Random, syllables: int = 3) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables))


def _camel(word: str) -> str:
    return word[:1].upper() + word[1:]


def _unique_template(rng: random.Random, w1: str, w2: str) -> tuple[str, str, str]:
    """(regex, a line it matches, the action param template) with w1/w2 in its longest literal."""
    path = f"src/{rng.choice(['net', 'core', 'io', 'util'])}/{w1}.c"
    choice = rng.randrange(8)
    if choice == 0:
        return (
            f"{_camel(w1)}{_camel(w2)}Error: (?P<msg>[^\\n]+)",
            f"{_camel(w1)}{_camel(w2)}Error: lease expired for worker 3",
            "{msg}",
        )
    if choice == 1:
        return (
            f"(?P<file>[\\w/.-]+\\.c):(?P<line>\\d+):(?P<col>\\d+): error: '{w1}_{w2}' undeclared",
            f"{path}:{rng.randint(1, 999)}:{rng.randint(1, 80)}: error: '{w1}_{w2}' undeclared "
            "(first use in this function)",
            "{file}",
        )
    if choice == 2:
        return (
            f'{w1}: cannot find package "(?P<pkg>[\\w./-]+/{w2})"',
            f'{w1}: cannot find package "github.com/acme/{w2}" in any of',
            "{pkg}",
        )
    if choice == 3:
        return (
            f"Error: Cannot find module '(?P<module>@{w1}/{w2}[\\w/-]*)'",
            f"Error: Cannot find module '@{w1}/{w2}/lib/index'",
            "{module}",
        )
    if choice == 4:
        return (
            f"error\\[E(?P<code>\\d{{4}})\\]: {w1} `{w2}` is not (?P<what>\\w+)",
            f"error[E0{rng.randint(100, 999)}]: {w1} `{w2}` is not initialized",
            "{code}",
        )
    if choice == 5:
        return (
            f"(?P<svc>[\\w-]+)\\[(?P<pid>\\d+)\\]: {w1} {w2} failed: (?P<reason>[^\\n]+)",
            f"{w1}d[{rng.randint(100, 65000)}]: {w1} {w2} failed: broken pipe",
            "{svc}",
        )
    if choice == 6:
        return (
            f'Exception in thread "(?P<thread>[^"]+)" (?P<cls>[\\w.]+)\\.{_camel(w1)}{_camel(w2)}Exception',
            f'Exception in thread "main" com.acme.{w1}.{_camel(w1)}{_camel(w2)}Exception: boom',
            "{cls}",
        )
    return (
        f"ERROR: Could not find a version that satisfies the requirement {w1}-{w2}"
        "(?:[<>=!~]=?(?P<version>[\\w.]+))?",
        f"ERROR: Could not find a version that satisfies the requirement {w1}-{w2}==1.4.2",
        "{version}",
    )


def _q(text: str) -> str:
    """YAML single-quoted scalar."""
    return "'" + text.replace("'", "''") + "'"


@dataclass
class GenRule:
    name: str
    kind: str
    facts: list[tuple[str, str, str]]  # (key, matcher, value)
    example: str  # a stderr line that makes the rule hold (for the chosen rule)
    decoy: str | None = None  # a line holding the gate literal but not matching
    tags: list[str] = field(default_factory=list)
    param: str = ""

    def yaml(self) -> str:
        lines = [
            f"name: {self.name}",
            f"description: {_q(f'{self.kind} failure seen in {self.tags[0]} jobs ({self.name})')}",
            f"tags: [{', '.join(self.tags)}]",
            "when:",
        ]
        for key, matcher, value in self.facts:
            lines.append(f"  - fact: {key}")
            lines.append(f"    {matcher}: {_q(value)}")
            if key == "stderr" and matcher != "equals":
                lines.append("    examples:")
                lines.append(f"      - {_q(self.example)}")
        lines += [
            "then:",
            f"  - action: fix_{self.tags[0]}_{self.kind.replace('-', '_')}",
            "    params:",
            f"      target: {_q(self.param or '{command}')}",
            "      attempts: 2",
        ]
        return "\n".join(lines) + "\n"


def make_rule(
    rng: random.Random, index: int, used: set[str], *, chosen: bool, no_literal: bool
) -> GenRule:
    """One rule; ``chosen`` forces facts compatible with the benchmark context."""
    while True:
        w1, w2 = _word(rng), _word(rng)
        if f"{w1} {w2}" not in used and w1 != w2:
            used.add(f"{w1} {w2}")
            break
    tool = rng.choice(_TOOLS)
    name = f"{tool}-{w1}-{w2}-{index}"
    tags = [tool, rng.choice(["ci", "build", "deps", "runtime", "infra"])]
    roll = rng.random()
    if no_literal:
        pattern, example = rng.choice(_NO_LITERAL)
        example = example.format(num4=rng.randint(1000, 9999), num3=rng.randint(100, 999))
        return GenRule(name, "no-literal", [("stderr", "regex", pattern)], example, tags=tags)
    if roll < 0.55:
        regex, example, param = _unique_template(rng, w1, w2)
        return GenRule(name, "regex", [("stderr", "regex", regex)], example, tags=tags, param=param)
    if roll < 0.75:
        phrase = rng.choice(
            [
                f"{w1}: lock {w2} is held by another process",
                f"FATAL {w1.upper()}_{w2.upper()}_UNAVAILABLE",
                f"{w1}.{w2}.service: Main process exited, code=exited",
                f"{w1}/{w2}: checksum mismatch",
            ]
        )
        facts = [("stderr", "contains", phrase)]
        if rng.random() < 0.3:
            facts.append(("command", "contains", "make" if chosen else tool))
        return GenRule(name, "contains", facts, phrase + " (pid 812)", tags=tags)
    if roll < 0.90:
        regex, example, param = _unique_template(rng, w1, w2)
        code = 1 if chosen else rng.choice(_EXIT_CODES)
        facts = [("exit_code", "equals", str(code)), ("stderr", "regex", regex)]
        return GenRule(name, "exit-code", facts, example, tags=tags, param=param)
    if roll < 0.96:
        regex, example, param = _unique_template(rng, w1, w2)
        facts = [("stderr", "regex", regex), ("command", "contains", "make" if chosen else tool)]
        return GenRule(name, "regex+cmd", facts, example, tags=tags, param=param)
    pattern, example = rng.choice(_GENERIC)
    path = f"/var/lib/{w2}/state.db"
    return GenRule(
        name,
        "generic-literal",
        [("stderr", "regex", pattern.format(w1=w1))],
        example.format(w1=w1, path=path),
        tags=tags,
    )


def generate_home(home: Path, n: int, seed: int) -> tuple[GenRule, list[GenRule]]:
    """Write ``n`` rule files under ``home/rules``; returns (chosen rule, all rules)."""
    rng = random.Random(f"{seed}-{n}")
    # "a few" rules with no usable (or only a very common) literal: one per 1000, at least 2
    step = n // max(2, n // 1000)
    no_literal = set(range(step // 2, n, step))
    chosen_at = rng.randrange(n)
    if chosen_at in no_literal:
        chosen_at = (chosen_at + 1) % n
    used: set[str] = set()
    rules_dir = home / "rules"
    rules_dir.mkdir(parents=True)
    rules = []
    an_hour_ago_ns = time.time_ns() - 3600 * 10**9
    for i in range(n):
        rule = make_rule(rng, i, used, chosen=i == chosen_at, no_literal=i in no_literal)
        rules.append(rule)
        path = rules_dir / f"{rule.name}.rule.yaml"
        path.write_text(rule.yaml(), encoding="utf-8")
        os.utime(path, ns=(an_hour_ago_ns, an_hour_ago_ns))
    return rules[chosen_at], rules


# --------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------

_LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN"]
_NOISE_WORDS = [
    *("fetched", "resolved", "cached", "compiled", "linked", "uploaded", "scheduled"),
    *("queued", "retried", "skipped", "objects", "layers", "chunks", "targets", "modules"),
    *("packages", "shards"),
]


def _noise_line(rng: random.Random, t: float) -> str:
    kind = rng.randrange(12)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{rng.randint(0, 999):03d}Z"
    mod = rng.choice(["net", "core", "io", "util", "parser", "sched"])
    fname = rng.choice(["socket", "buffer", "config", "main", "hash", "queue", "lexer"])
    if kind <= 2:
        return (
            f"{stamp} {rng.choice(_LEVELS):5} [worker-{rng.randint(1, 16)}] "
            f"{rng.choice(_NOISE_WORDS)} {rng.randint(1, 4096)} {rng.choice(_NOISE_WORDS)} "
            f"in {rng.randint(1, 900)}ms"
        )
    if kind == 3:
        warn = rng.choice(
            [
                ("unused variable 'tmp'", "-Wunused-variable"),
                ("comparison of integer expressions of different signedness", "-Wsign-compare"),
                ("implicit declaration of function 'strlcpy'", "-Wimplicit-function-declaration"),
                ("'len' may be used uninitialized", "-Wmaybe-uninitialized"),
            ]
        )
        return f"src/{mod}/{fname}.c:{rng.randint(1, 2000)}:{rng.randint(1, 80)}: warning: {warn[0]} [{warn[1]}]"
    if kind == 4:
        return f"  CC      src/{mod}/{fname}.o"
    if kind == 5:
        return f"   Compiling {fname}-{mod} v{rng.randint(0, 3)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}"
    if kind == 6:
        return f"Collecting {fname}>={rng.randint(1, 9)}.{rng.randint(0, 30)} (from -r requirements.txt (line {rng.randint(1, 80)}))"
    if kind == 7:
        return f"npm WARN deprecated {fname}@{rng.randint(0, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}: This module is not supported"
    if kind == 8:
        pct = rng.randint(0, 100)
        return f"tests/test_{mod}.py::test_{fname}_{rng.randint(1, 99)} PASSED [{pct:3d}%]"
    if kind == 9:
        return f"{stamp} make[{rng.randint(1, 4)}]: Entering directory '/build/src/{mod}'"
    if kind == 10:
        if rng.random() < 0.5:
            return f"ls: cannot access 'build/{fname}.cache': {_GENERIC_IN_NOISE[0]}"
        return f"cp: cannot create regular file '/etc/{fname}.conf': {_GENERIC_IN_NOISE[1]}"
    return f"{stamp} {rng.choice(_LEVELS):5} [{mod}] heartbeat ok (lag={rng.random():.3f}s)"


def build_stderr(rng: random.Random, error_line: str, decoys: list[str]) -> str:
    """~64 KiB of noise with ``error_line`` in the middle and ``decoys`` scattered."""
    t = 1_715_000_000.0
    lines: list[str] = []
    size = 0
    while size < STDERR_BYTES - len(error_line) - 1:
        t += rng.random()
        line = _noise_line(rng, t)
        lines.append(line)
        size += len(line) + 1
    for decoy in decoys:
        lines[rng.randrange(len(lines))] = decoy
    half = len(lines) // 2
    text_lines = [*lines[:half], error_line, *lines[half:]]
    text = "\n".join(text_lines)
    if len(text) > STDERR_BYTES:  # trim whole leading lines to stay at 64 KiB
        excess = len(text) - STDERR_BYTES
        cut = text.index("\n", excess) + 1
        text = text[cut:]
    return text


def make_contexts(
    rng: random.Random, chosen: GenRule, rules: list[GenRule]
) -> list[dict[str, object]]:
    """``NOISE_VARIANTS`` contexts: same error line, different noise and decoys."""
    from tether.rules.match import required_literal
    from tether.rules.model import compile_regex

    candidates = [r for r in rules if r.kind in ("regex", "exit-code", "regex+cmd")]
    contexts = []
    for _ in range(NOISE_VARIANTS):
        decoys = []
        for rule in rng.sample(candidates, min(len(candidates), DECOYS_PER_VARIANT * 2)):
            if rule is chosen:
                continue
            regex = next(v for k, m, v in rule.facts if m == "regex")
            literal = required_literal(regex)
            if literal is None:
                continue
            decoy = f"note: previous attempt logged «{literal[0]}» (ignored)"
            if compile_regex(regex).search(decoy) is None:
                decoys.append(decoy)
            if len(decoys) == DECOYS_PER_VARIANT:
                break
        stderr = build_stderr(rng, chosen.example, decoys)
        contexts.append({"stderr": stderr, "exit_code": 1, "command": "make -j8 all"})
    return contexts


# --------------------------------------------------------------------------------------
# Children (fresh processes)
# --------------------------------------------------------------------------------------


_STARTER = os.environ.get("TETHER_BENCH_STARTER", "1") == "1"
"""Whether the children load the starter pack beside the generated rules (``--no-starter``)."""


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_load(home: str) -> dict:
    import warnings

    t0 = time.perf_counter()
    from tether.engine import Tether

    t1 = time.perf_counter()
    c1 = time.process_time()
    engine = Tether(home=home, starter_rules=_STARTER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book = engine.load()
    t2 = time.perf_counter()
    c2 = time.process_time()
    return {
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "load_cpu_s": c2 - c1,
        "rules": len(book),
        "errors": [str(e) for e in engine.load_errors[:3]],
        "n_errors": len(engine.load_errors),
        "rss_mib": _rss_mib(),
        "tether_file": sys.modules["tether"].__file__,
    }


def child_resolve(home: str, ctx_file: str, expected: str, iters: int, budget_s: float) -> dict:
    from tether.engine import Tether
    from tether.rules.match import prepare

    contexts = json.loads(Path(ctx_file).read_text(encoding="utf-8"))
    engine = Tether(home=home, starter_rules=_STARTER)
    t0 = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    c0 = time.process_time()
    first = engine.resolve(contexts[0])
    first_s = time.perf_counter() - t0
    first_cpu_s = time.process_time() - c0
    ok = expected in [r.name for r in first]
    matched = {len(first)}

    samples = []
    cpu_samples = []
    start = time.perf_counter()
    for i in range(iters):
        ctx = contexts[(i + 1) % len(contexts)]
        t = time.perf_counter()
        c = time.process_time()
        result = engine.resolve(ctx)
        cpu_samples.append(time.process_time() - c)
        samples.append(time.perf_counter() - t)
        names = [r.name for r in result]
        ok = ok and expected in names
        matched.add(len(result))
        if time.perf_counter() - start > budget_s and len(samples) >= 20:
            break

    index = engine.book._current_index()  # internal, read-only: prefilter diagnostics
    gates = index.summary()
    candidates = [len(index.candidates(prepare(c))) for c in contexts]
    samples.sort()
    return {
        "load_s": load_s,
        "first_s": first_s,
        "first_cpu_s": first_cpu_s,
        "p50_s": statistics.median(samples),
        "cpu_p50_s": statistics.median(cpu_samples),
        "p99_s": samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))],
        "samples": len(samples),
        "ok": ok,
        "matched": sorted(matched),
        "gates": gates,
        "candidates": statistics.median(candidates),
        "rss_mib": _rss_mib(),
    }


def run_child(args: list[str], timeout: float, src: Path | None, starter: bool = True) -> dict:
    env = dict(os.environ)
    env["TETHER_BENCH_STARTER"] = "1" if starter else "0"
    if src is not None:  # the baseline's sources first, so its `tether` is the one imported
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed:\n{proc.stderr[-3000:]}")
    out: dict = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def extract_baseline(commit: str, where: Path) -> Path:
    """``src/`` of ``commit`` (this repository) unpacked under ``where``; returns that ``src``."""
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", commit, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    return where / "src"


# --------------------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------------------


def bench_code(
    n: int, label: str, src: Path | None, home: Path, ctx_file: Path, chosen: GenRule, args: Any
) -> dict:
    for stale in home.glob("tether.db*"):
        stale.unlink()
    cold = run_child(["load", str(home)], args.timeout, src, args.starter)
    if src is not None and not str(cold["tether_file"]).startswith(str(src)):
        raise RuntimeError(f"the {label} child imported {cold['tether_file']}, not {src}")
    print(f"  N={n} {label}: cold load {cold['load_s']:.2f}s", file=sys.stderr, flush=True)
    warm = run_child(["load", str(home)], args.timeout, src, args.starter)
    print(f"  N={n} {label}: warm load {warm['load_s']:.2f}s", file=sys.stderr, flush=True)
    res = run_child(
        ["resolve", str(home), str(ctx_file), chosen.name, str(args.iters), str(args.budget_s)],
        args.timeout,
        src,
        args.starter,
    )
    print(
        f"  N={n} {label}: resolve p50 {res['p50_s'] * 1e3:.2f} ms ({res['samples']} samples)",
        file=sys.stderr,
        flush=True,
    )
    return {"n": n, "code": label, "chosen": chosen.kind, "cold": cold, "warm": warm, "res": res}


def bench_n(n: int, args: argparse.Namespace, codes: list[tuple[str, Path | None]]) -> list[dict]:
    base = Path(tempfile.mkdtemp(prefix=f"tether-bench-{n}-", dir=args.tmpdir))
    home = base / "home"
    try:
        t0 = time.perf_counter()
        chosen, rules = generate_home(home, n, args.seed)
        gen_s = time.perf_counter() - t0
        contexts = make_contexts(random.Random(f"{args.seed}-ctx-{n}"), chosen, rules)
        ctx_file = base / "contexts.json"
        ctx_file.write_text(json.dumps(contexts), encoding="utf-8")
        print(
            f"  N={n}: generated in {gen_s:.1f}s; chosen rule #{rules.index(chosen)} "
            f"({chosen.kind}) {chosen.name}",
            file=sys.stderr,
            flush=True,
        )
        return [bench_code(n, label, src, home, ctx_file, chosen, args) for label, src in codes]
    finally:
        if args.keep:
            print(f"  kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


def _fmt_n(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 else str(n)


def print_tables(results: list[dict], baseline: str | None) -> None:
    head = (
        f"{'N':>5} | {'code':>8} | {'rules':>6} | {'cold s':>6} | {'cpu':>5} | {'warm s':>6} | "
        f"{'cpu':>5} | {'index ms':>8} | {'cpu':>5} | {'p50 ms':>6} | {'cpu p50':>7} | "
        f"{'p99 ms':>6} | {'runs':>4} | {'gates eq/lit/always':>19} | {'cand':>4} | "
        f"{'RSS cold':>8} | {'RSS res':>7} | {'hits':>4} | ok"
    )
    print()
    print("Rule loading and resolve (64 KiB stderr, context exit_code=1; seconds, ms, MiB)")
    print(head)
    print("-" * len(head))
    for r in results:
        res, cold, warm = r["res"], r["cold"], r["warm"]
        g = res["gates"]
        gates = f"{g['equals']}/{g['literal']}/{g['always']}"
        ok = res["ok"] and cold["n_errors"] == 0 and warm["n_errors"] == 0
        print(
            f"{_fmt_n(r['n']):>5} | {r['code']:>8} | {cold['rules']:>6} | "
            f"{cold['load_s']:>6.2f} | {cold.get('load_cpu_s', 0):>5.2f} | "
            f"{warm['load_s']:>6.2f} | {warm.get('load_cpu_s', 0):>5.2f} | "
            f"{res['first_s'] * 1e3:>8.0f} | {res['first_cpu_s']:>5.2f} | "
            f"{res['p50_s'] * 1e3:>6.3f} | {res['cpu_p50_s'] * 1e3:>7.3f} | "
            f"{res['p99_s'] * 1e3:>6.3f} | {res['samples']:>4} | {gates:>19} | "
            f"{res['candidates']:>4.0f} | {cold['rss_mib']:>8.0f} | {res['rss_mib']:>7.0f} | "
            f"{'/'.join(map(str, res['matched'])):>4} | {'yes' if ok else 'NO'}"
        )
    print()
    for line in (
        "code: the baseline commit or this tree; rules: rules in force (generated + starter",
        "pack, unless --no-starter); cold: Tether(home).load() in a fresh process without",
        "tether.db; warm: the same again (the rule cache filled); cpu: that process's CPU",
        "seconds for it; index: the first resolve after a warm load (builds the prefilter);",
        "p50/p99 (wall) and cpu p50 exclude it; gates: rules under an equals-fact dict / the",
        "RE2 literal sets / always checked; cand: rules checked in full per resolve (median);",
        "hits: rules returned per call; ok: the expected rule on every call, no load errors.",
    ):
        print("  " + line)

    if baseline is not None:
        print()
        print(f"Ratios, baseline {baseline} / this tree (above 1: this tree is faster)")
        line = (
            f"{'N':>5} | {'cold':>5} | {'cold cpu':>8} | {'warm':>5} | {'warm cpu':>8} | "
            f"{'warm+index':>10} | {'p50':>5} | {'cpu p50':>7} | {'p99':>5}"
        )
        print(line)
        print("-" * len(line))
        by = {(r["n"], r["code"]): r for r in results}
        for n in sorted({r["n"] for r in results}):
            old, new = by.get((n, "baseline")), by.get((n, "current"))
            if old is None or new is None:
                continue

            def ratio(get: Any, old: dict = old, new: dict = new) -> str:
                a, b = get(old), get(new)
                return f"{a / b:.2f}" if b else "-"

            print(
                f"{_fmt_n(n):>5} | {ratio(lambda r: r['cold']['load_s']):>5} | "
                f"{ratio(lambda r: r['cold']['load_cpu_s']):>8} | "
                f"{ratio(lambda r: r['warm']['load_s']):>5} | "
                f"{ratio(lambda r: r['warm']['load_cpu_s']):>8} | "
                f"{ratio(lambda r: r['warm']['load_s'] + r['res']['first_s']):>10} | "
                f"{ratio(lambda r: r['res']['p50_s']):>5} | "
                f"{ratio(lambda r: r['res']['cpu_p50_s']):>7} | "
                f"{ratio(lambda r: r['res']['p99_s']):>5}"
            )

    current = {r["n"]: r for r in results if r["code"] == "current"}
    rows = [
        ("resolve p50 @ 10k", 10_000, lambda r: r["res"]["p50_s"] * 1e3, "p50_10k_ms", "ms"),
        ("resolve p50 @ 100k", 100_000, lambda r: r["res"]["p50_s"] * 1e3, "p50_100k_ms", "ms"),
        ("load cold @ 10k", 10_000, lambda r: r["cold"]["load_s"], "load_cold_10k_s", "s"),
        ("load warm @ 10k", 10_000, lambda r: r["warm"]["load_s"], "load_warm_10k_s", "s"),
    ]
    print()
    print(f"{'target (this tree)':<20} | {'limit':>9} | {'measured':>9} | verdict")
    print("-" * 54)
    for label, n, get, key, unit in rows:
        limit = TARGETS[key]
        if n in current:
            value = get(current[n])
            verdict = "PASS" if value <= limit else "MISS"
            print(f"{label:<20} | {limit:>7g} {unit:<1} | {value:>7.3f} {unit:<1} | {verdict}")
        else:
            print(f"{label:<20} | {limit:>7g} {unit:<1} | {'not run':>9} | -")
    bad = [(r["n"], r["code"]) for r in results if not r["res"]["ok"]]
    print()
    print(
        "correctness: expected rule returned on every call for every N"
        if not bad
        else f"correctness: expected rule MISSING for {bad}"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, rest = sys.argv[2], sys.argv[3:]
        if mode == "load":
            out = child_load(rest[0])
        else:
            out = child_resolve(rest[0], rest[1], rest[2], int(rest[3]), float(rest[4]))
        print(json.dumps(out))
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default="10000", help="comma-separated rule counts (default: 10000)"
    )
    parser.add_argument("--quick", action="store_true", help="only N = 100 and 1000")
    parser.add_argument("--max-n", type=int, default=None, help="leave out sizes above this")
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        help=f"commit to compare with (default: {BASELINE}); 'none' to skip",
    )
    parser.add_argument(
        "--no-starter",
        dest="starter",
        action="store_false",
        help="generated rules only: leave out the starter pack (it differs between commits)",
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--iters", type=int, default=300, help="timed resolve calls per N (max)")
    parser.add_argument(
        "--budget-s", type=float, default=20.0, help="stop timing resolve after this (>= 20 calls)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="per-subprocess timeout")
    parser.add_argument("--tmpdir", default=None, help="where temporary homes go")
    parser.add_argument("--keep", action="store_true", help="keep the generated homes")
    args = parser.parse_args()

    sizes = [100, 1_000] if args.quick else [int(n) for n in args.sizes.split(",")]
    sizes = [n for n in sizes if args.max_n is None or n <= args.max_n]
    baseline = None if args.baseline.lower() == "none" else args.baseline
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, seed {args.seed}, "
        f"baseline {baseline or '-'}",
        file=sys.stderr,
    )
    scratch = Path(tempfile.mkdtemp(prefix="tether-bench-baseline-", dir=args.tmpdir))
    try:
        codes: list[tuple[str, Path | None]] = []
        if baseline is not None:
            codes.append(("baseline", extract_baseline(baseline, scratch)))
        codes.append(("current", None))
        results: list[dict] = []
        for n in sizes:
            try:
                results.extend(bench_n(n, args, codes))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                print(f"  N={n}: FAILED: {exc}", file=sys.stderr)
                break
        print_tables(results, baseline)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
