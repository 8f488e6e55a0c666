"""Names a package exports without importing their modules until first used (PEP 562).

::

    __getattr__, __dir__ = lazy_exports(globals(), {"Loop": "tether.loop", "X": "pkg.mod:Y"})

Resolving a name imports its module once and stores the value in the package's
namespace, so the next access is a plain attribute read. This module imports
nothing itself (``importlib`` only when a name is first resolved), so that a
package at the bottom of the layers (``tether.errors``) may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: dict[str, Any],
    table: Mapping[str, str],
    *,
    publish: Callable[[Any], Any] | None = None,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` for the lazily exported names in ``table``.

    Args:
        namespace: the module's ``globals()``; resolved values are stored in it, and its
            ``__name__`` names the module in errors.
        table: exported name -> ``"home.module"`` (the attribute of the same name) or
            ``"home.module:attribute"``.
        publish: called on each value when first resolved; what it returns is exported
            (``tether`` sets ``__module__ = "tether"`` on its classes and functions).

    Returns:
        ``(__getattr__, __dir__)``. ``__getattr__`` raises :class:`AttributeError` for a name
        not in ``table``; ``__dir__`` lists the namespace, ``__all__`` and ``table``, sorted.
    """
    module = namespace.get("__name__", "?")

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        import importlib

        home, _, attribute = target.partition(":")
        value = getattr(importlib.import_module(home), attribute or name)
        if publish is not None:
            value = publish(value)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())) | set(table))

    return __getattr__, __dir__
