"""Low-confidence spans: stretches of a streamed response whose tokens the model found unlikely.

``token`` events carry each token's log-probability. Consecutive tokens
(by ``index``) whose probability is below ``threshold`` form a span; spans
are reported with character offsets into the concatenated tokens. Tokens
without a log-probability (``None``, or ``0.0`` from providers that have none)
break a span and count as not covered.

Tokens may arrive out of order; spans are computed once per change, when
first asked for, in O(tokens of the turn).
"""

from __future__ import annotations

import math
from typing import Any

from tether.regulator.decision import ConfidenceSpan

__all__ = ["TokenSpans"]

_MAX_TOKENS = 65_536


class TokenSpans:
    """The current turn's tokens and the low-confidence spans among them."""

    __slots__ = ("_cache", "in_order", "log_threshold", "threshold", "tokens")

    def __init__(self, *, threshold: float = 0.2) -> None:
        self.threshold = threshold
        self.log_threshold = math.log(threshold) if threshold > 0 else -math.inf
        self.tokens: list[tuple[int, str, float | None]] = []
        self.in_order = True
        self._cache: tuple[ConfidenceSpan, ...] | None = ()

    def new_turn(self) -> None:
        """Forget the tokens (a new ``turn_start``)."""
        self.tokens = []
        self.in_order = True
        self._cache = ()

    def add(self, index: int, text: str, logprob: float | None) -> None:
        """Record one token (beyond 65,536 tokens a turn, further tokens are ignored)."""
        tokens = self.tokens
        if len(tokens) >= _MAX_TOKENS:
            return
        if tokens and index <= tokens[-1][0]:
            self.in_order = False
        tokens.append((index, text, None if logprob == 0.0 else logprob))
        self._cache = None

    def coverage(self) -> float:
        """Share of the turn's tokens that carried a log-probability, in ``[0, 1]``."""
        if not self.tokens:
            return 0.0
        return sum(1 for t in self.tokens if t[2] is not None) / len(self.tokens)

    def spans(self) -> tuple[ConfidenceSpan, ...]:
        """The low-confidence spans, in order."""
        if self._cache is not None:
            return self._cache
        tokens = self.tokens
        if not self.in_order:
            latest = {t[0]: t for t in tokens}  # a repeated index: the later token wins
            tokens = [latest[i] for i in sorted(latest)]
        out = []
        pos = 0
        start = -1
        total = 0.0
        count = 0
        parts: list[str] = []
        for _, text, lp in tokens:
            if lp is not None and lp < self.log_threshold:
                if start < 0:
                    start, total, count, parts = pos, 0.0, 0, []
                total += lp
                count += 1
                parts.append(text)
            elif start >= 0:
                out.append(_span(start, pos, total, count, parts))
                start = -1
            pos += len(text)
        if start >= 0:
            out.append(_span(start, pos, total, count, parts))
        self._cache = tuple(out)
        return self._cache

    def to_dict(self) -> list[list[Any]]:
        """``[[index, text, logprob], ...]`` in arrival order."""
        return [list(t) for t in self.tokens]

    def load(self, rows: list[list[Any]]) -> None:
        """Restore from :meth:`to_dict` output."""
        self.new_turn()
        for index, text, lp in rows:
            self.add(index, text, lp)


def _span(start: int, end: int, total: float, count: int, parts: list[str]) -> ConfidenceSpan:
    mean = total / count
    return ConfidenceSpan(start, end, math.exp(mean), mean, "".join(parts))
