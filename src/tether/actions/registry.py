"""Actions: the deterministic Python functions rules run, registered by name.

Register at module level with ``@action("name")`` (what ``<home>/actions/*.py``
files do, as in the seed) or on one engine with ``engine.action("name")``::

    from tether import action

    @action("remove_stale_lock")
    def remove_stale_lock(path: str, max_age_s: float = 0) -> str:
        ...

Params are validated against the function's signature before a rule runs
(:meth:`ActionSpec.check`): a missing, unknown or ill-typed param is an
:class:`~tether.errors.ActionError` naming the rule, step and param. String
params are coerced to the annotated scalar type (``"5"`` -> ``5`` for ``int``),
since captures are always text.
"""

from __future__ import annotations

import contextvars
import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tether.errors import ActionError

__all__ = ["ActionRegistry", "ActionSpec", "action", "default_registry"]

F = TypeVar("F", bound=Callable[..., Any])


FIX_PARAM = "ctx"
"""The parameter through which an action gets its :class:`~tether.actions.fix.FixContext`."""

DIRECTORY_PARAMS = frozenset({FIX_PARAM, "cwd", "workspace"})
"""Parameters through which an action learns the job's directory (see ``knows_directory``)."""


@dataclass
class ActionSpec:
    """A registered action: its name, function and parameter model."""

    name: str
    fn: Callable[..., Any]
    description: str = ""
    _model: Any = field(default=None, repr=False)
    _accepts_any: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if not self.description:
            self.description = inspect.getdoc(self.fn) or ""
        self.description = self.description.strip().splitlines()[0] if self.description else ""

    @property
    def is_async(self) -> bool:
        """True when the function is a coroutine function (run on its own event loop)."""
        return inspect.iscoroutinefunction(self.fn)

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The function's named parameters that a rule sets (``ctx`` is tether's, not the rule's)."""
        return {
            n: p
            for n, p in inspect.signature(self.fn).parameters.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and n != FIX_PARAM
        }

    @property
    def wants_fix_context(self) -> bool:
        """True when the function declares ``ctx`` (a :class:`~tether.actions.fix.FixContext`)."""
        return FIX_PARAM in inspect.signature(self.fn).parameters

    @property
    def knows_directory(self) -> bool:
        """True when the function is given the job's directory instead of relying on the
        process's working directory: it declares ``ctx`` (a FixContext, rooted there), or a
        ``cwd`` or ``workspace`` parameter (filled with the job's directory)."""
        return not DIRECTORY_PARAMS.isdisjoint(inspect.signature(self.fn).parameters)

    def _params_model(self) -> Any:
        if self._model is None:
            from pydantic import ConfigDict, create_model

            try:
                hints = typing.get_type_hints(self.fn)
            except Exception:
                hints = {}
            sig = inspect.signature(self.fn)
            self._accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
            fields: dict[str, Any] = {}
            for name, param in self.parameters().items():
                annotation = hints.get(name, Any)
                default = ... if param.default is param.empty else param.default
                fields[name] = (annotation, default)
            config = ConfigDict(
                extra="allow" if self._accepts_any else "forbid", arbitrary_types_allowed=True
            )
            self._model = create_model(
                f"{self.name}_params",
                __config__=config,
                **fields,
            )
        return self._model

    def check(
        self, params: Mapping[str, Any], *, rule: str | None = None, step: int | None = None
    ) -> dict[str, Any]:
        """Validate ``params`` against the signature; returns them coerced to the annotated types.

        Raises:
            ActionError: a param is missing, unknown, or of the wrong type (names rule, step, param).
        """
        from pydantic import ValidationError

        model = self._params_model()
        try:
            validated = model.model_validate(dict(params))
        except ValidationError as exc:
            err = exc.errors()[0]
            param = str(err["loc"][0]) if err.get("loc") else None
            kind = err.get("type")
            if kind == "missing":
                problem = "required param is missing"
            elif kind == "extra_forbidden":
                accepted = ", ".join(self.parameters()) or "none"
                problem = f"unknown param (the action accepts: {accepted})"
            else:
                problem = f"ill-typed param: {err.get('msg')} (got {err.get('input')!r})"
            raise ActionError(
                problem, action=self.name, rule=rule, step=step, param=param
            ) from None
        out = {name: getattr(validated, name) for name in self.parameters()}
        if self._accepts_any and validated.model_extra:
            out.update(validated.model_extra)
        return out


class ActionRegistry:
    """Actions by name. An engine's registry falls back to the module-level one.

    Example:
        >>> reg = ActionRegistry()
        >>> @reg.register("noop")
        ... def noop() -> None: ...
        >>> "noop" in reg
        True
    """

    def __init__(self, parent: ActionRegistry | None = None) -> None:
        self._actions: dict[str, ActionSpec] = {}
        self._parent = parent

    def register(self, name: str | None = None, *, description: str = "") -> Callable[[F], F]:
        """Decorator registering a function as action ``name`` (default: its ``__name__``).

        Re-registering a name replaces the earlier action.
        """
        if callable(name):
            raise TypeError('use @action("name") or @action(), not @action')

        def decorate(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"@action expects a function, got {type(fn).__name__}")
            spec = ActionSpec(name or fn.__name__, fn, description)
            self._actions[spec.name] = spec
            return fn

        return decorate

    def get(self, name: str) -> ActionSpec | None:
        """The action ``name`` from this registry, else from its parent, else ``None``."""
        spec = self._actions.get(name)
        if spec is None and self._parent is not None:
            return self._parent.get(name)
        return spec

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def names(self) -> list[str]:
        """All action names, this registry's first, then its parent's."""
        own = list(self._actions)
        inherited = self._parent.names() if self._parent is not None else []
        return own + [n for n in inherited if n not in self._actions]

    def __iter__(self) -> Iterator[ActionSpec]:
        for name in self.names():
            spec = self.get(name)
            if spec is not None:
                yield spec

    def remove(self, name: str) -> None:
        """Forget the action ``name`` in this registry (not in its parent)."""
        self._actions.pop(name, None)


default_registry = ActionRegistry()
"""Where module-level ``@action`` registers when no discovery is collecting."""

collecting: contextvars.ContextVar[ActionRegistry | None] = contextvars.ContextVar(
    "tether_collecting_actions", default=None
)
"""Set while ``<home>/actions/*.py`` files are imported, so their actions land in that engine."""


def action(name: str | None = None, *, description: str = "") -> Callable[[F], F]:
    """Register a module-level function as action ``name``.

    Inside ``<home>/actions/*.py`` the action goes to the engine that discovers
    the file; elsewhere it goes to the process-wide registry every engine can see.

    Args:
        name: the name rules use in ``then[].action`` (default: the function's name).
        description: one line for listings (default: the docstring's first line).
    """
    registry = collecting.get() or default_registry
    return registry.register(name, description=description)
