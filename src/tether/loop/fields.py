"""Attributes of :class:`~tether.loop.core.Loop` that live in its run state or services.

``Loop`` keeps no copy of what a run changes: ``loop.iteration`` reads
``loop.run_state.iteration``, ``loop.token_limit`` reads ``loop.services.ceilings.token_limit``
(and writing it replaces the frozen :class:`~tether.loop.ceilings.Ceilings` with a changed copy).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Generic, TypeVar

__all__ = ["CeilingField", "Forward"]

T = TypeVar("T")


class Forward(Generic[T]):
    """An attribute of ``Loop`` kept in its run state or services (one place for each value).

    Args:
        holder: the owner's attribute holding the value (``"run_state"``, ``"services"``).
        name: the value's attribute on the holder.
        doc: the attribute's docstring.
    """

    def __init__(self, holder: str, name: str, doc: str = "") -> None:
        self.holder, self.name, self.__doc__ = holder, name, doc

    def __get__(self, obj: Any, objtype: Any = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        return getattr(getattr(obj, self.holder), self.name)  # type: ignore[no-any-return]

    def __set__(self, obj: Any, value: T) -> None:
        setattr(getattr(obj, self.holder), self.name, value)


class CeilingField(Forward[T]):
    """A ceiling of ``Loop``: read from, and written as a new copy of, its ``Ceilings``."""

    def __init__(self, name: str) -> None:
        super().__init__("services", name, f"The {name} ceiling (see :class:`Ceilings`).")

    def __get__(self, obj: Any, objtype: Any = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        return getattr(obj.services.ceilings, self.name)  # type: ignore[no-any-return]

    def __set__(self, obj: Any, value: T) -> None:
        obj.services.ceilings = replace(obj.services.ceilings, **{self.name: value})
