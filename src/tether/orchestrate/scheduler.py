"""The scheduler: which slots of which automations run now, claimed once across processes.

Several schedulers may share one home (``tether agent automations run`` daemons, ``tick``
from system cron or CI): every decision about a slot — run it, skip it, record it missed —
is an insert of that slot's row (:meth:`tether.store.Store.claim_slots`); the (automation,
slot) key lets exactly one insert through, and the others leave the slot alone.

What happens to a due slot (``now`` at or after ``slot + jitter``):

- **on time** (started within ``grace``): it runs, unless the budget of its window is spent
  (``skipped``) or the previous run still runs: ``overlap: skip`` records it ``skipped``,
  ``buffer_one`` keeps it ``queued`` (one at most; more are ``skipped``) until that run ends,
  ``allow`` runs it beside.
- **late** (the scheduler was down): of the late slots younger than ``catchup_window``, the
  newest ``max_catchup_runs`` (default 1) run as catch-ups, drawing on the same budget; every
  other late slot is recorded ``missed`` with the reason.

Slots due in the same look (several catch-ups, or a catch-up and the current slot) run one
after the other (the later ones ``queued``), except under ``overlap: allow``.

A run is the ``run_automation(automation, slot) -> RunRecord`` callable the scheduler is
given (:func:`tether.orchestrate.autorun.loop_runner` builds a governed Loop; tests pass a
scripted one). A run that fails, ends unfinished, or raises before starting (a missing key)
is recorded ``failed`` and puts one inbox item per automation and reason kind.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tether.orchestrate.automations import Automation
from tether.orchestrate.inbox import Inbox
from tether.orchestrate.schedule import slots_between
from tether.store import Store

__all__ = [
    "MAX_LOOKBACK_S",
    "RunAutomation",
    "RunRecord",
    "Scheduler",
    "Slot",
    "SlotRecord",
    "history",
    "jitter_for",
]

MAX_LOOKBACK_S = 7 * 86400.0
"""How far back missed slots are recorded after downtime (seconds)."""

_CATCHUP = "catch-up after downtime"

MAX_MISSED_RECORDED = 1000
"""At most this many missed slots (the newest) are recorded per look after downtime."""

STALE_MARGIN_S = 300.0
"""A ``running`` row older than the automation's ``wall_clock_s`` plus this is abandoned."""


@dataclass(frozen=True)
class Slot:
    """One claimed slot, handed to ``run_automation``.

    Attributes:
        automation: the automation's name.
        slot_s: the slot's time (Unix seconds).
        start_s: when it was due (``slot_s`` plus its jitter).
        catchup: whether it runs late, after downtime.
        run_id: the id to give the run (traces, state, inbox, history).
        token_limit: tokens the window's budget leaves (``None``: no token budget).
        cost_limit_usd: USD the window's budget leaves (``None``: no USD budget).
        abort: set when the scheduler stops; a run should stop at its next safe point.
    """

    automation: str
    slot_s: float
    start_s: float
    catchup: bool
    run_id: str
    token_limit: int | None = None
    cost_limit_usd: float | None = None
    abort: threading.Event = field(default_factory=threading.Event, compare=False)

    def when(self) -> str:
        """The slot as an ISO date-time in UTC."""
        return _iso(self.slot_s)


@dataclass(frozen=True)
class RunRecord:
    """What one run did, as ``run_automation`` reports it.

    Attributes:
        ok: the run reached its goal (a governed Loop's ``SUCCESS``, a goal met).
        status: the run's own status word (``SUCCESS``, ``BUDGET_EXHAUSTED``, ``GOAL_MET`` ...).
        reason: in words, why it ended.
        run_id: the run's id (default: the slot's).
        input_tokens, output_tokens: tokens spent.
        cost_usd: USD spent (0.0 when unpriced).
    """

    ok: bool
    status: str = ""
    reason: str = ""
    run_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


RunAutomation = Callable[[Automation, Slot], RunRecord]
"""Runs one slot of an automation; may raise (recorded as ``failed``, with an inbox item)."""


@dataclass(frozen=True)
class SlotRecord:
    """One row of an automation's history (``tether agent automations history NAME``).

    Attributes:
        automation: the name.
        slot_s: the slot (Unix seconds).
        status: ``running``, ``queued``, ``ran``, ``failed``, ``skipped`` or ``missed``.
        reason: why (the run's status and reason, the overlap or budget, the downtime).
        run_id: the run's id, when one ran.
        started_s, finished_s: Unix seconds, when it ran.
        tokens: input + output tokens spent.
        cost_usd: USD spent.
    """

    automation: str
    slot_s: float
    status: str
    reason: str
    run_id: str | None
    started_s: float | None
    finished_s: float | None
    tokens: int
    cost_usd: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (``slot`` as ISO UTC added)."""
        return {"slot": _iso(self.slot_s), **self.__dict__}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def jitter_for(automation: Automation, slot_s: float) -> float:
    """The start delay of ``slot_s`` in ``[0, jitter_s)``: derived from the name and the slot,
    so every scheduler sharing the home agrees on it."""
    if automation.jitter_s <= 0:
        return 0.0
    digest = hashlib.sha256(f"{automation.name}@{slot_s!r}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * automation.jitter_s


class Scheduler:
    """Decides, claims and runs the slots of a set of automations.

    Args:
        store: the home's store (claims and history); shared by every scheduler of the home.
        automations: the automations (disabled ones are ignored).
        run_automation: runs one slot (see :data:`RunAutomation`).
        inbox: where failed runs are reported (default: an :class:`Inbox` on ``store``).
        clock: Unix seconds now (injected in tests: a DST day or an outage without waiting).
        owner: who claims (default ``host:pid``), recorded on each row.
    """

    def __init__(
        self,
        store: Store,
        automations: Sequence[Automation],
        run_automation: RunAutomation,
        *,
        inbox: Inbox | None = None,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.automations = [a for a in automations if a.enabled]
        self.run_automation = run_automation
        self.inbox = inbox if inbox is not None else Inbox(store, clock=clock)
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self._by_name = {a.name: a for a in self.automations}
        self._threads: list[threading.Thread] = []
        self._aborts: list[threading.Event] = []

    # -- deciding ---------------------------------------------------------------------------------

    def plan(self, now: float | None = None) -> list[Slot]:
        """Record every due slot's fate and claim the ones to run now; returns those (oldest
        first per automation), each already ``running`` in the store.

        Safe to call from several processes at once: each slot is decided by one of them.

        Raises:
            StoreError: the store cannot be read or written.
        """
        now = self.clock() if now is None else now
        out: list[Slot] = []
        for automation in self.automations:
            out.extend(self._plan_one(automation, now))
        return out

    def _plan_one(self, a: Automation, now: float) -> list[Slot]:
        self._expire_stale(a, now)
        last = self.store.last_slot(a.name)
        if last is None and a.created_s <= 0:  # no history, no creation time: from now on
            lower = now - a.on_time_grace_s() - a.jitter_s - 1e-6
        else:
            lower = max(a.created_s, now - MAX_LOOKBACK_S, last if last is not None else -1e18)
        due = [s for s in slots_between(a.schedule, lower, now) if s + jitter_for(a, s) <= now]
        grace = a.on_time_grace_s()
        on_time = [s for s in due if now - (s + jitter_for(a, s)) <= grace]
        late = [s for s in due if s not in on_time]
        window = [s for s in late if now - s <= a.catchup_window_s]
        catchups = window[len(window) - a.max_catchup_runs :] if a.max_catchup_runs else []
        missed = [s for s in late if s not in catchups][-MAX_MISSED_RECORDED:]
        if missed:
            reason = (
                f"no scheduler ran at the slot; after the downtime up to {a.max_catchup_runs} "
                f"catch-up run(s) of slots younger than {a.catchup_window_s:g}s run "
                "(max_catchup_runs, catchup_window)"
            )
            self.store.claim_slots((a.name, s, "missed", reason, self.owner, now) for s in missed)
        out: list[Slot] = []
        promoted = self._promote_queued(a, now)
        if promoted is not None:
            out.append(promoted)
        in_batch = bool(out)
        for s in sorted(catchups + on_time):
            slot = self._decide(a, s, now, catchup=s in catchups, in_flight=in_batch)
            in_batch = in_batch or slot is not None or self._queued_now(a, s)
            if slot is not None:
                out.append(slot)
        return out

    def _decide(
        self, a: Automation, s: float, now: float, *, catchup: bool, in_flight: bool
    ) -> Slot | None:
        budget_left = self._budget_left(a, now)
        if budget_left is None:
            budget = a.budget
            assert budget is not None
            spent_tokens, spent_usd = self.store.slot_usage(a.name, now - budget.window_s)
            reason = (
                f"budget: the last {budget.window_s:g}s spent {spent_tokens} tokens and "
                f"${spent_usd:.4f} (budget: tokens {budget.tokens}, usd {budget.usd})"
            )
            self.store.claim_slots([(a.name, s, "skipped", reason, self.owner, now)])
            return None
        running = bool(self.store.slot_rows(a.name, statuses=("running",), limit=1))
        status = "running"
        if in_flight and a.overlap != "allow":
            status = "queued"  # due in the same batch: runs after the one before it
        elif running and a.overlap == "skip":
            busy = self.store.slot_rows(a.name, statuses=("running",), limit=1)
            of = f" of slot {_iso(busy[0]['slot_unix_s'])}" if busy else ""
            reason = f"overlap: the run{of} was still running (overlap: skip)"
            self.store.claim_slots([(a.name, s, "skipped", reason, self.owner, now)])
            return None
        elif running and a.overlap == "buffer_one":
            if self.store.slot_rows(a.name, statuses=("queued",), limit=1):
                reason = "overlap: a run was running and one slot was already buffered (overlap: buffer_one)"
                self.store.claim_slots([(a.name, s, "skipped", reason, self.owner, now)])
                return None
            status = "queued"
        run_id = f"{a.name}-{datetime.fromtimestamp(s, UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        reason = _CATCHUP if catchup else ""
        (won,) = self.store.claim_slots([(a.name, s, status, reason, self.owner, now)])
        if not won:
            return None
        self.store.update_slot(a.name, s, status=status, when=(status,), fields={"run_id": run_id})
        if status == "queued":
            return None
        tokens, usd = budget_left
        return Slot(a.name, s, s + jitter_for(a, s), catchup, run_id, tokens, usd)

    def _queued_now(self, a: Automation, s: float) -> bool:
        rows = self.store.slot_rows(a.name, statuses=("queued",))
        return any(float(r["slot_unix_s"]) == s for r in rows)

    def _budget_left(self, a: Automation, now: float) -> tuple[int | None, float | None] | None:
        """What the window's budget leaves (``(None, None)``: no budget), ``None`` when spent."""
        if a.budget is None:
            return (None, None)
        spent_tokens, spent_usd = self.store.slot_usage(a.name, now - a.budget.window_s)
        tokens = None if a.budget.tokens is None else a.budget.tokens - spent_tokens
        usd = None if a.budget.usd is None else a.budget.usd - spent_usd
        if (tokens is not None and tokens <= 0) or (usd is not None and usd <= 0):
            return None
        return (tokens, usd)

    def _promote_queued(self, a: Automation, now: float) -> Slot | None:
        """Start the buffered slot when nothing of ``a`` runs any more (any scheduler may)."""
        if self.store.slot_rows(a.name, statuses=("running",), limit=1):
            return None
        queued = self.store.slot_rows(a.name, statuses=("queued",))
        for row in reversed(queued):  # oldest first
            s = float(row["slot_unix_s"])
            fields = {"started_unix_s": now, "owner": self.owner}
            if self.store.update_slot(a.name, s, status="running", when=("queued",), fields=fields):
                left = self._budget_left(a, now) or (None, None)
                catchup = str(row["reason"]).startswith(_CATCHUP)
                return Slot(a.name, s, s + jitter_for(a, s), catchup, row["run_id"], *left)
        return None

    def _expire_stale(self, a: Automation, now: float) -> None:
        for row in self.store.slot_rows(a.name, statuses=("running",)):
            started = row["started_unix_s"] or row["recorded_unix_s"]
            if now - started > a.wall_clock_s + STALE_MARGIN_S:
                reason = f"abandoned: its scheduler ({row['owner']}) stopped before the run ended"
                if self.store.update_slot(
                    a.name,
                    row["slot_unix_s"],
                    status="failed",
                    when=("running",),
                    fields={"reason": reason, "finished_unix_s": now},
                ):
                    self._report(a, "ABANDONED", reason, row["run_id"], row["slot_unix_s"])

    # -- running ----------------------------------------------------------------------------------

    def execute(self, slot: Slot) -> str:
        """Run one claimed slot and record its end; returns the recorded status (``ran`` or
        ``failed``). Then runs the slots queued behind it, if any (see :meth:`execute_all`).

        Never raises for a failing run: the error is the slot's ``failed`` reason and an
        inbox item (one per automation and error kind, counted).
        """
        return self.execute_all(slot)[0][1]

    def execute_all(self, slot: Slot) -> list[tuple[Slot, str]]:
        """Run ``slot``, then each slot that was queued behind it (``overlap: buffer_one``, or
        due in the same look), one after the other; each with its recorded status."""
        done = []
        nxt: Slot | None = slot
        while nxt is not None:
            done.append((nxt, self._execute_one(nxt)))
            nxt = None
            if self.store.slot_rows(slot.automation, statuses=("queued",), limit=1):
                nxt = self._promote_queued(self._by_name[slot.automation], self.clock())
        return done

    def _execute_one(self, slot: Slot) -> str:
        a = self._by_name[slot.automation]
        try:
            record = self.run_automation(a, slot)
        except Exception as exc:  # a run that raises before or while running
            kind = type(exc).__name__
            record = RunRecord(ok=False, status=kind, reason=str(exc), run_id=slot.run_id)
        status = "ran" if record.ok else "failed"
        reason = record.status + (f": {record.reason}" if record.reason else "")
        self.store.update_slot(
            a.name,
            slot.slot_s,
            status=status,
            when=("running",),
            fields={
                "reason": reason,
                "run_id": record.run_id or slot.run_id,
                "finished_unix_s": self.clock(),
                "input_tokens": record.input_tokens,
                "output_tokens": record.output_tokens,
                "cost_usd": record.cost_usd,
            },
        )
        if not record.ok:
            self._report(
                a, record.status or "FAILED", reason, record.run_id or slot.run_id, slot.slot_s
            )
        return status

    def _report(
        self, a: Automation, kind: str, reason: str, run_id: str | None, slot_s: float
    ) -> None:
        self.inbox.put(
            f"automation:{a.name}:{kind}",
            f"automation {a.name!r}: {kind}",
            detail=f"slot {_iso(slot_s)}: {reason}",
            run_id=run_id,
        )

    def tick(self, now: float | None = None) -> list[tuple[Slot, str]]:
        """Decide what is due now and run it, one slot after the other; returns each run slot
        with its recorded status (for ``tether agent automations tick`` from system cron)."""
        return [done for slot in self.plan(now) for done in self.execute_all(slot)]

    def next_due(self, now: float) -> float | None:
        """The earliest time after ``now`` at which a slot of some automation is due (its
        jitter included), or ``None`` without automations."""
        times = []
        for a in self.automations:
            s = a.schedule.next_after(now - a.jitter_s)
            while s + jitter_for(a, s) <= now:
                s = a.schedule.next_after(s)
            times.append(s + jitter_for(a, s))
        return min(times) if times else None

    def run(
        self,
        stop: threading.Event,
        *,
        once: bool = False,
        wait: Callable[[threading.Event, float], object] | None = None,
        poll_s: float = 30.0,
    ) -> None:
        """Run as a daemon until ``stop`` is set: wake at each due slot (fixed-rate: the next
        wake is the next slot, whatever the runs took), start its run in a thread, go back to
        waiting. On ``stop``, running runs get their ``abort`` set and are waited for.

        Args:
            stop: set it (a signal handler, another thread) to stop.
            once: return after the first batch of slots has run.
            wait: ``wait(stop, seconds)`` (default ``stop.wait``), injected in tests.
            poll_s: the longest sleep, so buffered slots and stale runs are looked at.
        """
        waiter = wait or (lambda event, seconds: event.wait(seconds))
        try:
            while not stop.is_set():
                now = self.clock()
                started = [self._start(slot) for slot in self.plan(now)]
                if once and started:
                    for thread in started:
                        thread.join()
                    return
                alive = [
                    (t, e) for t, e in zip(self._threads, self._aborts, strict=True) if t.is_alive()
                ]
                self._threads = [t for t, _ in alive]
                self._aborts = [e for _, e in alive]
                nxt = self.next_due(self.clock())
                delay = poll_s if nxt is None else min(poll_s, max(0.0, nxt - self.clock()))
                waiter(stop, delay)
        finally:
            for event in self._aborts:
                event.set()
            for thread in self._threads:
                thread.join()

    def _start(self, slot: Slot) -> threading.Thread:
        thread = threading.Thread(
            target=self.execute_all,
            args=(slot,),
            name=f"tether-automation-{slot.run_id}",
            daemon=True,
        )
        self._threads.append(thread)
        self._aborts.append(slot.abort)
        thread.start()
        return thread

    # -- reading ----------------------------------------------------------------------------------

    def history(self, name: str, *, limit: int | None = 50) -> list[SlotRecord]:
        """``name``'s slots, newest first (see :class:`SlotRecord`)."""
        return history(self.store, name, limit=limit)


def history(store: Store, name: str, *, limit: int | None = 50) -> list[SlotRecord]:
    """An automation's slots from ``store``, newest first (see :class:`SlotRecord`)."""
    return [
        SlotRecord(
            automation=r["automation"],
            slot_s=float(r["slot_unix_s"]),
            status=r["status"],
            reason=r["reason"],
            run_id=r["run_id"],
            started_s=r["started_unix_s"],
            finished_s=r["finished_unix_s"],
            tokens=int(r["input_tokens"]) + int(r["output_tokens"]),
            cost_usd=float(r["cost_usd"]),
        )
        for r in store.slot_rows(name, limit=limit)
    ]
