"""Approvals: actions that a person (or a program standing in for one) must allow first.

:class:`RequireApproval` goes in a loop's ``policies`` and names the gated actions —
tools by name, or a matcher over the call. Before a gated call runs, the loop
asks its approval runner with a frozen :class:`ApprovalRequest` (the action, its
arguments, the reason — never the conversation). Three runners:

- :class:`CLIApproval` asks on the terminal; no terminal or a closed stdin means deny.
- :class:`CallbackApproval` calls a function; an exception or a timeout means deny.
- :class:`HeadlessApproval` answers "pending": the run pauses as AWAITING_APPROVAL with a
  token that expires (default one hour), recorded in the store so that
  ``tether approve TOKEN`` / ``tether deny TOKEN`` work from another shell, and
  ``Loop.resume(path, approval={"token": ..., "approved": True})`` continues it.

Before a resumed run uses an approval it observes again: if the world changed
since the request (its precondition fingerprint differs), the approval is void
and a fresh token is issued. The same shape as a two-phase "plan, then apply"
review, with the plan's freshness checked at apply time.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TextIO

from tether.errors import TetherError
from tether.llm.types import ToolCall
from tether.loop.hooks import ApprovalRunner
from tether.store import Store

__all__ = [
    "DEFAULT_TTL_S",
    "ApprovalError",
    "ApprovalRequest",
    "ApprovalRunner",
    "CLIApproval",
    "CallbackApproval",
    "HeadlessApproval",
    "RequireApproval",
    "approval_store",
    "decide",
]

DEFAULT_TTL_S = 3600.0
"""How long a headless approval request stays valid, in seconds."""


class ApprovalError(TetherError):
    """An approval token is unknown, already used, or does not belong to this run.

    Attributes:
        token: the token given.
    """

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.token = token


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class ApprovalRequest:
    """What an approver sees: one action, read-only.

    Attributes:
        tool: the tool the model wants to call.
        arguments: its arguments (a read-only mapping; nested lists become tuples).
        reason: why approval is needed (from :class:`RequireApproval`).
        iteration: the loop iteration asking.
    """

    tool: str
    arguments: Mapping[str, Any]
    reason: str
    iteration: int = 0

    @classmethod
    def of(cls, call: ToolCall, reason: str, iteration: int) -> ApprovalRequest:
        """The request for ``call`` (arguments deep-frozen)."""
        arguments = call.arguments if isinstance(call.arguments, dict) else {"raw": call.arguments}
        return cls(call.name, _freeze(arguments), reason, iteration)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "tool": self.tool,
            "arguments": _thaw(self.arguments),
            "reason": self.reason,
            "iteration": self.iteration,
        }


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


class RequireApproval:
    """A policy gating actions behind approval. Put it in ``Loop(policies=[...])``.

    Args:
        tools: tool names that always need approval (``None``: decided by ``matcher`` only).
        matcher: ``(call) -> reason | None`` (or a bool) for finer rules, e.g. only
            ``run_command`` calls whose command starts with ``rm``.
        reason: the reason shown when a named tool is gated.
        precondition: ``(call) -> str`` fingerprinting the world the action depends on (e.g. a
            file's hash). With the loop's observation it makes the precondition fingerprint: an
            approval given for one world is void in another.
        on_deny: ``"stop"`` ends the run APPROVAL_DENIED; ``"continue"`` tells the model the action
            was denied and lets it try something else.

    Raises:
        ValueError: neither ``tools`` nor ``matcher`` given, or an unknown ``on_deny``.
    """

    def __init__(
        self,
        tools: Iterable[str] | None = None,
        *,
        matcher: Callable[[ToolCall], str | bool | None] | None = None,
        reason: str = "this action needs approval",
        precondition: Callable[[ToolCall], str] | None = None,
        on_deny: str = "stop",
    ) -> None:
        if tools is None and matcher is None:
            raise ValueError("RequireApproval needs tools=[...] or matcher=")
        if on_deny not in ("stop", "continue"):
            raise ValueError(
                f"RequireApproval on_deny must be 'stop' or 'continue', not {on_deny!r}"
            )
        self.tools = frozenset([tools] if isinstance(tools, str) else tools or ())
        self.matcher = matcher
        self.reason = reason
        self.precondition = precondition
        self.on_deny = on_deny

    def requires(self, call: ToolCall) -> str | None:
        """Why ``call`` needs approval, or ``None`` when it does not."""
        if call.name in self.tools:
            return f"{self.reason} ({call.name})"
        if self.matcher is not None:
            verdict = self.matcher(call)
            if verdict:
                return verdict if isinstance(verdict, str) else f"{self.reason} ({call.name})"
        return None

    def fingerprint(self, call: ToolCall) -> str:
        """This policy's part of the precondition fingerprint for ``call``."""
        return self.precondition(call) if self.precondition is not None else ""

    def __call__(self, report: Any) -> None:
        """No opinion on finished iterations (the gate acts before a call runs)."""
        return None


class CLIApproval:
    """Asks on the terminal: ``Allow run_command {"command": "rm -rf build"}? [y/N]``.

    Args:
        stdin, stdout: streams (default ``sys.stdin``, ``sys.stderr``).
        require_tty: deny without asking when stdin is not a terminal.

    Anything but ``y``/``yes`` denies; a closed stdin (EOF) or no terminal denies, with the
    reason in the trace. Never raises.
    """

    def __init__(
        self, stdin: TextIO | None = None, stdout: TextIO | None = None, *, require_tty: bool = True
    ) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.require_tty = require_tty
        self.last_note = ""

    def decide(self, request: ApprovalRequest) -> bool | None:
        """Prompt and read one line."""
        stdin = self.stdin or sys.stdin
        out = self.stdout or sys.stderr
        try:
            if self.require_tty and not (stdin is not None and stdin.isatty()):
                self.last_note = "no terminal to ask on (stdin is not a TTY): denied"
                return False
            args = json.dumps(_thaw(request.arguments), default=str)[:500]
            out.write(f"tether: {request.reason}\n  allow {request.tool} {args}? [y/N] ")
            out.flush()
            line = stdin.readline()
        except (OSError, ValueError) as exc:  # closed stream
            self.last_note = f"could not ask ({exc}): denied"
            return False
        if line == "":
            self.last_note = "stdin closed before an answer: denied"
            return False
        approved = line.strip().lower() in ("y", "yes")
        self.last_note = "approved on the terminal" if approved else "denied on the terminal"
        return approved


class CallbackApproval:
    """Asks a function ``(request) -> bool``; an exception or ``timeout_s`` seconds means deny.

    The function runs in a daemon thread, so one that hangs cannot hold the loop.

    Args:
        callback: the decider; gets only the frozen request.
        timeout_s: seconds to wait for it.
    """

    def __init__(
        self, callback: Callable[[ApprovalRequest], bool], timeout_s: float = 60.0
    ) -> None:
        self.callback = callback
        self.timeout_s = timeout_s
        self.last_note = ""

    def decide(self, request: ApprovalRequest) -> bool | None:
        """Call the callback with a deadline."""
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = bool(self.callback(request))
            except BaseException as exc:  # any failure is a deny
                box["error"] = f"{type(exc).__name__}: {exc}"

        thread = threading.Thread(target=target, name="tether-approval", daemon=True)
        thread.start()
        thread.join(self.timeout_s)
        if thread.is_alive():
            self.last_note = (
                f"the approval callback did not answer within {self.timeout_s:g} s: denied"
            )
            return False
        if "error" in box:
            self.last_note = f"the approval callback raised {box['error']}: denied"
            return False
        self.last_note = "approved by callback" if box["value"] else "denied by callback"
        return bool(box["value"])


class HeadlessApproval:
    """Pauses the run (AWAITING_APPROVAL) with a token valid for ``ttl_s`` seconds.

    Args:
        ttl_s: seconds a token stays valid.
        store: where pending approvals are recorded, read by ``tether approve``: a store URL
            (``sqlite:///abs/path.db``) or a SQLite file path; default the store of the home
            :func:`tether.home.resolve_home` finds.
        clock: Unix seconds (injectable).

    Raises:
        ValueError: ``ttl_s`` is not positive.
    """

    def __init__(
        self,
        ttl_s: float = DEFAULT_TTL_S,
        *,
        store: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("HeadlessApproval ttl_s must be positive")
        self.ttl_s = ttl_s
        self.store: str | Path | None = None
        if store is not None:
            self.store = store if isinstance(store, str) and "://" in store else Path(store)
        self.clock = clock
        self.last_note = ""

    def decide(self, request: ApprovalRequest) -> bool | None:
        """Always pending: the decision comes from ``tether approve`` or ``Loop.resume``."""
        self.last_note = "waiting for a decision (headless)"
        return None

    def store_url(self) -> str:
        """The URL of the store pending approvals are recorded in (what a pending record keeps)."""
        from tether.store import store_url

        if self.store is None:
            return store_url()
        if isinstance(self.store, str):
            return self.store
        return "sqlite://" + str(self.store.absolute())

    def store_path(self) -> Path:
        """The SQLite file pending approvals are recorded in (for a ``sqlite://`` store).

        Raises:
            ValueError: the store is not a SQLite file.
        """
        scheme, _, rest = self.store_url().partition("://")
        if scheme != "sqlite":
            raise ValueError(f"approval store {self.store_url()!r} is not a SQLite file")
        return Path(rest)

    def issue(self, state_path: str, requests: list[ApprovalRequest]) -> dict[str, Any]:
        """A new token for ``requests``, recorded in the store; returns the pending record.

        The record's ``"store"`` is the store's URL (backend-neutral), not a file path.
        """
        from tether.store import open_store

        token = "apv_" + secrets.token_urlsafe(12)
        now = self.clock()
        url = self.store_url()
        pending = {
            "token": token,
            "requests": [r.to_dict() for r in requests],
            "created_s": now,
            "expires_s": now + self.ttl_s,
            "store": url,
        }
        store = open_store(url=url)
        try:
            store.add_approval(
                token, state_path, {"requests": pending["requests"]}, now, now + self.ttl_s
            )
        finally:
            store.close()
        return pending


def approval_store(pending: dict[str, Any]) -> Store:
    """The store a pending approval was recorded in (its ``"store"``: a URL, or in records from
    before store URLs, a SQLite file path)."""
    from tether.store import open_store

    return open_store(url=str(pending["store"]))


def decide(
    store_path: str | os.PathLike[str],
    token: str,
    approved: bool,
    *,
    note: str = "",
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Record a decision for a pending token (what ``tether approve``/``deny`` do).

    ``store_path`` is a store URL (``sqlite:///abs/path.db``) or a SQLite file path.
    Returns the approval row after the change.

    Raises:
        ApprovalError: the token is unknown, expired, or already decided or used.
        ConfigError: ``store_path`` is a URL with a scheme no backend speaks.
    """
    from tether.store import open_store

    store = open_store(url=os.fspath(store_path))
    try:
        return decide_in(store, token, approved, note=note, now_s=clock())
    finally:
        store.close()


def decide_in(
    store: Store, token: str, approved: bool, *, note: str = "", now_s: float
) -> dict[str, Any]:
    """Decide ``token`` in an open ``store`` at ``now_s`` (Unix seconds); single use.

    Returns the approval row after the change.

    Raises:
        ApprovalError: the token is unknown, expired, or already decided or used (also when
            another decider won the race between the read and the change).
    """
    row = store.get_approval(token)
    if row is None:
        raise ApprovalError(f"approval token {token!r} is unknown (see 'tether approvals')", token)
    if row["status"] == "pending" and now_s > row["expires_s"]:
        store.set_approval_status(token, "expired", now_s=now_s)
        raise ApprovalError(
            f"approval token {token!r} expired; resume the run to get a fresh one", token
        )
    if row["status"] != "pending":
        raise ApprovalError(f"approval token {token!r} is already {row['status']}", token)
    status = "approved" if approved else "denied"
    if not store.set_approval_status(token, status, note=note, now_s=now_s):
        raise ApprovalError(f"approval token {token!r} was decided by someone else just now", token)
    result = store.get_approval(token)
    assert result is not None
    return result


def precondition_fingerprint(observation: str, parts: Iterable[str]) -> str:
    """A short hash of what an approval depends on: the observation and the policies' parts."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(observation.encode("utf-8", "replace"))
    for part in parts:
        digest.update(b"\x00" + part.encode("utf-8", "replace"))
    return digest.hexdigest()
