"""``tether agent schedule add`` and ``tether agent automations list|history|run|tick``.

- ``schedule add NAME (--every 15m | --cron "0 2 * * *" [--tz Europe/Berlin]) PROMPT``
  writes ``<home>/automations/NAME.yaml`` (``--goal`` for a goal condition, ``--force`` for
  an interval under 10 s, policies as flags).
- ``automations list [--json]``: each automation, its schedule and next slot.
  ``--json``: ``{"home", "automations": [{"name", "schedule", "next_slot", "overlap",
  "enabled", "file"}], "errors": [str]}``.
- ``automations history NAME [--limit N] [--json]``: each slot, newest first: ran / failed /
  skipped / missed / running / queued, the reason and the run id. ``--json``:
  ``{"automation", "slots": [{"slot", "slot_s", "status", "reason", "run_id", "started_s",
  "finished_s", "tokens", "cost_usd"}]}``.
- ``automations run [--once]``: the scheduler daemon (Ctrl-C or SIGTERM stops it cleanly:
  running runs stop at their next safe point and are recorded). ``tick``: run what is due
  now and exit (1 when a run failed, else 0), for system cron or CI. Several of either may share a home: each slot runs
  at most once.

Bad input (an interval like ``5x``, a 6-field cron, an unknown zone, a broken file) exits 2
with the file, key or flag in the message. ``run`` and ``tick`` skip a broken file with a
warning and an inbox item, so one bad file does not stop the others.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from tether.cli.rules import HomeOption

__all__ = ["register"]

schedule_app = typer.Typer(
    help="Add scheduled automations.", no_args_is_help=True, rich_markup_mode=None
)
automations_app = typer.Typer(
    help="List, inspect and run scheduled automations.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

EXIT_BAD_INPUT = 2
"""typer's usage-error code, for bad input named by file, key or flag."""


def register(app: typer.Typer) -> None:
    """Add ``schedule`` and ``automations`` to the ``tether agent`` group."""
    app.add_typer(schedule_app, name="schedule")
    app.add_typer(automations_app, name="automations")


@contextmanager
def bad_input() -> Iterator[None]:
    """Turn an :class:`~tether.orchestrate.AutomationConfigError` into a message and exit 2."""
    from tether.orchestrate import AutomationConfigError

    try:
        yield
    except AutomationConfigError as exc:
        print(f"tether: error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _home(home: Path | None) -> Path:
    from tether.home import resolve_home

    return resolve_home(home)


def _iso(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


@schedule_app.command("add")
def schedule_add(
    name: str = typer.Argument(..., help="The automation's name (the file's stem)."),
    prompt: str = typer.Argument("", help="What each run is asked to do."),
    every: str | None = typer.Option(None, "--every", help="Fixed-rate interval: 15m, 1h, 90s."),
    cron: str | None = typer.Option(None, "--cron", help="Five-field cron line: '0 2 * * *'."),
    tz: str = typer.Option("UTC", "--tz", help="Time zone of --cron (IANA name)."),
    goal: str | None = typer.Option(None, "--goal", help="A goal condition (goal run)."),
    verify: str | None = typer.Option(None, "--verify", help="The command deciding the goal."),
    force: bool = typer.Option(False, "--force", help="Accept an interval under 10 s."),
    overlap: str = typer.Option("skip", "--overlap", help="skip | buffer_one | allow."),
    catchup_window: str | None = typer.Option(None, "--catchup-window", help="e.g. 24h."),
    max_catchup_runs: int | None = typer.Option(None, "--max-catchup-runs", min=0),
    jitter: str | None = typer.Option(None, "--jitter", help="Largest start delay, e.g. 30s."),
    model: str | None = typer.Option(None, "--model", help="provider/model for the runs."),
    cwd: str | None = typer.Option(None, "--cwd", help="The project the tools work in."),
    allow_commands: bool = typer.Option(False, "--allow-commands", help="Give run_command."),
    replace_existing: bool = typer.Option(False, "--replace", help="Overwrite NAME.yaml."),
    home: Path | None = HomeOption,
) -> None:
    """Write <home>/automations/NAME.yaml (checked first: nothing is written on bad input)."""
    import time

    from tether.orchestrate import AutomationConfigError, automation_from_mapping, save_automation

    where = "tether agent schedule add"
    with bad_input():
        if (every is None) == (cron is None):
            raise AutomationConfigError("--every/--cron", "give exactly one of them")
        if tz != "UTC" and cron is None:
            raise AutomationConfigError("--tz", "applies to --cron only")
        data: dict[str, Any] = {"prompt": prompt, "overlap": overlap}
        if every is not None:
            data["every"] = every
        else:
            data["cron"], data["tz"] = cron, tz
        for key, value in (
            ("goal", goal),
            ("verify", verify),
            ("catchup_window", catchup_window),
            ("max_catchup_runs", max_catchup_runs),
            ("jitter", jitter),
            ("model", model),
            ("cwd", str(Path(cwd).absolute()) if cwd else None),
        ):
            if value is not None:
                data[key] = value
        if force:
            data["force"] = True
        if allow_commands:
            data["allow_commands"] = True
        data["created"] = datetime.fromtimestamp(time.time(), UTC).isoformat()
        try:
            automation = automation_from_mapping(name, data, where=where)
        except AutomationConfigError as exc:
            raise AutomationConfigError(_flag(exc.where, where), exc.detail) from None
        path = save_automation(_home(home), automation, replace_existing=replace_existing)
    print(
        f"{path}: {automation.schedule.describe()}, next slot {_iso(automation.schedule.next_after(time.time()))}"
    )


def _flag(where: str, prefix: str) -> str:
    """``tether agent schedule add: key 'every'`` -> ``--every``."""
    if where.startswith(prefix + ": key '"):
        key = where[len(prefix) + 7 :].split("'")[0]
        return "PROMPT" if key == "prompt" else "--" + key.replace("_", "-")
    return where


@automations_app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
    home: Path | None = HomeOption,
) -> None:
    """Each automation with its schedule and next slot; broken files are reported (exit 2)."""
    import time

    from tether.orchestrate import load_automations

    root = _home(home)
    found, errors = load_automations(root)
    now = time.time()
    rows = [
        {
            "name": a.name,
            "schedule": a.schedule.describe(),
            "next_slot": _iso(a.schedule.next_after(now)),
            "overlap": a.overlap,
            "enabled": a.enabled,
            "file": str(a.file) if a.file else None,
        }
        for a in found
    ]
    if as_json:
        print(
            json.dumps({"home": str(root), "automations": rows, "errors": [str(e) for e in errors]})
        )
    else:
        if not rows and not errors:
            print(f"no automations in {root / 'automations'} (add one: tether agent schedule add)")
        for r in rows:
            off = "" if r["enabled"] else " (disabled)"
            print(
                f"{r['name']}: {r['schedule']}, next {r['next_slot']}, overlap {r['overlap']}{off}"
            )
    for exc in errors:
        print(f"tether: error: {exc}", file=sys.stderr)
    if errors:
        raise typer.Exit(EXIT_BAD_INPUT)


@automations_app.command("history")
def history_cmd(
    name: str = typer.Argument(..., help="The automation's name."),
    limit: int = typer.Option(50, "--limit", min=1, help="Newest N slots."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
    home: Path | None = HomeOption,
) -> None:
    """Each slot of NAME, newest first: ran / failed / skipped / missed, reason, run id."""
    from tether.orchestrate import history, load_automations
    from tether.store import open_store

    root = _home(home)
    records = history(open_store(root), name, limit=limit)
    if not records and name not in {a.name for a in load_automations(root)[0]}:
        print(
            f"tether: error: NAME: no automation {name!r} in {root / 'automations'} and no "
            "history of one (tether agent automations list shows them)",
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if as_json:
        print(json.dumps({"automation": name, "slots": [r.to_json() for r in records]}))
        return
    if not records:
        print(f"{name}: no slots recorded yet")
    for r in records:
        run = f" run {r.run_id}" if r.run_id and r.status not in ("missed", "skipped") else ""
        why = f" — {r.reason}" if r.reason else ""
        print(f"{_iso(r.slot_s)}  {r.status:<8}{run}{why}")


def _scheduler(root: Path) -> Any:
    from tether.orchestrate import Inbox, Scheduler, automation_runner, load_automations
    from tether.store import open_store

    store = open_store(root)
    found, errors = load_automations(root)
    inbox = Inbox(store)
    for exc in errors:
        print(f"tether: warning: skipped: {exc}", file=sys.stderr)
        inbox.put(
            f"automation-file:{exc.where.split(':')[0]}",
            "automation file does not load",
            detail=str(exc),
        )
    return Scheduler(store, found, automation_runner(root, store))


@automations_app.command("tick")
def tick_cmd(
    as_json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
    home: Path | None = HomeOption,
) -> None:
    """Run what is due now, then exit (for system cron or CI; safe beside `run` daemons)."""
    sched = _scheduler(_home(home))
    done = sched.tick()
    if as_json:
        print(
            json.dumps(
                {
                    "ran": [
                        {
                            "automation": s.automation,
                            "slot": _iso(s.slot_s),
                            "run_id": s.run_id,
                            "status": st,
                        }
                        for s, st in done
                    ]
                }
            )
        )
    else:
        for slot, status in done:
            print(f"{slot.automation} {_iso(slot.slot_s)}: {status} (run {slot.run_id})")
        if not done:
            print("nothing due")
    if any(status == "failed" for _, status in done):
        raise typer.Exit(1)


@automations_app.command("run")
def run_cmd(
    once: bool = typer.Option(False, "--once", help="Exit after the next due slots have run."),
    home: Path | None = HomeOption,
) -> None:
    """The scheduler daemon: runs every slot at its time until Ctrl-C or SIGTERM."""
    sched = _scheduler(_home(home))
    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        got.append(signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(
            f"tether: scheduling {len(sched.automations)} automation(s); Ctrl-C stops",
            file=sys.stderr,
        )
        sched.run(stop, once=once)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if got:
        print("tether: scheduler stopped", file=sys.stderr)
        if got[0] == signal.SIGINT:
            raise typer.Exit(130)
