"""Type aliases shared across tether's public signatures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeAlias

Context: TypeAlias = dict[str, Any]
"""A failure described as a flat mapping: ``command``, ``exit_code``, ``stderr``, ``error`` ...

Values are strings or numbers; matching compares their string forms.
"""

Captures: TypeAlias = dict[str, str]
"""Named regex groups captured while matching a rule, by group name."""

Seconds: TypeAlias = float | timedelta
"""A duration: a number of seconds, or a ``timedelta``."""

ENVIRONMENT_TAG = "changes-environment"
"""A rule tag: the rule changes things beyond the working tree (installs packages, edits
global config). Starter rules with it are off unless ``allow_environment_changes``."""


def to_seconds(value: Seconds) -> float:
    """Normalise a duration given as seconds or ``timedelta`` to float seconds."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)
