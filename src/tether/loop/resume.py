"""Rebuilding a :class:`~tether.loop.core.Loop` from its saved state (``Loop.load``).

The saved state holds what a run is (goal, pinned facts, ceilings, tool schemas, the
summarizer's stamp) and what it did; tools, the model and policies are code, so the caller
passes them again. The rebuilt loop is refused when its tools or summarizer would change the
prompts the saved run sent (:func:`~tether.loop.persist.check_compatible`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from tether.loop import persist

if TYPE_CHECKING:
    from tether.loop.core import Loop

__all__ = ["rebuild"]

L = TypeVar("L", bound="Loop")


def rebuild(
    cls: type[L],
    path: str | os.PathLike[str],
    *,
    tools: Any = (),
    llm: Any = None,
    extend: Mapping[str, float] | None = None,
    allow_schema_change: bool = False,
    allow_artifact_drift: bool = False,
    **options: Any,
) -> L:
    """A ``cls`` built from the state saved at ``path`` and restored into (see ``Loop.load``).

    Raises:
        StateError, StateCorrupt, StateVersionError, SchemaChangedError, ArtifactDriftError,
        ValueError: as ``Loop.load`` documents.
    """
    state, limits = persist.load_resumable(path, extend or {})
    options.setdefault("trace_path", state.trace_path)
    options.setdefault("quiet", False)
    loop = cls(
        state.goal,
        tools,
        llm,
        pinned=state.pinned,
        state_path=path,
        **limits.to_dict(),
        verbatim_iterations=int(state.limits["verbatim_iterations"]),
        **options,
    )
    persist.check_compatible(
        state,
        loop.services,
        path,
        allow_schema_change=allow_schema_change,
        allow_artifact_drift=allow_artifact_drift,
    )
    persist.restore(loop.run_state, loop.services, state)
    return loop
