"""Plugin files for ``tether run --plugin FILE``: tools plus ``setup``/``teardown`` hooks.

A plugin is a Python file. Its ``@tool`` functions register as usual; module
level functions named ``setup(state, attempt)`` and ``teardown(state, attempt,
success)`` become the run's hooks.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.errors import ConfigError

__all__ = ["Plugin", "load_plugin"]


@dataclass
class Plugin:
    """The hooks a plugin file defines (either may be ``None``)."""

    path: Path
    setup: Callable[[dict[str, Any], int], dict[str, Any] | None] | None = None
    teardown: Callable[[dict[str, Any], int, bool], None] | None = None


def load_plugin(path: str | Path) -> Plugin:
    """Import the plugin at ``path``.

    Raises:
        ConfigError: the file is missing or fails to import (with the cause).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"plugin {path}: no such file")
    name = f"tether_plugin_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"plugin {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise ConfigError(f"plugin {path}: failed to import: {type(exc).__name__}: {exc}") from None
    setup, teardown = getattr(module, "setup", None), getattr(module, "teardown", None)
    return Plugin(
        path,
        setup if callable(setup) else None,
        teardown if callable(teardown) else None,
    )
