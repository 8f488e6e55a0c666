"""Loading ``<home>/actions/*.py`` so their ``@action`` functions join an engine.

Each file is imported under a private module name, with the engine's registry
set as the collecting one. A file written for the seed (``from theow import
action``) loads unchanged: while discovery runs, and only if no ``theow``
package is installed, ``theow`` resolves to a small shim exposing tether's
``action`` and ``tool``.

A file that fails to import is reported (file, line, error) and skipped;
the other files still load.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
import types
from pathlib import Path
from typing import Any

from tether.actions.registry import ActionRegistry, action, collecting
from tether.errors import ActionError

__all__ = ["discover_actions"]


def _theow_shim() -> types.ModuleType:
    shim = types.ModuleType("theow")
    shim.action = action  # type: ignore[attr-defined]

    def tool(*args: Any, **kwargs: Any) -> Any:
        from tether.tools import tool as tether_tool

        return tether_tool(*args, **kwargs)

    shim.tool = tool  # type: ignore[attr-defined]
    return shim


def discover_actions(directory: Path, registry: ActionRegistry) -> list[ActionError]:
    """Import every ``*.py`` in ``directory`` (sorted), registering its actions in ``registry``.

    Returns:
        One :class:`ActionError` per file that failed to import (empty when all loaded).
    """
    if not directory.is_dir():
        return []
    errors: list[ActionError] = []
    tag = hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:10]
    shimmed = False
    if "theow" not in sys.modules and importlib.util.find_spec("theow") is None:
        sys.modules["theow"] = _theow_shim()
        shimmed = True
    token = collecting.set(registry)
    try:
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            module_name = f"tether_actions_{tag}.{path.stem}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException as exc:  # a broken user file must not take tether down
                sys.modules.pop(module_name, None)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                frame = traceback.extract_tb(exc.__traceback__)[-1:]
                line = (
                    f", line {frame[0].lineno}" if frame and frame[0].filename == str(path) else ""
                )
                errors.append(
                    ActionError(
                        f"{path}{line}: failed to import: {type(exc).__name__}: {exc}",
                        action=path.stem,
                    )
                )
    finally:
        collecting.reset(token)
        if shimmed:
            sys.modules.pop("theow", None)
    return errors
