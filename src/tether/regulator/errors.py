"""The regulator's typed errors.

The tree (all under :class:`tether.errors.TetherError`, and ``ValueError``
where the cause is a bad value, so ``except ValueError`` keeps working)::

    RegulatorError                   anything the regulator refused
    ├── InvalidEventError(field)     an event of an unknown type, a missing field, a wrong type
    │   └── InvalidQualityError      quality outside [0, 1] or not finite
    ├── InvalidSettingError(setting) a builder setting out of range
    └── SnapshotError                an export that is not JSON or not a regulator snapshot
        └── SnapshotVersionError(found, expected)  a snapshot written by another format version

Every error is raised before any state changes: a refused event or snapshot
leaves what the regulator has learned untouched.
"""

from __future__ import annotations

from typing import Any

from tether.errors import TetherError

__all__ = [
    "InvalidEventError",
    "InvalidQualityError",
    "InvalidSettingError",
    "RegulatorError",
    "SnapshotError",
    "SnapshotVersionError",
]


class RegulatorError(TetherError):
    """Base class of the regulator's errors."""


class InvalidEventError(RegulatorError, ValueError):
    """An event the regulator cannot accept.

    Attributes:
        field: the offending field (``"quality"``, ``"kind"`` ...), or ``None``.
        problem: what is wrong and what to pass instead.
    """

    def __init__(self, problem: str, *, field: str | None = None) -> None:
        self.problem = problem
        self.field = field
        super().__init__(f"event field {field!r}: {problem}" if field else problem)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.problem,), {"field": self.field}))


class InvalidQualityError(InvalidEventError):
    """A ``quality_feedback`` quality that is not a finite number in ``[0, 1]``."""


class InvalidSettingError(RegulatorError, ValueError):
    """A builder setting out of range (``with_cost_cap(-1)`` ...).

    Attributes:
        setting: the builder's name (``"with_cost_cap"``).
    """

    def __init__(self, problem: str, *, setting: str) -> None:
        self.problem = problem
        self.setting = setting
        super().__init__(f"{setting}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.problem,), {"setting": self.setting}))


class SnapshotError(RegulatorError, ValueError):
    """A snapshot that is not valid JSON or not a regulator snapshot (corrupted, truncated)."""


class SnapshotVersionError(SnapshotError):
    """A snapshot written in another format version.

    Attributes:
        found: the version in the snapshot.
        expected: the version this tether reads.
    """

    def __init__(self, found: object, expected: int) -> None:
        self.found = found
        self.expected = expected
        super().__init__(
            f"snapshot format version {found!r} is not supported (this tether reads version "
            f"{expected}); export it again with the tether that wrote it, or upgrade tether"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.found, self.expected))


def _rebuild(cls: type[Exception], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Exception:
    return cls(*args, **kwargs)
