"""The regulator against the seed's own implementation (``noos``, a Rust core with Python bindings).

Usage (from the repository root)::

    .venv/bin/pip install noos            # optional; only for the comparison columns
    .venv/bin/python benchmarks/bench_regulator.py [--turns 10000] [--seed 7] [--quick]

Three parts, all from seeded generators (same seed, same streams):

1. **Agreement.** ``--sessions`` short sessions (``--session-turns`` turns each)
   mixing ordinary turns with the situations the regulator exists for (tool
   loops, A,B cycles, repeated identical calls, failing tools, overspending with
   poor answers, falling quality, off-topic answers, answers that rephrase the
   task, non-English text, repeated corrections, unlikely tokens). Both
   regulators get the same events; ``decide()`` is compared after every turn.
   Differences are grouped by cause.
2. **Throughput and latency.** One ``--turns``-turn session with few (8) and
   with many (5,000) topic clusters: events/s of ``on_event`` over prebuilt
   events (construction excluded for both; events/s including construction
   is shown too), and ``decide()`` latency after each turn (median, p99).
   Per-turn cost of the first and last tenth shows whether it stays flat.
3. **Memory.** tracemalloc: Python heap held by our regulator after 1/10 and
   after all turns (noos keeps its state in Rust, invisible to tracemalloc;
   its process RSS growth is shown instead).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from typing import Any

from tether.regulator import LLMEvent, Regulator

try:
    import noos
except ImportError:  # the comparison columns are skipped
    noos = None

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "ti",
    "vo",
    "ze",
    "pa",
    "do",
    "fi",
    "gu",
    "hi",
    "ja",
    "ke",
]
TOOLS = ["search", "read_file", "run_tests", "edit_file", "fetch_url", "list_dir"]
VERBS = ["Refactor", "Explain", "Fix", "Document", "Optimise", "Review"]


def word(rng: random.Random, n: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(n))


class Topics:
    """``n`` topics, each four made-up words of 6-12 letters."""

    def __init__(self, rng: random.Random, n: int) -> None:
        self.words = [[word(rng, rng.randint(3, 6)) for _ in range(4)] for _ in range(n)]

    def ask(self, rng: random.Random, t: int) -> str:
        w = self.words[t]
        return f"{rng.choice(VERBS)} the {w[0]} {w[1]} and its {w[2]} {w[3]}"

    def answer(self, rng: random.Random, t: int) -> str:
        w = self.words[t]  # a rephrasing: inflected task words plus a few new ones
        return (
            f"Here the {w[0]}s {w[1]}ed: the {w[2]} now calls {w[3]}ing "
            f"{word(rng)} first, then {word(rng)}."
        )


# ── streams: list of turns, each a list of (kind, args) ───────────────────


def agreement_sessions(
    seed: int, sessions: int, turns: int
) -> list[list[list[tuple[str, tuple[Any, ...]]]]]:
    rng = random.Random(seed)
    out = []
    situations = ["plain", "loop5", "cycle", "same_call", "tool_fail", "overspend", "decline",
                  "off_topic", "rephrase", "cjk", "correction", "unlikely", "nan_quality"]  # fmt: skip
    for _ in range(sessions):
        topics = Topics(rng, 4)
        session = []
        for _ in range(turns):
            t = rng.randrange(4)
            sit = rng.choice(situations)
            ev: list[tuple[str, tuple[Any, ...]]] = []
            msg = topics.ask(rng, t) if sit != "cjk" else "修复登录错误的问题"
            ev.append(("turn_start", (msg,)))
            if sit == "loop5":
                ev += [("tool_call", ("search", f'{{"q": {i}}}')) for i in range(5)]
            elif sit == "cycle":
                for _ in range(3):
                    ev += [("tool_call", ("edit_file", None)), ("tool_call", ("run_tests", None))]
            elif sit == "same_call":
                ev.append(("tool_call", ("read_file", '{"path": "config.yaml"}')))
            elif sit == "tool_fail":
                for i in range(3):
                    ev.append(("tool_call", ("fetch_url", f'{{"try": {i}}}')))
                    ev.append(("tool_result", ("fetch_url", False, 30, "timeout")))
                    ev.append(("tool_call", (TOOLS[i], None)))
            else:
                for _ in range(rng.randint(0, 2)):
                    tool = rng.choice(TOOLS)
                    ev.append(("tool_call", (tool, f'{{"n": {rng.randint(0, 99)}}}')))
                    ev.append(("tool_result", (tool, rng.random() < 0.9, rng.randint(1, 50), None)))
            if sit == "unlikely":
                for i, (tok, lp) in enumerate([("It is ", -0.1), ("19", -3.0), ("87", -2.5)]):
                    ev.append(("token", (tok, lp, i)))
            if sit == "off_topic":
                resp = topics.answer(rng, (t + 1) % 4)
            elif sit == "cjk":
                resp = "我重写了计费模块"
            elif sit == "rephrase":
                resp = topics.answer(rng, t)
            else:
                resp = " ".join(topics.words[t]) + " done"
            ev.append(("turn_complete", (resp,)))
            ev.append(
                ("cost", (20, 2500 if sit == "overspend" else rng.randint(100, 400), 100, "x"))
            )
            if sit in ("overspend", "decline"):
                ev.append(("quality_feedback", (rng.uniform(0.1, 0.35),)))
            elif sit == "nan_quality":
                ev.append(("quality_feedback", (float("nan"),)))
            else:
                ev.append(("quality_feedback", (rng.uniform(0.5, 1.0),)))
            if sit == "correction":
                ev.append(("user_correction", (f"keep {word(rng)} unchanged", True)))
            session.append(ev)
        out.append(session)
    return out


def throughput_session(
    seed: int, turns: int, n_topics: int
) -> list[list[tuple[str, tuple[Any, ...]]]]:
    rng = random.Random(seed)
    topics = Topics(rng, n_topics)
    session = []
    for i in range(turns):
        t = rng.randrange(n_topics) if n_topics > 8 else i % n_topics
        ev: list[tuple[str, tuple[Any, ...]]] = [("turn_start", (topics.ask(rng, t),))]
        for _ in range(rng.randint(1, 2)):
            tool = rng.choice(TOOLS)
            ev.append(("tool_call", (tool, f'{{"n": {rng.randint(0, 999)}}}')))
            ev.append(("tool_result", (tool, rng.random() < 0.95, rng.randint(1, 50), None)))
        ev.append(("turn_complete", (topics.answer(rng, t),)))
        ev.append(("cost", (20, rng.randint(100, 400), 100, "x")))
        ev.append(("quality_feedback", (rng.uniform(0.6, 1.0),)))
        if rng.random() < 0.1:
            ev.append(("user_correction", (f"keep {word(rng)} unchanged", True)))
        session.append(ev)
    return session


# ── adapters ──────────────────────────────────────────────────────────────


def build_ours(kind: str, args: tuple[Any, ...]) -> Any:
    return getattr(LLMEvent, kind)(*args)


def build_noos(kind: str, args: tuple[Any, ...]) -> Any:
    if kind == "quality_feedback":
        return noos.LLMEvent.quality_feedback(args[0], None)
    return getattr(noos.LLMEvent, kind)(*args)


def summary(d: Any) -> tuple[str, ...]:
    if d.kind == "circuit_break":
        return (d.kind, d.reason.kind)
    return (d.kind,)


def why(ours: Any, theirs: Any, event_kinds: set[str]) -> str:
    o, t = summary(ours), summary(theirs)
    if o[0] == "circuit_break" and t[0] == "circuit_break":
        return f"both halt, by priority/latching ours {o[1]} vs noos {t[1]}"
    if o[0] == "circuit_break":
        pattern = getattr(ours.reason, "pattern", None)
        if o[1] == "repeated_tool_call_loop" and pattern in ("cycle", "same_call"):
            return f"ours halts a {pattern} loop noos does not detect"
        if o[1] == "repeated_failure_pattern":
            return "ours emits repeated_failure_pattern (noos never does)"
        return f"ours halts {o[1]}, noos {t[0]}"
    if o[0] == "tool_loop_warn":
        return f"ours warns of a forming loop ({ours.loop.pattern}); noos {t[0]}"
    if t[0] == "circuit_break":
        return f"noos halts {t[1]}, ours {o[0]} (see notes)"
    if t[0] == "scope_drift_warn" and o[0] != "scope_drift_warn":
        return "noos calls an on-topic answer drift (rephrasing / inflection)"
    if o[0] == "scope_drift_warn" and t[0] != "scope_drift_warn":
        return "ours sees drift noos misses (unsegmented script)"
    if o[0] == "low_confidence_spans":
        return "ours reports low-confidence spans (noos: reserved)"
    if "procedural_warning" in (o[0], t[0]):
        return "topic clusters differ (stemming, tie-break), so patterns form elsewhere"
    return f"other: ours {o} noos {t}"


def agreement(args: argparse.Namespace) -> None:
    sessions = agreement_sessions(args.seed, args.sessions, args.session_turns)
    total = agree = 0
    kinds: Counter[tuple[str, ...]] = Counter()
    causes: Counter[str] = Counter()
    refused = 0
    before_halt = agree_before_halt = 0
    for session in sessions:
        ours = Regulator.for_user("bench")
        theirs = noos.Regulator.for_user("bench")
        prev: Any = None
        halted = False
        for turn in session:
            seen = set()
            for kind, a in turn:
                seen.add(kind)
                try:
                    ev = build_ours(kind, a)
                except ValueError:
                    refused += 1  # NaN quality: refused by us, learned by noos
                else:
                    ours.on_event(ev)
                theirs.on_event(build_noos(kind, a))
            o, t = ours.decide(), theirs.decide()
            total += 1
            kinds[summary(o)] += 1
            same = summary(o) == summary(t)
            agree += same
            if not halted:
                before_halt += 1
                agree_before_halt += same
            if not same:
                if o is prev and o.kind == "circuit_break":
                    causes[f"ours: sticky {o.reason.kind} halt still holds; noos {t.kind}"] += 1
                else:
                    causes[why(o, t, seen)] += 1
            prev = o
            halted = halted or o.kind == "circuit_break" or t.kind == "circuit_break"
    print(
        f"\n### Decision agreement ({args.sessions} sessions x {args.session_turns} turns, seed {args.seed})\n"
    )
    print(
        f"{agree}/{total} turns agree ({100 * agree / total:.1f}%); before the first halt of a "
        f"session: {agree_before_halt}/{before_halt} ({100 * agree_before_halt / before_halt:.1f}%); "
        f"{refused} NaN qualities refused by ours, accepted by noos\n"
    )
    print("| cause of difference | turns |")
    print("|---|---|")
    for cause, n in causes.most_common():
        print(f"| {cause} | {n} |")


def replay(make: Callable[[], Any], build: Callable[[str, tuple[Any, ...]], Any],
           session: list[list[tuple[str, tuple[Any, ...]]]]) -> dict[str, float]:  # fmt: skip
    reg = make()
    events = [[build(k, a) for k, a in turn] for turn in session]
    n_events = sum(len(t) for t in events)
    gc.collect()
    gc.disable()
    per_turn = []
    decide_ns = []
    clock = time.perf_counter_ns
    on_event = reg.on_event
    decide = reg.decide
    for turn in events:
        t0 = clock()
        for ev in turn:
            on_event(ev)
        t1 = clock()
        decide()
        t2 = clock()
        per_turn.append(t1 - t0)
        decide_ns.append(t2 - t1)
    gc.enable()
    # construction included: build and feed again in a fresh regulator
    reg2 = make()
    t0 = clock()
    for turn in session:
        for k, a in turn:
            reg2.on_event(build(k, a))
        reg2.decide()
    with_build = clock() - t0
    tenth = max(1, len(per_turn) // 10)
    decide_ns.sort()
    return {
        "events_s": n_events / (sum(per_turn) / 1e9),
        "events_s_built": n_events / (with_build / 1e9),
        "decide_p50_us": decide_ns[len(decide_ns) // 2] / 1e3,
        "decide_p99_us": decide_ns[int(len(decide_ns) * 0.99)] / 1e3,
        "first_tenth_us": statistics.mean(per_turn[:tenth]) / 1e3,
        "last_tenth_us": statistics.mean(per_turn[-tenth:]) / 1e3,
    }


def memory(session: list[list[tuple[str, tuple[Any, ...]]]]) -> tuple[float, float]:
    events = [[build_ours(k, a) for k, a in turn] for turn in session]
    tracemalloc.start()
    reg = Regulator.for_user("bench").with_cost_cap(10**12)
    base = tracemalloc.get_traced_memory()[0]
    tenth = len(events) // 10
    at_tenth = 0.0
    for i, turn in enumerate(events):
        for ev in turn:
            reg.on_event(ev)
        reg.decide()
        if i + 1 == tenth:
            at_tenth = (tracemalloc.get_traced_memory()[0] - base) / 1024
    end = (tracemalloc.get_traced_memory()[0] - base) / 1024
    tracemalloc.stop()
    return at_tenth, end


def noos_rss(session: list[list[tuple[str, tuple[Any, ...]]]]) -> float:
    events = [[build_noos(k, a) for k, a in turn] for turn in session]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reg = noos.Regulator.for_user("bench").with_cost_cap(2**31)
    for turn in events:
        for ev in turn:
            reg.on_event(ev)
        reg.decide()
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--session-turns", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="1,000 turns, 40 sessions")
    args = parser.parse_args()
    if args.quick:
        args.turns, args.sessions = 1000, 40

    print(f"regulator benchmark (python {sys.version.split()[0]}, seed {args.seed})")
    if noos is None:
        print("\nnoos is not installed: comparison columns skipped (pip install noos to add them)")
    else:
        agreement(args)

    print(f"\n### Throughput and decide() latency ({args.turns:,}-turn session)\n")
    head = "| clusters | impl | events/s | events/s incl. build | decide p50 µs | decide p99 µs | turn µs first 10% | last 10% |"
    print(head)
    print("|---|---|---|---|---|---|---|---|")
    ratios = []
    for n_topics in (8, 5000):
        session = throughput_session(args.seed, args.turns, n_topics)
        ours = replay(
            lambda: Regulator.for_user("bench").with_cost_cap(10**12), build_ours, session
        )
        rows = [("tether", ours)]
        if noos is not None:
            theirs = replay(
                lambda: noos.Regulator.for_user("bench").with_cost_cap(2**31), build_noos, session
            )
            rows.append(("noos", theirs))
            ratios.append((n_topics, ours["events_s"] / theirs["events_s"],
                           ours["events_s_built"] / theirs["events_s_built"]))  # fmt: skip
        for name, r in rows:
            print(
                f"| {n_topics:,} | {name} | {r['events_s']:,.0f} | {r['events_s_built']:,.0f} | "
                f"{r['decide_p50_us']:.2f} | {r['decide_p99_us']:.2f} | "
                f"{r['first_tenth_us']:.1f} | {r['last_tenth_us']:.1f} |"
            )
    for n_topics, r1, r2 in ratios:
        print(
            f"\n{n_topics:,} clusters: tether/noos events/s = {r1:.1f}x (prebuilt events), {r2:.1f}x (incl. building them)"
        )

    print("\n### Memory\n")
    print("| clusters | tether heap after 10% (KiB) | after 100% (KiB) | noos RSS growth (KiB) |")
    print("|---|---|---|---|")
    for n_topics in (8, 5000):
        session = throughput_session(args.seed, args.turns, n_topics)
        tenth, end = memory(session)
        rss = f"{noos_rss(session):,.0f}" if noos is not None else "n/a"
        print(f"| {n_topics:,} | {tenth:,.0f} | {end:,.0f} | {rss} |")


if __name__ == "__main__":
    main()
