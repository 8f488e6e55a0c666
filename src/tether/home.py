"""Where ``<home>`` is: the one rule the engine, the CLI and the loop's approvals share.

Standard library only, so that ``tether run`` can find the home on its fast path
without loading pydantic.

Finding the home
----------------

:func:`resolve_home` decides where ``<home>`` is, once, for the engine and the CLI:

1. the ``home`` argument (``--home``), then ``$TETHER_HOME``: used as given;
2. else the nearest ``.tether/`` directory in the working directory or one of its
   parents (:func:`find_home`), the way git finds ``.git`` and ruff its
   ``pyproject.toml``. The walk stops after the first directory holding ``.git``
   (a directory, or a file for worktrees and submodules): a repository's commands
   never pick up the rules of a home above it, such as one in the user's home
   directory. Without a repository it stops at the filesystem root;
3. else ``./.tether`` in the working directory (created by ``tether init`` or the
   first record a run keeps).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_DIR", "HOME_ENV", "existing_home", "explicit_home", "find_home", "resolve_home"]

HOME_DIR = ".tether"
"""The name of a home directory found by walking up (:func:`find_home`)."""
HOME_ENV = "TETHER_HOME"
"""The environment variable naming the home; it wins over the walk."""


def explicit_home(home: str | os.PathLike[str] | None = None) -> Path | None:
    """The home chosen outright: ``home`` (``--home``), else ``$TETHER_HOME``; else ``None``.

    Returns:
        An absolute path (``~`` expanded), whether or not it exists.
    """
    chosen = home if home is not None else os.environ.get(HOME_ENV) or None
    return None if chosen is None else Path(chosen).expanduser().absolute()


def find_home(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest ``.tether/`` directory in ``start`` or one of its parents, else ``None``.

    The walk checks ``start`` first, then each parent. It stops after the first
    directory that holds ``.git`` (the top of a repository, or of a worktree or
    submodule, where ``.git`` is a file) and at the filesystem root. Only
    directories count: a file named ``.tether`` is passed over.

    Args:
        start: where to begin (default: the working directory); made absolute.

    Returns:
        The absolute path of the home found, or ``None``.
    """
    here = Path(start if start is not None else os.getcwd()).expanduser().absolute()
    for directory in (here, *here.parents):
        candidate = directory / HOME_DIR
        if candidate.is_dir():
            return candidate
        if (directory / ".git").exists():
            return None
    return None


def resolve_home(
    home: str | os.PathLike[str] | None = None, *, start: str | os.PathLike[str] | None = None
) -> Path:
    """Where ``<home>`` is: ``home``, ``$TETHER_HOME``, the nearest ``.tether/``, else ``./.tether``.

    See the module docstring for the order and where the walk up stops. Nothing is
    created: a home that does not exist yet is returned as the place to make it.

    Args:
        home: the home given outright (``--home``); wins over everything.
        start: the directory to walk up from (default: the working directory).

    Returns:
        An absolute path.
    """
    chosen = explicit_home(home)
    if chosen is not None:
        return chosen
    base = Path(start if start is not None else os.getcwd()).expanduser().absolute()
    return find_home(base) or base / HOME_DIR


def existing_home(
    home: str | os.PathLike[str] | None = None, *, start: str | os.PathLike[str] | None = None
) -> Path | None:
    """The home :func:`resolve_home` picks, if it is an existing directory; else ``None``.

    Read-only commands use this: they never create a home ("no home here").
    """
    where = resolve_home(home, start=start)
    return where if where.is_dir() else None
