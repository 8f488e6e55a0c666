"""The starter pack: fixes for failures people hit every day, shipped with tether.

Its rules (``rules/*.rule.yaml``) and the actions they call (:mod:`tether.starter.actions`)
live together here, above both the rules and the actions layers.

On by default (``starter_rules: false`` in ``config.yaml`` or
``Tether(starter_rules=False)`` switches it off). A rule in the home with the
same name replaces a starter rule. Rules tagged ``changes-environment``
(global git config, ...) load only with ``allow_environment_changes``.

Opt-in packs live in ``packs/<name>/`` beside the default rules, so the
default load never sees them; ``engine: {packs: [dotenv, yaml-tabs]}`` in
``config.yaml`` switches them on. :data:`PACKS` says in one line what each one
changes; the actions' module, :mod:`tether.starter.actions.packs`, documents
each fix's preconditions.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

from tether.errors import ConfigError
from tether.rules.load import load_dir
from tether.rules.model import Rule

__all__ = ["PACKS", "PACKS_DIR", "STARTER_DIR", "load_starter"]

STARTER_DIR = Path(__file__).parent / "rules"
PACKS_DIR = STARTER_DIR / "packs"

PACKS: dict[str, str] = {
    "git-upstream": "git push without an upstream: runs git's own suggestion, "
    "git push --set-upstream <remote> <branch> (pushes the current branch)",
    "dotenv": "a variable the failure names, defined in .env.example and missing from .env: "
    "appends that line to .env (created if missing)",
    "json-trailing-commas": "a JSON file of the job that fails to parse because of trailing "
    "commas: removes them, only if the file then parses",
    "pytest-duplicate-basenames": "pytest's 'import file mismatch': adds __init__.py to the "
    "test directories involved (inside the job)",
    "port-in-use": "a loopback port held by a leftover process of the same user whose working "
    "directory is inside the job: sends it SIGTERM and waits for the port",
    "yaml-tabs": "tabs in a YAML file's indentation (PyYAML): replaces each leading tab with "
    "two spaces, only if the file then parses the same with two or four",
}
"""Opt-in packs: name -> what enabling it lets tether change."""


def _load_dir(directory: Path) -> tuple[Rule, ...]:
    import tether.starter.actions  # noqa: F401  (registers the pack's actions)

    result = load_dir(directory)
    if result.errors:  # a broken shipped rule is our bug; say so loudly
        raise result.errors[0]
    return tuple(result.rules)


@functools.cache
def _load(pack: str | None) -> tuple[Rule, ...]:
    return _load_dir(STARTER_DIR if pack is None else PACKS_DIR / pack)


def load_starter(packs: Iterable[str] = ()) -> list[Rule]:
    """The starter rules, then each enabled pack's, as fresh copies (files parsed once per process).

    Args:
        packs: names of opt-in packs to add (keys of :data:`PACKS`), in order; repeats ignored.

    Raises:
        ConfigError: a name is not a known pack (the message names ``config.yaml``,
            ``engine.packs`` and the known names).
    """
    wanted = list(dict.fromkeys(packs))
    unknown = [name for name in wanted if name not in PACKS]
    if unknown:
        raise ConfigError(
            f"config.yaml: field 'engine.packs': unknown pack {unknown[0]!r} "
            f"(known: {', '.join(sorted(PACKS))})"
        )
    rules = list(_load(None))
    for name in wanted:
        rules.extend(_load(name))
    return [rule.model_copy(deep=True) for rule in rules]
