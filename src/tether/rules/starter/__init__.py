"""The starter rule pack: fixes for failures people hit every day, shipped with tether.

On by default (``starter_rules: false`` in ``config.yaml`` or
``Tether(starter_rules=False)`` switches it off). A rule in the home with the
same name replaces a starter rule. Rules tagged ``changes-environment``
(global git config, ...) load only with ``allow_environment_changes``.
"""

from __future__ import annotations

import functools
from pathlib import Path

from tether.rules.load import load_dir
from tether.rules.model import Rule

__all__ = ["STARTER_DIR", "load_starter"]

STARTER_DIR = Path(__file__).parent


@functools.cache
def _load() -> tuple[Rule, ...]:
    import tether.actions.starter  # noqa: F401  (registers the pack's actions)

    result = load_dir(STARTER_DIR)
    if result.errors:  # a broken shipped rule is our bug; say so loudly
        raise result.errors[0]
    return tuple(result.rules)


def load_starter() -> list[Rule]:
    """The starter rules (parsed once per process; each call returns fresh copies)."""
    return [rule.model_copy(deep=True) for rule in _load()]
