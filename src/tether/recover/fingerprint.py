"""Fingerprints of failures, for cycle detection in deep recovery.

Two failures that differ only in volatile text (timestamps, hex addresses,
pids, temporary paths, durations, ports) get the same fingerprint. If a fix
reveals a failure whose fingerprint was already seen at an earlier level, the
fixes are going round in a circle and recovery stops.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["IGNORED_KEYS", "fingerprint", "normalise"]

IGNORED_KEYS = frozenset({"stdout", "cwd", "command", "function"})
"""Context keys left out of a fingerprint: progress output and where/what ran, not what failed."""

_TAIL = 16 * 1024

_MASKS = [
    (
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<addr>"),
    (re.compile(r"\b[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"(?i)\b(pid|process|thread)[\s:=#(]*\d+"), r"\1 <pid>"),
    # directories under a temp root are random; the file name at the end is not
    (
        re.compile(r"(?:/tmp|/var/tmp|/private/var/folders|/var/folders)(?:/[^\s'\":/]+)*/"),
        "<tmp>/",
    ),
    (re.compile(r"\btmp[a-z0-9_]{6,}\b", re.IGNORECASE), "<tmp>"),
    (
        re.compile(r"(?i)\b\d+(?:\.\d+)?\s*(?:ms|µs|us|ns|s|sec|secs|seconds?|minutes?|min)\b"),
        "<dur>",
    ),
    (re.compile(r"(?i)\bport\s+\d+"), "port <n>"),
]


def normalise(text: str) -> str:
    """``text`` with volatile fragments replaced by placeholders (``<time>``, ``<pid>`` ...)."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def fingerprint(context: Mapping[str, Any]) -> str:
    """A short stable hash of a failure's context (see :data:`IGNORED_KEYS`)."""
    digest = hashlib.blake2b(digest_size=12)
    for key in sorted(context):
        if key in IGNORED_KEYS or context[key] is None:
            continue
        value = normalise(str(context[key])[-_TAIL:])
        digest.update(f"{key}\0{value}\0".encode("utf-8", errors="replace"))
    return "b2:" + digest.hexdigest()
