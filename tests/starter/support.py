"""Helpers for the starter-pack tests: real contexts, rule lookups, an injected sleep.

Every failure in these tests is produced by the real tool inside ``tmp_path``;
contexts come from :func:`real_context`, which runs the command the same way
``Tether.run_command`` does, so what the rules see here is what they see in use.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from tether import Tether
from tether.process.command import run_command


def real_context(argv: Sequence[str], cwd: Path) -> dict[str, Any]:
    """Run ``argv`` in ``cwd`` for real and return the failure context tether would build."""
    result = run_command(argv, cwd=cwd, stream=False)
    assert result.exit_code != 0, f"{argv} was expected to fail but passed: {result.stdout}"
    return result.context()


def rule_names(engine: Tether, context: dict[str, Any]) -> list[str]:
    """Names of the rules that hold for ``context``, in the order recovery tries them."""
    return [rule.name for rule in engine.resolve(context)]


def captures(engine: Tether, name: str, context: dict[str, Any]) -> dict[str, str]:
    """What rule ``name`` captured from ``context`` (fails the test when it does not hold)."""
    from tether.rules.match import match_context

    rule = engine.book.get(name)
    assert rule is not None, f"rule {name!r} is not loaded"
    got = match_context(rule, context)
    assert got is not None, f"rule {name!r} does not hold for stderr {context['stderr']!r}"
    return got


def need(tool: str) -> str:
    """The path of ``tool``, or skip the test when it is not installed."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


class Sleeper:
    """An injected ``sleep``: records every wait and runs ``on_first`` at the first one."""

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self.calls: list[float] = []
        self.on_first = on_first

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if len(self.calls) == 1 and self.on_first is not None:
            self.on_first()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
