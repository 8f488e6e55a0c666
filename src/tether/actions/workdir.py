"""Running an action in the failing step's directory when the action cannot be told it.

An action that declares ``ctx``, ``cwd`` or ``workspace`` is given the job's directory and runs
wherever the process is (:func:`tether.actions.run.knows_directory`). One that declares none
relies on the process's working directory, which is process-wide state: such actions run one at
a time, across every engine of the process, inside :func:`working_directory`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tether.errors import ConfigError

__all__ = ["working_directory"]

_CHDIR_LOCK = threading.RLock()


@contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """Enter ``path`` for the block, holding the process-wide lock; restore the old directory.

    Raises:
        ConfigError: ``path`` cannot be entered (the message names it and why).
    """
    with _CHDIR_LOCK:
        before = os.getcwd()
        try:
            os.chdir(path)
        except OSError as exc:
            raise ConfigError(f"cannot enter {path}: {exc.strerror}") from None
        try:
            yield
        finally:
            os.chdir(before)
