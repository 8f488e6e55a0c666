"""Lexical similarity between a failure's text and rules: how near misses are ranked.

A rule's document is its name, description, tags, the literal words of its
facts and its examples. A failure's query is the tail of its error text
(``stderr``, ``error``, ``traceback``, ``stdout``), where errors sit. Scores
are BM25 (k1=1.2, b=0.75) over Unicode word tokens, case-folded. This is only
ever used to *show* rules (to a person or the explorer), never to run them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tether.rules.model import Rule

__all__ = ["ERROR_KEYS", "SimilarityIndex", "error_text", "tokens"]

ERROR_KEYS = ("error", "stderr", "traceback", "error_type", "stdout", "command")
"""Context keys whose text forms the similarity query, most telling first."""

_WORD = re.compile(r"[^\W_]{2,}", re.UNICODE)
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "may",
        "no",
        "not",
        "of",
        "on",
        "or",
        "please",
        "seems",
        "that",
        "the",
        "then",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
    ]
)
_TAIL_CHARS = 8 * 1024


def tokens(text: str) -> list[str]:
    """Unicode word tokens of ``text`` (letters and digits, two or more), case-folded,
    without numbers and a few English function words."""
    found = (t.casefold() for t in _WORD.findall(text))
    return [t for t in found if t not in _STOP and not t.isdigit()]


def error_text(context: Mapping[str, object]) -> str:
    """The last 8 KiB of each error-bearing context value, joined."""
    parts = []
    for key in ERROR_KEYS:
        value = context.get(key)
        if value is not None and value != "":
            parts.append(str(value)[-_TAIL_CHARS:])
    return "\n".join(parts)


def _document(rule: Rule) -> list[str]:
    parts = [rule.name.replace("-", " ").replace("_", " "), rule.description, " ".join(rule.tags)]
    for fact in rule.when:
        parts.append(fact.fact)
        parts.append(fact.equals or fact.contains or re.sub(r"\(\?P<\w+>", " ", fact.regex or ""))
        parts.extend(fact.examples)
    return tokens(" ".join(parts))


@dataclass
class _Doc:
    rule: Rule
    length: int
    terms: Counter[str]


class SimilarityIndex:
    """BM25 over rule documents; build once per rule set, query many times."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.docs = []
        df: Counter[str] = Counter()
        for rule in rules:
            words = _document(rule)
            terms = Counter(words)
            self.docs.append(_Doc(rule, len(words), terms))
            df.update(terms.keys())
        n = len(self.docs) or 1
        self.avg_length = sum(d.length for d in self.docs) / n or 1.0
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self.postings: dict[str, list[int]] = {}
        for i, doc in enumerate(self.docs):
            for term in doc.terms:
                self.postings.setdefault(term, []).append(i)

    def rank(
        self, query: str, k: int = 5, exclude: set[str] | None = None
    ) -> list[tuple[Rule, float]]:
        """The ``k`` best rules for ``query`` with their scores (> 0), best first."""
        exclude = exclude or set()
        scores: dict[int, float] = {}
        for term in set(tokens(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for i in self.postings[term]:
                doc = self.docs[i]
                tf = doc.terms[term]
                norm = tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * doc.length / self.avg_length))
                scores[i] = scores.get(i, 0.0) + idf * norm
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        out = []
        for i, score in ranked:
            rule = self.docs[i].rule
            if rule.name in exclude:
                continue
            out.append((rule, round(score, 4)))
            if len(out) == k:
                break
        return out
