"""The rule book: every loaded rule, and the index that finds the ones that hold.

Exact matching covers **all** rules, never the top k of a similarity search.
To keep that fast at 100k rules, each rule gets a *gate*, a cheap necessary
condition built from its facts:

- every literal the rule requires (a ``contains`` value, the literal runs on a
  regex's mandatory path): all literals of one context key sit in one RE2 set,
  which reports every literal present in a single linear scan of the text. A
  rule is looked at only when its *trigger*, the literal group shared by the
  fewest rules, was found, and passes only when all its other literals were
  found too; so the work per context follows the rare literals that occur,
  not the thousands of rules sharing a common one such as ``.c:``;
- a rule with no literal but an ``equals`` fact: a dict lookup on ``(key, value)``;
- a rule with neither: always checked.

Rules that pass their gate are then checked fact by fact, cheap facts first.
A regex whose matches stay within one line (``analyze(...).line_local``) is
searched only in the lines holding its rarest literal, not in the whole
64 KiB log; rules sharing a pattern share one search per context. The regexes
of the rules that keep passing their literal gate are then scanned together,
one RE2 set pass over each key's value (the set is kept per list of such
rules), and every pattern found nowhere is ruled out before any search. All of these give
exactly the captures of a full search (``match_rule``, the reference). A gate
can let too many rules through, never hide one that holds. The index is built
lazily on the first match after a change.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether._types import Captures
from tether.rules.match import Prepared, analyze, prepare, required_literals
from tether.rules.model import REGEX_FLAGS, Fact, Rule

__all__ = ["Match", "RuleBook"]


@dataclass(frozen=True)
class Match:
    """A rule that holds for a context, with the captures its facts produced."""

    rule: Rule
    captures: Captures = field(default_factory=dict)


class _LiteralSet:
    """Literals of one context key (case-sensitive and case-folded), found with one RE2 set scan."""

    def __init__(self) -> None:
        self.slots: dict[tuple[str, bool], int] = {}
        """``(literal, ignore_case)`` -> literal id (unique across keys)."""
        self.ids: list[int] = []
        """Literal ids in the order they were added to the set (the set reports positions)."""

    def add(self, literal: str, ignore_case: bool, ids: list[int]) -> int:
        # no case normalisation: RE2's (?i) folds ß and ẞ together, not ß and ss as casefold() does
        key = (literal, ignore_case)
        literal_id = self.slots.get(key)
        if literal_id is None:
            literal_id = self.slots[key] = len(ids)
            ids.append(0)
            self.ids.append(literal_id)
        ids[literal_id] += 1
        return literal_id

    def compile(self) -> Any:
        return _compile_set(
            ("(?i)" if ignore_case else "") + _escape(literal)
            for literal, ignore_case in self.slots
        )


def _escape(literal: str) -> str:
    import re2

    return str(re2.escape(literal))


_SENTINEL = r"\z"
"""First pattern of every RE2 set: it matches any text, so a scan that does not report it failed
(RE2 ran out of memory; the binding then reports nothing at all)."""


def _compile_set(patterns: Iterable[str]) -> Any:
    import re2

    options = re2.Options()
    options.log_errors = False
    options.max_mem = 1 << 30
    matcher = re2.Set.SearchSet(options)
    matcher.Add(_SENTINEL)
    for pattern in patterns:
        matcher.Add(pattern)
    matcher.Compile()
    return matcher


def _scan(matcher: Any, data: bytes) -> list[int] | None:
    """Positions (from 0, in the order added) of the set's patterns found in ``data``.

    ``None`` when the scan failed: then nothing may be ruled out.
    """
    found = matcher.Match(data)
    if not found or 0 not in found:
        return None
    return [i - 1 for i in found if i]


class _Screen:
    """The regexes of one bucket of rules (literal-free ones always checked or behind one
    equals value, or one list of literal-gated candidates), scanned together: one RE2 set
    pass per key rules out every pattern that occurs nowhere, instead of one full search
    per pattern."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        by_key: dict[str, dict[str, None]] = {}
        for rule in rules:
            for fact in rule.when:
                if fact.regex is not None:
                    by_key.setdefault(fact.fact, {})[fact.regex] = None
        self.sets: list[tuple[str, list[str], Any]] = []
        for key, patterns in by_key.items():
            if len(patterns) < 2:
                continue
            try:
                compiled = _compile_set(REGEX_FLAGS + pattern for pattern in patterns)
            except Exception:
                continue  # RE2 ran out of its memory budget: search these one by one
            self.sets.append((key, list(patterns), compiled))

    def run(self, prepared: Prepared) -> None:
        for key, patterns, compiled in self.sets:
            data = prepared.encoded(key)
            if data is None:
                continue
            hits = _scan(compiled, data)
            if hits is None:
                continue
            found = set(hits)
            for i, pattern in enumerate(patterns):
                if i not in found:
                    prepared.rule_out(key, pattern)


_HOT_GATE_HITS = 3
"""After passing its literal gate this many times, a rule's regexes join the set scan."""

_MAX_GATED_SCREENS = 64
"""How many candidate lists keep a compiled set scan (``_Index._gated_screen``)."""

_Group = tuple[str, tuple[str, ...], bool]
"""``(key, alternatives, ignore_case)``: one of the alternatives occurs in the value of key."""


def _requirements(rule: Rule) -> list[_Group]:
    """The literal groups of ``rule``: one alternative of each must occur."""
    out: set[_Group] = set()
    for fact in rule.when:
        if fact.contains is not None:
            out.add((fact.fact, (fact.contains,), False))
        elif fact.regex is not None:
            groups, ignore_case = required_literals(fact.regex)
            out.update((fact.fact, group, ignore_case) for group in groups)
    return sorted(out)


_Plan = tuple[tuple[Fact, tuple[bytes, ...], tuple[tuple[bytes, ...], ...]], ...]
"""A rule's regex facts in order, each with the anchors its search may use and the other
literal groups its anchor lines must hold (see ``Prepared.search``)."""


class _Index:
    """The prefilter over a list of rules.

    Each rule's literal groups are numbered by literal id. The group whose
    literals are shared by the fewest rules is the rule's *trigger*: only rules
    whose trigger literal was found are looked at, and each of them then needs
    every other group present too. So the work per context follows the rules
    whose rarest literal occurs, not every rule sharing a common one.
    """

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.equals: dict[tuple[str, str], list[int]] = {}
        self.always: list[int] = []
        self.trigger: dict[int, list[int]] = {}
        """Literal id -> rules whose trigger group has that literal."""
        self.rest: dict[int, tuple[frozenset[int], ...]] = {}
        """Rule -> its other groups (literal ids, one of each must be present)."""
        self.uses: list[int] = []
        """Literal id -> how many rule groups use it."""
        self.keys: dict[str, _LiteralSet] = {}
        requirements = []
        for rule in rules:
            groups = _requirements(rule)
            requirements.append(
                [
                    (key, ic, [self._lits(key).add(a, ic, self.uses) for a in alts], alts)
                    for key, alts, ic in groups
                ]
            )
        self.sets: list[tuple[str, list[int], Any]] = []
        failed: set[str] = set()
        for key, lits in self.keys.items():
            try:
                self.sets.append((key, lits.ids, lits.compile()))
            except Exception:
                failed.add(key)  # RE2 ran out of its memory budget: do without these literals
        self.literal_rules = 0
        for position, (rule, numbered) in enumerate(zip(rules, requirements, strict=True)):
            usable = [
                (frozenset(ids), alts) for key, _ic, ids, alts in numbered if key not in failed
            ]
            if usable:
                self.literal_rules += 1
                first = min(
                    range(len(usable)),
                    key=lambda i: (
                        sum(self.uses[x] for x in usable[i][0]),
                        -min(len(a) for a in usable[i][1]),
                    ),
                )
                for literal_id in usable[first][0]:
                    self.trigger.setdefault(literal_id, []).append(position)
                others = tuple(ids for i, (ids, _) in enumerate(usable) if i != first)
                if others:
                    self.rest[position] = others
                continue
            equals = next((f for f in rule.when if f.equals is not None), None)
            if equals is not None:
                self.equals.setdefault((equals.fact, equals.equals or ""), []).append(position)
            else:
                self.always.append(position)
        self.equals_keys = sorted({key for key, _ in self.equals})
        self._plans: dict[int, _Plan] = {}
        self._screens: dict[tuple[str, str] | None, _Screen] = {}
        self._gated_screens: dict[tuple[int, ...], _Screen] = {}
        self._gate_hits = [0] * len(rules)
        self._gated_lock = threading.Lock()

    def _screen(self, bucket: tuple[str, str] | None, positions: list[int]) -> _Screen:
        screen = self._screens.get(bucket)
        if screen is None:
            screen = self._screens[bucket] = _Screen(self.rules[p] for p in positions)
        return screen

    def _lits(self, key: str) -> _LiteralSet:
        lits = self.keys.get(key)
        if lits is None:
            lits = self.keys[key] = _LiteralSet()
        return lits

    def summary(self) -> dict[str, int]:
        """How the rules are gated: ``equals``, ``literal`` and ``always`` rule counts, ``literals``."""
        return {
            "equals": sum(len(v) for v in self.equals.values()),
            "literal": self.literal_rules,
            "always": len(self.always),
            "literals": len(self.uses),
        }

    def candidates(self, prepared: Prepared) -> list[int]:
        """Positions of the rules that pass their gate for ``prepared``, in book order.

        Also screens the regexes of the literal-free rules that pass (see ``_Screen``).
        """
        found: set[int] = set(self.always)
        if self.always:
            self._screen(None, self.always).run(prepared)
        for key in self.equals_keys:  # not every value: hashing a 64 KiB log costs 20 us
            value = prepared.get(key)
            if value is None:
                continue
            owners = self.equals.get((key, value))
            if owners:
                found.update(owners)
                self._screen((key, value), owners).run(prepared)
        present: set[int] = set()
        for key, ids, compiled in self.sets:
            data = prepared.encoded(key)
            if data is None:
                continue
            hits = _scan(compiled, data)
            if hits is None:  # the scan failed: every gate on this key passes
                present.update(ids)
            else:
                present.update([ids[i] for i in hits])
        trigger, rest = self.trigger, self.rest
        gated: set[int] = set()
        for literal_id in present:
            for position in trigger.get(literal_id, ()):
                others = rest.get(position)
                if others is None or all(not present.isdisjoint(g) for g in others):
                    gated.add(position)
        hits, hot = self._gate_hits, []
        for position in gated:  # counted without a lock: only speed depends on it
            hits[position] += 1
            if hits[position] >= _HOT_GATE_HITS:
                hot.append(position)
        if len(hot) >= 2:
            self._gated_screen(tuple(sorted(hot))).run(prepared)
        found.update(gated)
        return sorted(found)

    def _gated_screen(self, positions: tuple[int, ...]) -> _Screen:
        """The set scan of the regexes of literal-gated rules ``positions`` (kept per tuple).

        Logs full of common phrases let the same few rules through again and again
        (``_HOT_GATE_HITS``): their list repeats, its set is compiled once, and one set
        pass costs about what a single search of the log does. Rules let through
        now and then are searched one by one, so a new context compiles nothing.
        """
        screen = self._gated_screens.get(positions)
        if screen is None:
            screen = _Screen(self.rules[p] for p in positions)
            with self._gated_lock:
                if len(self._gated_screens) >= _MAX_GATED_SCREENS:
                    self._gated_screens.clear()
                self._gated_screens[positions] = screen
        return screen

    def confirm(self, position: int, prepared: Prepared) -> Captures | None:
        """:func:`match_rule` for the rule at ``position``, with shared and windowed searches."""
        rule = self.rules[position]
        for fact in rule.when:
            text = prepared.get(fact.fact)
            if text is None:
                return None
            if fact.equals is not None:
                if text != fact.equals:
                    return None
            elif fact.contains is not None and fact.contains not in text:
                return None
        plan = self._plans.get(position)
        if plan is None:
            plan = self._plans[position] = self._plan(rule)
        captures: Captures = {}
        for fact, anchors, others in plan:
            got = prepared.search(fact, anchors, others)
            if got is None:
                return None
            captures.update(got)
        return captures

    def _plan(self, rule: Rule) -> _Plan:
        plan = []
        for fact in rule.when:
            if fact.regex is None:
                continue
            info = analyze(fact.regex)
            anchors: tuple[bytes, ...] = ()
            others: tuple[tuple[bytes, ...], ...] = ()
            if info.line_local and not info.ignore_case and info.groups:
                slots = self.keys[fact.fact].slots if fact.fact in self.keys else {}

                def cost(group: tuple[str, ...], slots: Any = slots) -> tuple[int, int, int]:
                    # each alternative is one scan of the whole value: fewest first, then rarest
                    uses = sum(
                        self.uses[slots[(a, False)]] if (a, False) in slots else 0 for a in group
                    )
                    return len(group), uses, -min(len(a) for a in group)

                best = min(info.groups, key=cost)
                anchors = _encode(best)
                others = tuple(_encode(g) for g in info.groups if g is not best)
            plan.append((fact, anchors, others))
        return tuple(plan)


def _encode(group: tuple[str, ...]) -> tuple[bytes, ...]:
    return tuple(a.encode("utf-8", errors="surrogatepass") for a in group)


def _build(rules: list[Rule]) -> _Index:
    gc_was_enabled = gc.isenabled()
    gc.disable()  # many small objects, none of them garbage; collection passes only slow it down
    try:
        return _Index(rules)
    finally:
        if gc_was_enabled:
            gc.enable()


class RuleBook:
    """An ordered, indexed set of rules with unique names.

    Thread-safe for concurrent reads and writes; the index is rebuilt lazily
    after a change.

    Example:
        >>> book = RuleBook([rule_a, rule_b])          # doctest: +SKIP
        >>> [m.rule.name for m in book.matching(prepare(ctx))]  # doctest: +SKIP
    """

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: dict[str, Rule] = {}
        self._index: _Index | None = None
        self._lock = threading.RLock()
        self.version = 0
        """Incremented on every change, so derived indexes know when to rebuild."""
        for rule in rules:
            self.add(rule)

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(list(self._rules.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._rules

    def get(self, name: str) -> Rule | None:
        """The rule named ``name``, or ``None``."""
        return self._rules.get(name)

    def names(self) -> list[str]:
        """Rule names in load order."""
        return list(self._rules)

    def add(self, rule: Rule, *, replace: bool = True) -> None:
        """Add ``rule``; an existing rule of the same name is replaced unless ``replace=False``.

        Raises:
            ValueError: a rule of that name exists and ``replace`` is false.
        """
        with self._lock:
            if not replace and rule.name in self._rules:
                raise ValueError(f"a rule named {rule.name!r} already exists")
            self._rules[rule.name] = rule
            self._index = None
            self.version += 1

    def remove(self, name: str) -> Rule | None:
        """Remove and return the rule named ``name`` (``None`` if absent)."""
        with self._lock:
            rule = self._rules.pop(name, None)
            if rule is not None:
                self._index = None
                self.version += 1
            return rule

    def _current_index(self) -> _Index:
        index = self._index
        if index is None:
            with self._lock:
                index = self._index
                if index is None:
                    index = self._index = _build(list(self._rules.values()))
        return index

    def matching(self, context: Mapping[str, Any]) -> list[Match]:
        """Every rule whose facts all hold for ``context``, in book order.

        ``context`` may be raw or already prepared (``rules.match.prepare``).
        """
        index = self._current_index()
        prepared = prepare(context)
        out = []
        for position in index.candidates(prepared):
            captures = index.confirm(position, prepared)
            if captures is not None:
                out.append(Match(index.rules[position], captures))
        return out
