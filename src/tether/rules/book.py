"""The rule book: every loaded rule, and the index that finds the ones that hold.

Exact matching covers **all** rules, never the top k of a similarity search.
To keep that fast at 100k rules, each rule gets one *gate*, a cheap necessary
condition taken from one of its facts:

- an ``equals`` fact: a dict lookup on ``(key, value)``;
- else the longest required literal of a ``contains`` or ``regex`` fact:
  all literals of one context key go into one RE2 set (case-sensitive and
  case-folded), which reports every literal present in one linear scan
  of the text;
- else (no usable literal) the rule is always checked.

Only rules whose gate passes are checked fact by fact, so a gate can let
through too many rules but never hides a matching one. This is the literal
prefilter of the design; it is built lazily on the first match after a change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tether._types import Captures
from tether.rules.match import match_rule, required_literal
from tether.rules.model import Rule

__all__ = ["Match", "RuleBook"]


@dataclass(frozen=True)
class Match:
    """A rule that holds for a context, with the captures its facts produced."""

    rule: Rule
    captures: Captures = field(default_factory=dict)


class _LiteralSet:
    """Literals of one context key, found together with one RE2 set scan."""

    def __init__(self, ignore_case: bool) -> None:
        self.ignore_case = ignore_case
        self.literals: dict[str, int] = {}
        self.owners: list[list[int]] = []

    def add(self, literal: str, position: int) -> None:
        key = literal.casefold() if self.ignore_case else literal
        slot = self.literals.get(key)
        if slot is None:
            slot = self.literals[key] = len(self.owners)
            self.owners.append([])
        self.owners[slot].append(position)

    def compile(self) -> Any:
        import re2

        options = re2.Options()
        options.log_errors = False
        options.case_sensitive = not self.ignore_case
        options.max_mem = 1 << 30
        matcher = re2.Set.SearchSet(options)
        for literal in self.literals:
            matcher.Add(re2.escape(literal))
        matcher.Compile()
        return matcher


class _Index:
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.equals: dict[tuple[str, str], list[int]] = {}
        self.always: list[int] = []
        sets: dict[tuple[str, bool], _LiteralSet] = {}
        for position, rule in enumerate(rules):
            gate = _gate(rule)
            if gate is None:
                self.always.append(position)
            elif gate[0] == "equals":
                self.equals.setdefault((gate[1], gate[2]), []).append(position)
            else:
                _, key, literal, ignore_case = gate
                lits = sets.get((key, ignore_case))
                if lits is None:
                    lits = sets[(key, ignore_case)] = _LiteralSet(ignore_case)
                lits.add(literal, position)
        self.sets: list[tuple[str, _LiteralSet, Any]] = []
        for (key, _), lits in sets.items():
            try:
                compiled = lits.compile()
            except Exception:
                # RE2 ran out of its memory budget: fall back to checking these rules in full.
                for owners in lits.owners:
                    self.always.extend(owners)
                continue
            self.sets.append((key, lits, compiled))

    def candidates(self, prepared: Mapping[str, str]) -> list[int]:
        found: set[int] = set(self.always)
        for key, value in prepared.items():
            owners = self.equals.get((key, value))
            if owners:
                found.update(owners)
        for key, lits, compiled in self.sets:
            text = prepared.get(key)
            if text is None:
                continue
            hits = compiled.Match(text)
            if hits:
                for slot in hits:
                    found.update(lits.owners[slot])
        return sorted(found)


def _gate(rule: Rule) -> tuple[Any, ...] | None:
    for fact in rule.when:
        if fact.equals is not None:
            return ("equals", fact.fact, fact.equals)
    best: tuple[Any, ...] | None = None
    for fact in rule.when:
        if fact.contains is not None:
            literal: tuple[str, bool] | None = (fact.contains, False)
        else:
            literal = required_literal(fact.regex or "")
        if literal is not None and (best is None or len(literal[0]) > len(best[2])):
            best = ("literal", fact.fact, literal[0], literal[1])
    return best


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

    def matching(self, prepared: Mapping[str, str]) -> list[Match]:
        """Every rule whose facts all hold for ``prepared`` (see ``rules.match.prepare``), in book order."""
        index = self._current_index()
        out = []
        for position in index.candidates(prepared):
            rule = index.rules[position]
            captures = match_rule(rule, prepared)
            if captures is not None:
                out.append(Match(rule, captures))
        return out
