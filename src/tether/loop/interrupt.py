"""Ctrl-C during a blocking run: the first stops at the next safe point, the second at once."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["install_interrupt", "interrupts"]


def install_interrupt(event: threading.Event, quiet: bool) -> Any:
    """Make the first Ctrl-C set ``event`` (a safe stop) and the second raise; returns the
    handler to restore, or ``None`` when not on the main thread or Ctrl-C is already handled."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        return None

    def handler(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        if not quiet:
            print(
                "tether loop: stopping at the next safe point (Ctrl-C again to stop now)",
                file=sys.stderr,
            )

    signal.signal(signal.SIGINT, handler)
    return previous


@contextmanager
def interrupts(event: threading.Event, quiet: bool) -> Iterator[None]:
    """Within the block, the first Ctrl-C sets ``event`` and the second raises
    ``KeyboardInterrupt`` (see :func:`install_interrupt`); the old handler comes back after."""
    previous = install_interrupt(event, quiet)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
