"""Typer's values converted without pydantic, so that a command starts fast.

Typer converts every non-flag value through a pydantic ``TypeAdapter``; importing
pydantic and building the adapters would cost ``tether run -- true`` twice what
``tether --help`` costs. :func:`plain_values`, called from a command's
``parse_args``, gives the named parameters a plain converter instead. Where typer's
parameters are not as expected (another typer version), its own conversion is kept:
only the start-up cost changes.
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["PlainValue", "plain_values"]


class PlainValue:
    """Converts one value to ``kind`` (at least ``minimum``) without pydantic; errors as typer's."""

    def __init__(self, kind: type, minimum: float | None) -> None:
        self.kind, self.minimum = kind, minimum

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        """``value`` (one, a list, or ``None``) converted; raises ``typer.BadParameter``."""
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        if isinstance(value, list | tuple):
            return [self._one(v, param, ctx) for v in value]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        if self.kind is bool:
            return bool(value)
        try:
            out = self.kind(value)
        except (TypeError, ValueError):
            name = self.kind.__name__
            raise typer.BadParameter(
                f"{value!r} is not a valid {name}", ctx=ctx, param=param
            ) from None
        if self.minimum is not None and out < self.minimum:
            raise typer.BadParameter(
                f"{out} is below the minimum {self.minimum:g}", ctx=ctx, param=param
            )
        return out


def plain_values(params: list[Any], table: dict[str, tuple[type, float | None]]) -> None:
    """Give typer ``params`` named in ``table`` a converter without pydantic (before parsing).

    Args:
        params: a click command's parameters.
        table: parameter name -> (the type its value converts to, its minimum or ``None``).
    """
    for param in params:
        plain = table.get(param.name or "")
        if plain is not None and getattr(param, "_runtime_param", "absent") is None:
            param._runtime_param = PlainValue(*plain)
