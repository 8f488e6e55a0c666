"""From a failure's context to the rules that hold for it, in the order to try them.

Order, as in the seed: rules named explicitly, then rules carrying any of the
tags, then (``fallback=True``) every other rule of the collection. Unlike the
seed, whose similarity search proposes only its top k, exact matching here
covers every rule (through the rule book's literal prefilter), and a rule is
returned only if all of its facts hold.

:meth:`Resolver.near_misses` is separate: rules that do *not* hold, ranked by
lexical similarity to the error text, for people and the explorer to read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.rules.book import Match, RuleBook
from tether.rules.match import match_fact, prepare
from tether.rules.model import Fact, Rule
from tether.rules.similar import SimilarityIndex, error_text

__all__ = ["NearMiss", "Resolver"]


@dataclass(frozen=True)
class NearMiss:
    """A rule that did not hold but reads like the failure: its score and the facts that failed."""

    rule: Rule
    score: float
    unmet: list[Fact] = field(default_factory=list)


class Resolver:
    """Resolves contexts against a :class:`RuleBook`."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self._similar: tuple[int, SimilarityIndex] | None = None

    def resolve(
        self,
        context: Mapping[str, Any],
        *,
        rules: Sequence[str] | None = None,
        tags: Iterable[str] | None = None,
        collection: str | None = "default",
        fallback: bool = True,
        exclude: Iterable[str] = (),
    ) -> list[Match]:
        """The matches for ``context``: named rules, then tagged ones, then the collection's.

        Args:
            context: the failure, a flat mapping (values compared as text).
            rules: rule names to try first, in this order (any collection).
            tags: rules carrying any of these tags come next (within ``collection``).
            collection: the collection tags and fallback draw from; ``None`` for all.
            fallback: whether other matching rules of the collection follow.
            exclude: rule names to leave out (e.g. already tried).

        Returns:
            Each matching rule once, with its captures, in the order above.
        """
        prepared = prepare(context)
        skip = set(exclude)
        out: list[Match] = []
        matches = self.book.matching(prepared)
        by_name = {m.rule.name: m for m in matches}
        for name in rules or ():
            found = by_name.get(name)
            if found is not None and name not in skip:
                out.append(found)
                skip.add(name)
        wanted = set(tags or ())
        in_collection = [
            m
            for m in matches
            if m.rule.name not in skip and (collection is None or m.rule.collection == collection)
        ]
        if wanted:
            for m in in_collection:
                if wanted.intersection(m.rule.tags):
                    out.append(m)
                    skip.add(m.rule.name)
        if fallback:
            out.extend(m for m in in_collection if m.rule.name not in skip)
        return out

    def near_misses(
        self, context: Mapping[str, Any], k: int = 5, *, collection: str | None = None
    ) -> list[NearMiss]:
        """Up to ``k`` rules that do not hold for ``context``, most similar first.

        Similarity is BM25 between the context's error text and each rule's
        description, facts and examples (see :mod:`tether.rules.similar`).
        These are never executed.
        """
        index = self._index()
        prepared = prepare(context)
        holding = {m.rule.name for m in self.book.matching(prepared)}
        ranked = index.rank(error_text(context), k=k * 4 + len(holding), exclude=holding)
        out = []
        for rule, score in ranked:
            if collection is not None and rule.collection != collection:
                continue
            unmet = [f for f in rule.when if match_fact(f, prepared.get(f.fact)) is None]
            out.append(NearMiss(rule, score, unmet))
            if len(out) == k:
                break
        return out

    def _index(self) -> SimilarityIndex:
        version = self.book.version
        if self._similar is None or self._similar[0] != version:
            self._similar = (version, SimilarityIndex(self.book))
        return self._similar[1]
