"""The rule book: every loaded rule, and the index that finds the ones that hold.

Exact matching covers **all** rules, never the top k of a similarity search.
To keep that fast at 100k rules, each rule gets a *gate*, a cheap necessary
condition built from its facts:

- every literal the rule requires (a ``contains`` value, the literal runs on a
  regex's mandatory path): all literals of one context key sit in one RE2 set,
  which reports every literal present in a single linear scan of the text, and
  a rule passes only when all of its literals were found;
- a rule with no literal but an ``equals`` fact: a dict lookup on ``(key, value)``;
- a rule with neither: always checked.

Rules that pass their gate are then checked fact by fact, cheap facts first.
A gate can let too many rules through, never hide one that holds. The index
is built lazily on the first match after a change.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether._types import Captures
from tether.rules.match import match_rule, prepare, required_literals
from tether.rules.model import Rule

__all__ = ["Match", "RuleBook"]


@dataclass(frozen=True)
class Match:
    """A rule that holds for a context, with the captures its facts produced."""

    rule: Rule
    captures: Captures = field(default_factory=dict)


_MAX_GROUPS = 1 << 16
"""Owner ids encode ``rule_position * _MAX_GROUPS + group_number``."""


class _LiteralSet:
    """Literals of one context key (case-sensitive and case-folded), found with one RE2 set scan."""

    def __init__(self) -> None:
        self.slots: dict[tuple[str, bool], int] = {}
        self.owners: list[list[int]] = []

    def add(self, literal: str, ignore_case: bool, position: int) -> None:
        key = (literal.casefold() if ignore_case else literal, ignore_case)
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = len(self.owners)
            self.owners.append([])
        self.owners[slot].append(position)

    def compile(self) -> Any:
        import re2

        options = re2.Options()
        options.log_errors = False
        options.max_mem = 1 << 30
        matcher = re2.Set.SearchSet(options)
        for literal, ignore_case in self.slots:
            matcher.Add(("(?i)" if ignore_case else "") + re2.escape(literal))
        matcher.Compile()
        return matcher


def _requirements(rule: Rule) -> list[tuple[str, tuple[str, ...], bool]]:
    """``(key, alternatives, ignore_case)`` groups: one alternative of each must occur."""
    out: set[tuple[str, tuple[str, ...], bool]] = set()
    for fact in rule.when:
        if fact.contains is not None:
            out.add((fact.fact, (fact.contains,), False))
        elif fact.regex is not None:
            groups, ignore_case = required_literals(fact.regex)
            out.update((fact.fact, group, ignore_case) for group in groups)
    return sorted(out)


class _Index:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.equals: dict[tuple[str, str], list[int]] = {}
        self.always: list[int] = []
        self.needed: list[int] = [0] * len(rules)
        sets: dict[str, _LiteralSet] = {}
        for position, rule in enumerate(rules):
            groups = _requirements(rule)
            if groups:
                self.needed[position] = len(groups)
                for number, (key, alternatives, ignore_case) in enumerate(groups):
                    owner = position * _MAX_GROUPS + number
                    for literal in alternatives:
                        sets.setdefault(key, _LiteralSet()).add(literal, ignore_case, owner)
                continue
            equals = next((f for f in rule.when if f.equals is not None), None)
            if equals is not None:
                self.equals.setdefault((equals.fact, equals.equals or ""), []).append(position)
            else:
                self.always.append(position)
        self.sets: list[tuple[str, _LiteralSet, Any]] = []
        for key, lits in sets.items():
            try:
                compiled = lits.compile()
            except Exception:
                # RE2 ran out of its memory budget: check these rules in full instead.
                self.always.extend({o // _MAX_GROUPS for owners in lits.owners for o in owners})
                continue
            self.sets.append((key, lits, compiled))
        self.always = sorted(set(self.always))

    def candidates(self, prepared: Any) -> list[int]:
        found: set[int] = set(self.always)
        for key, value in prepared.items():
            owners = self.equals.get((key, value))
            if owners:
                found.update(owners)
        satisfied: set[int] = set()  # (rule, group) owners with one alternative present
        for key, lits, compiled in self.sets:
            data = prepared.encoded(key)
            if data is None:
                continue
            slots = compiled.Match(data)
            if slots:
                for slot in slots:
                    satisfied.update(lits.owners[slot])
        counts = Counter(owner // _MAX_GROUPS for owner in satisfied)
        needed = self.needed
        found.update(p for p, n in counts.items() if n >= needed[p])
        return sorted(found)


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
                    index = self._index = _Index(list(self._rules.values()))
        return index

    def matching(self, context: Mapping[str, Any]) -> list[Match]:
        """Every rule whose facts all hold for ``context``, in book order.

        ``context`` may be raw or already prepared (``rules.match.prepare``).
        """
        index = self._current_index()
        prepared = prepare(context)
        out = []
        for position in index.candidates(prepared):
            rule = index.rules[position]
            captures = match_rule(rule, prepared)
            if captures is not None:
                out.append(Match(rule, captures))
        return out
