"""The rules in force for a home: its own rules and actions, then the starter pack's rules that
the home does not override by name."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tether._types import ENVIRONMENT_TAG
from tether.errors import ConfigError, TetherError

if TYPE_CHECKING:
    from tether.actions.registry import ActionRegistry
    from tether.config import EngineSettings
    from tether.rules.book import RuleBook
    from tether.store import Store

__all__ = ["rules_in_force"]


def rules_in_force(
    home: Path,
    settings: EngineSettings,
    actions: ActionRegistry,
    *,
    cache: Store | None,
    strict_config: bool,
) -> tuple[RuleBook, list[TetherError]]:
    """Read ``<home>/actions`` into ``actions`` and ``<home>/rules``, then add the starter packs.

    Args:
        home: the home directory.
        settings: the ``engine`` settings (``starter_rules``, ``packs``,
            ``allow_environment_changes``).
        actions: the registry discovered actions join.
        cache: the store that caches parsed rule files, or ``None``.
        strict_config: an unknown pack name raises instead of being reported.

    Returns:
        The book and every file that could not be loaded (as errors, in reading order).

    Raises:
        ConfigError: an unknown pack name, with ``strict_config``.
    """
    from tether.actions.discover import discover_actions
    from tether.rules.book import RuleBook
    from tether.rules.load import load_dir

    errors: list[TetherError] = []
    errors.extend(discover_actions(home / "actions", actions))
    result = load_dir(home / "rules", cache=cache)
    errors.extend(result.errors)
    book = RuleBook(result.rules)
    if not settings.starter_rules:
        return book, errors
    from tether.starter import load_starter

    try:
        starter = load_starter(packs=settings.packs)
    except ConfigError as exc:  # an unknown pack name
        if strict_config:
            raise
        errors.append(exc)
        starter = load_starter()
    for rule in starter:
        if rule.name in book:
            continue
        if ENVIRONMENT_TAG in rule.tags and not settings.allow_environment_changes:
            continue
        book.add(rule)
    return book, errors
