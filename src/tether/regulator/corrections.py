"""Learned corrections: what a user keeps correcting, per topic cluster, bounded.

A correction is filed under the topic cluster of the turn it corrects. Once a
cluster has ``min_corrections`` corrections it is a :class:`CorrectionPattern`
and later turns on that topic get a ``procedural_warning`` (and
``inject_corrections`` adds the examples to the prompt).

The memory is bounded so that a regulator living for months stays as fast as
on day one: at most ``max_clusters`` clusters, least recently used evicted
first (a cluster is used when a turn on it starts or a correction is filed),
and at most ``max_examples`` example texts per cluster (newest kept).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from tether.regulator.decision import CorrectionPattern

__all__ = ["CorrectionMemory"]


class _Cluster:
    __slots__ = ("count", "examples", "pattern")

    def __init__(self, count: int, examples: list[str]) -> None:
        self.count = count
        self.examples = examples  # oldest first
        self.pattern: CorrectionPattern | None = None


class CorrectionMemory:
    """Per-cluster correction counts and examples, LRU-bounded."""

    __slots__ = ("clusters", "max_clusters", "max_examples", "min_corrections")

    def __init__(
        self, *, min_corrections: int = 3, max_clusters: int = 256, max_examples: int = 3
    ) -> None:
        self.min_corrections = min_corrections
        self.max_clusters = max_clusters
        self.max_examples = max_examples
        self.clusters: OrderedDict[str, _Cluster] = OrderedDict()

    def record(self, cluster: str, text: str) -> None:
        """File one correction under ``cluster``."""
        entry = self.clusters.get(cluster)
        if entry is None:
            entry = self.clusters[cluster] = _Cluster(0, [])
            self._evict()
        else:
            self.clusters.move_to_end(cluster)
        entry.count += 1
        entry.examples.append(text)
        if len(entry.examples) > self.max_examples:
            del entry.examples[0]
        entry.pattern = None

    def touch(self, cluster: str) -> None:
        """Mark ``cluster`` as used (a turn on it started)."""
        if cluster in self.clusters:
            self.clusters.move_to_end(cluster)

    def _evict(self) -> None:
        while len(self.clusters) > self.max_clusters:
            self.clusters.popitem(last=False)

    def pattern_for(self, user_id: str, cluster: str) -> CorrectionPattern | None:
        """The learned pattern for ``cluster``, or ``None`` below ``min_corrections``."""
        entry = self.clusters.get(cluster)
        if entry is None or entry.count < self.min_corrections:
            return None
        if entry.pattern is None:
            entry.pattern = CorrectionPattern(
                user_id=user_id,
                topic_cluster=cluster,
                pattern_name=f"corrections_on_{cluster}",
                example_corrections=tuple(reversed(entry.examples)),
                learned_from_turns=entry.count,
                confidence=min(1.0, entry.count / 20),
            )
        return entry.pattern

    def patterns(self, user_id: str) -> list[CorrectionPattern]:
        """Every learned pattern, most recently used first."""
        out = []
        for cluster in reversed(self.clusters):
            p = self.pattern_for(user_id, cluster)
            if p is not None:
                out.append(p)
        return out

    def to_dict(self) -> list[list[Any]]:
        """``[[cluster, count, examples oldest first], ...]`` least recently used first."""
        return [[k, v.count, list(v.examples)] for k, v in self.clusters.items()]

    def load(self, rows: list[list[Any]]) -> None:
        """Restore from :meth:`to_dict` output (keeps the LRU order; applies the bounds)."""
        self.clusters = OrderedDict(
            (k, _Cluster(c, list(ex)[-self.max_examples :])) for k, c, ex in rows
        )
        self._evict()
