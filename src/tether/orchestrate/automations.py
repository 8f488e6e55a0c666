"""Automations: a prompt run on a schedule, one YAML file each under ``<home>/automations/``.

A file (``<home>/automations/nightly.yaml``; the name is the file's stem)::

    prompt: Summarise yesterday's failed CI runs into notes/ci.md
    cron: "30 2 * * *"          # or  every: 15m   (fixed-rate; below 10s needs force: true)
    tz: Europe/Berlin           # cron only; default UTC
    overlap: skip               # skip (default) | buffer_one | allow
    catchup_window: 24h         # a slot missed longer ago than this is never run late
    max_catchup_runs: 1         # late slots run after downtime (the newest); the rest: missed
    jitter: 0s                  # each slot starts up to this much later (the same for every
                                # scheduler: derived from the name and the slot)
    budget: {window: 1d, usd: 2.0, tokens: 400000}   # all runs of the window, catch-ups too
    model: anthropic/claude-sonnet-4-20250514        # default: engine.llm of config.yaml
    cwd: ..                     # the project the tools work in (relative to the home)
    allow_commands: false       # run_command is neither given nor shown to the model
    max_iterations: 20          # per-run ceilings of the governed Loop
    token_limit: 200000
    cost_limit_usd: 1.0
    wall_clock_s: 1800
    enabled: true

``goal:`` (a condition) and ``verify:`` (a command) may replace or accompany ``prompt``; they
are kept for the goal runner (``tether agent goal``), which the scheduler is given as its
``run_automation`` callable. Every key is checked when the file loads; an error names the file
and the key (:class:`~tether.orchestrate.errors.AutomationConfigError`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from tether.orchestrate.errors import AutomationConfigError
from tether.orchestrate.schedule import Cron, Every, Schedule, parse_duration

__all__ = [
    "AUTOMATIONS_DIR",
    "Automation",
    "AutomationBudget",
    "Overlap",
    "automation_from_mapping",
    "load_automation",
    "load_automations",
    "save_automation",
]

AUTOMATIONS_DIR = "automations"
"""The folder under the home that holds ``<name>.yaml`` files."""

Overlap = Literal["skip", "buffer_one", "allow"]
_OVERLAPS = ("skip", "buffer_one", "allow")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_KEYS = {
    "prompt",
    "goal",
    "verify",
    "every",
    "cron",
    "tz",
    "force",
    "overlap",
    "catchup_window",
    "max_catchup_runs",
    "jitter",
    "budget",
    "model",
    "cwd",
    "allow_commands",
    "max_iterations",
    "token_limit",
    "cost_limit_usd",
    "wall_clock_s",
    "enabled",
    "grace",
    "created",
}


@dataclass(frozen=True)
class AutomationBudget:
    """What all runs of one automation may spend per ``window_s`` seconds (catch-ups included).

    Attributes:
        window_s: the window's length, counted back from now.
        usd: USD ceiling over the window, or ``None``.
        tokens: token ceiling (input + output) over the window, or ``None``.
    """

    window_s: float = 86400.0
    usd: float | None = None
    tokens: int | None = None


@dataclass(frozen=True)
class Automation:
    """One automation (see the module docstring for the file format and the defaults).

    Attributes:
        name: the file's stem (``[a-z0-9][a-z0-9_-]*``).
        schedule: :class:`~tether.orchestrate.schedule.Every` or ``Cron``.
        prompt: what the run is asked to do.
        goal: a goal condition for goal runs (``None``: a plain run).
        verify: the command that decides a goal run (``None``: none).
        overlap: what a slot does while the previous run still runs.
        catchup_window_s: late slots older than this are recorded ``missed``, never run.
        max_catchup_runs: how many late slots run after downtime (the newest ones).
        jitter_s: the largest start delay after a slot.
        grace_s: a slot started within this of its time is on time, not a catch-up.
        budget: per-window spending, or ``None``.
        model: the model name, ``None``: the home's ``engine.llm``.
        cwd: the project directory the tools work in.
        allow_commands: whether ``run_command`` is given to the model.
        max_iterations, token_limit, cost_limit_usd, wall_clock_s: the run's ceilings.
        enabled: ``False`` keeps the file but schedules nothing.
        created_s: Unix seconds from which slots count (no slot before it is missed);
            ``0``: from the first time a scheduler looks at it.
        file: the YAML file it came from (``None`` when built in code).
    """

    name: str
    schedule: Schedule
    prompt: str
    goal: str | None = None
    verify: str | None = None
    overlap: Overlap = "skip"
    catchup_window_s: float = 86400.0
    max_catchup_runs: int = 1
    jitter_s: float = 0.0
    grace_s: float = 60.0
    budget: AutomationBudget | None = None
    model: str | None = None
    cwd: Path | None = None
    allow_commands: bool = False
    max_iterations: int = 20
    token_limit: int = 200_000
    cost_limit_usd: float | None = None
    wall_clock_s: float = 1800.0
    enabled: bool = True
    created_s: float = 0.0
    file: Path | None = field(default=None, compare=False)

    def on_time_grace_s(self) -> float:
        """The on-time tolerance in force: ``grace_s``, at most half an interval."""
        if isinstance(self.schedule, Every):
            return min(self.grace_s, self.schedule.interval_s / 2)
        return self.grace_s

    def to_mapping(self) -> dict[str, Any]:
        """The YAML mapping that loads back as this automation (defaults left out)."""
        out: dict[str, Any] = {}
        if self.prompt:
            out["prompt"] = self.prompt
        for key in ("goal", "verify", "model"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if isinstance(self.schedule, Every):
            out["every"] = f"{self.schedule.interval_s:g}s"
            if self.schedule.interval_s < 10:
                out["force"] = True
        else:
            out["cron"] = self.schedule.expr
            out["tz"] = self.schedule.tz
        defaults = Automation(self.name, self.schedule, self.prompt)
        for key, as_key, fmt in (
            ("overlap", "overlap", str),
            ("catchup_window_s", "catchup_window", lambda v: f"{v:g}s"),
            ("max_catchup_runs", "max_catchup_runs", int),
            ("jitter_s", "jitter", lambda v: f"{v:g}s"),
            ("grace_s", "grace", lambda v: f"{v:g}s"),
            ("allow_commands", "allow_commands", bool),
            ("max_iterations", "max_iterations", int),
            ("token_limit", "token_limit", int),
            ("cost_limit_usd", "cost_limit_usd", float),
            ("wall_clock_s", "wall_clock_s", float),
            ("enabled", "enabled", bool),
        ):
            value = getattr(self, key)
            if value != getattr(defaults, key):
                out[as_key] = fmt(value)
        if self.cwd is not None:
            out["cwd"] = str(self.cwd)
        if self.budget is not None:
            b: dict[str, Any] = {"window": f"{self.budget.window_s:g}s"}
            if self.budget.usd is not None:
                b["usd"] = self.budget.usd
            if self.budget.tokens is not None:
                b["tokens"] = self.budget.tokens
            out["budget"] = b
        if self.created_s:
            out["created"] = datetime.fromtimestamp(self.created_s, UTC).isoformat()
        return out


def _check_name(name: str, where: str) -> str:
    if not _NAME.match(name):
        raise AutomationConfigError(
            where,
            f"automation name {name!r} is not allowed; use lowercase letters, digits, '-' and "
            "'_' (up to 64, starting with a letter or digit)",
        )
    return name


def _typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = data[key]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise AutomationConfigError(f"{where}: key {key!r}", f"expected a number, got {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise AutomationConfigError(
            f"{where}: key {key!r}", f"expected {names}, got {type(value).__name__} {value!r}"
        )
    return value


def automation_from_mapping(
    name: str, data: Mapping[str, Any], *, where: str, base: Path | None = None
) -> Automation:
    """Build and check an :class:`Automation` from a parsed YAML mapping.

    Args:
        name: the automation's name.
        data: the mapping (keys as in the module docstring).
        where: the file (or ``"--flags"``) for errors.
        base: the directory a relative ``cwd`` is taken from (the home).

    Raises:
        AutomationConfigError: an unknown key, a wrong type, a bad interval, cron or zone,
            neither or both of ``every`` and ``cron``, no ``prompt`` nor ``goal``.
    """
    _check_name(name, where)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise AutomationConfigError(
            f"{where}: key {unknown[0]!r}", f"unknown key; known: {', '.join(sorted(_KEYS))}"
        )
    kw: dict[str, Any] = {}
    force = bool(_typed(data, "force", bool, where)) if "force" in data else False
    if ("every" in data) == ("cron" in data):
        raise AutomationConfigError(where, "give exactly one of 'every' (e.g. 15m) and 'cron'")
    schedule: Schedule
    if "every" in data:
        every = _typed(data, "every", (str, int, float), where)
        schedule = Every.parse(every, where=f"{where}: key 'every'", force=force)
        if "tz" in data:
            raise AutomationConfigError(f"{where}: key 'tz'", "'tz' applies to 'cron' only")
    else:
        expr = _typed(data, "cron", str, where)
        tz = _typed(data, "tz", str, where) if "tz" in data else "UTC"
        schedule = Cron.parse(expr, tz, where=f"{where}: key 'cron'", tz_where=f"{where}: key 'tz'")
    prompt = _typed(data, "prompt", str, where) if "prompt" in data else ""
    for key in ("goal", "verify", "model"):
        if key in data:
            kw[key] = _typed(data, key, str, where)
    if not prompt.strip() and not kw.get("goal"):
        raise AutomationConfigError(f"{where}: key 'prompt'", "give a prompt (or a goal)")
    if "overlap" in data:
        overlap = _typed(data, "overlap", str, where)
        if overlap not in _OVERLAPS:
            raise AutomationConfigError(
                f"{where}: key 'overlap'", f"{overlap!r}: use one of {', '.join(_OVERLAPS)}"
            )
        kw["overlap"] = overlap
    for key, attr in (
        ("catchup_window", "catchup_window_s"),
        ("jitter", "jitter_s"),
        ("grace", "grace_s"),
    ):
        if key in data:
            kw[attr] = parse_duration(
                _typed(data, key, (str, int, float), where), where=f"{where}: key {key!r}"
            )
    for key in ("max_catchup_runs", "max_iterations", "token_limit"):
        if key in data:
            value = _typed(data, key, int, where)
            low = 0 if key == "max_catchup_runs" else 1
            if value < low:
                raise AutomationConfigError(f"{where}: key {key!r}", f"must be at least {low}")
            kw[key] = value
    for key in ("cost_limit_usd", "wall_clock_s"):
        if key in data:
            value = float(_typed(data, key, (int, float), where))
            if value <= 0:
                raise AutomationConfigError(f"{where}: key {key!r}", "must be positive")
            kw[key] = value
    for key in ("allow_commands", "enabled"):
        if key in data:
            kw[key] = _typed(data, key, bool, where)
    if "cwd" in data:
        cwd = Path(os.path.expanduser(_typed(data, "cwd", str, where)))
        kw["cwd"] = cwd if cwd.is_absolute() or base is None else (base / cwd)
    if "budget" in data:
        kw["budget"] = _budget(_typed(data, "budget", dict, where), f"{where}: key 'budget'")
    if "created" in data:
        raw = data["created"]
        try:
            when = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        except ValueError:
            raise AutomationConfigError(
                f"{where}: key 'created'", f"{raw!r} is not an ISO date-time"
            ) from None
        kw["created_s"] = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return Automation(name=name, schedule=schedule, prompt=prompt, **kw)


def _budget(data: Mapping[str, Any], where: str) -> AutomationBudget:
    unknown = sorted(set(data) - {"window", "usd", "tokens"})
    if unknown:
        raise AutomationConfigError(
            f"{where}.{unknown[0]}", "unknown key; known: window, usd, tokens"
        )
    window = (
        parse_duration(_typed(data, "window", (str, int, float), where), where=f"{where}.window")
        if "window" in data
        else 86400.0
    )
    if window <= 0:
        raise AutomationConfigError(f"{where}.window", "must be longer than zero")
    usd = float(_typed(data, "usd", (int, float), where)) if "usd" in data else None
    tokens = int(_typed(data, "tokens", int, where)) if "tokens" in data else None
    if usd is None and tokens is None:
        raise AutomationConfigError(where, "give 'usd' or 'tokens' (or both)")
    return AutomationBudget(window, usd, tokens)


def load_automation(path: Path, *, home: Path | None = None) -> Automation:
    """Load and check one automation file (its stem is the name).

    ``created`` defaults to the file's modification time, so slots from before the file
    existed are never recorded as missed.

    Raises:
        AutomationConfigError: unreadable file, broken YAML, not a mapping, or a bad key
            (the message names the file and the key).
    """
    import yaml

    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime
    except (OSError, UnicodeDecodeError) as exc:
        raise AutomationConfigError(where, f"cannot read ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AutomationConfigError(where, f"broken YAML: {exc}") from None
    if not isinstance(data, dict):
        raise AutomationConfigError(where, "expected a mapping of keys (prompt, every|cron, ...)")
    automation = automation_from_mapping(
        path.stem, data, where=where, base=home or path.parent.parent
    )
    if "created" not in data:
        automation = replace(automation, created_s=mtime)
    return replace(automation, file=path)


def load_automations(home: Path) -> tuple[list[Automation], list[AutomationConfigError]]:
    """Every ``<home>/automations/*.yaml``, sorted by name, and the errors of the files that
    did not load (a broken file never stops the others)."""
    folder = home / AUTOMATIONS_DIR
    found: list[Automation] = []
    errors: list[AutomationConfigError] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            found.append(load_automation(path, home=home))
        except AutomationConfigError as exc:
            errors.append(exc)
    return found, errors


def save_automation(home: Path, automation: Automation, *, replace_existing: bool = False) -> Path:
    """Write ``<home>/automations/<name>.yaml`` atomically; returns its path.

    Raises:
        AutomationConfigError: a file of that name exists and ``replace_existing`` is false.
    """
    import yaml

    from tether.store.files import atomic_write

    path = home / AUTOMATIONS_DIR / f"{_check_name(automation.name, 'NAME')}.yaml"
    if path.exists() and not replace_existing:
        raise AutomationConfigError(
            str(path), "an automation of this name exists; remove the file or pick another name"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, yaml.safe_dump(automation.to_mapping(), sort_keys=False, allow_unicode=True))
    return path
