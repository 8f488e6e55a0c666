"""LLM-action rules: deterministic routing, dynamic fix.

A rule with ``llm_config`` is matched like any other rule, but instead of
running Python steps it holds one governed conversation (a
:class:`~tether.loop.Loop`) aimed at the failure it matched::

    name: missing-config
    when:
      - fact: stderr
        regex: 'config file (?P<path>\\S+) is missing'
    llm_config:
      prompt_template: file://prompts/missing-config.md   # or the text itself
      tools: [read_file, write_file]
      constraints: {max_tool_calls: 10, max_tokens: 50000, wall_clock_s: 120}
      use_secondary: false

What happens, in order (nothing reaches the model until every check passed):

1. The template is read: inline text, or ``file://<path>`` relative to the home
   (a path that resolves outside the home is refused). ``{name}`` fields are
   filled from the rule's regex captures first, then from the context;
   ``{{`` and ``}}`` are literal braces, and any other brace is left as it is
   (so JSON in a prompt needs no escaping).
2. Each tool name is looked up in the given registries (the engine's tools,
   then the process-wide ``@tool`` ones), then among the built-ins
   (``read_file``, ``write_file``, ``list_directory``, ``run_command``), which
   are confined to a :class:`~tether.tools.Workspace` on the job's working
   directory. Two signal tools are always added: ``done(summary)`` and
   ``give_up(reason)``.
3. The conversation runs inside ceilings from ``constraints``: tool calls
   (signal tools not counted; the call over the limit is refused and the run
   stops), tokens (input + output over the conversation) and wall clock.
   Every event is traced to ``<home>/traces/<rule>-<UTC timestamp>.jsonl``.
4. ``done`` makes the step succeed (the recovery loop then re-runs the job,
   which is what verifies the fix). ``give_up``, a ceiling, no progress, a
   provider failure, a plain answer with no signal, or no model at all make
   the step fail with the reason. The conversation never creates rules.

The result is a :class:`LLMRuleRun`, a :class:`~tether.actions.run.RuleRun`
holding one step named ``llm``, so the recovery loop and its displays treat it
like any other rule; it also carries the conversation's result (status,
tokens, cost), the model used and the trace path. Nothing here raises into
the recovery loop: every problem becomes ``RuleRun.error``, and the user's own
failure is never replaced.

This module runs the conversation. The template is read and filled by
:mod:`tether.explore.llm_prompt`, the tools are resolved by :mod:`tether.explore.llm_tools`,
and :mod:`tether.explore.llm_config` reads ``llm_config`` and words the errors; their
public names are importable from here as well.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

from tether._bridge import off_running_loop
from tether._types import Captures, Context
from tether.actions.run import RuleRun, StepResult
from tether.errors import RuleError, TetherError
from tether.explore.llm_config import llm_config_of, rule_error
from tether.explore.llm_prompt import load_template, render_template
from tether.explore.llm_tools import MAX_COMMAND_S, SIGNAL_TOOLS, done, give_up, resolve_tools
from tether.llm.client import LLM
from tether.llm.types import Usage
from tether.loop import Loop, LoopResult, LoopStatus, NoProgress
from tether.rules.model import Rule
from tether.tools import Tool, ToolRegistry
from tether.tools.builtin import Workspace

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MAX_TOOL_CALLS",
    "DEFAULT_WALL_CLOCK_S",
    "SIGNAL_TOOLS",
    "LLMRuleRun",
    "load_template",
    "render_template",
    "resolve_tools",
    "run_llm_rule",
]

DEFAULT_MAX_TOOL_CALLS = 30
"""Tool calls per conversation when the rule's ``constraints`` set none (signal tools not counted)."""
DEFAULT_MAX_TOKENS = 200_000
"""Tokens (input + output, over the conversation) when the rule's ``constraints`` set none."""
DEFAULT_WALL_CLOCK_S = 600.0
"""Seconds per conversation when the rule's ``constraints`` set none."""

ModelSource: TypeAlias = "LLM | Callable[[], LLM | None] | str | Any"
"""An :class:`~tether.llm.LLM`, a function returning one (or ``None``), a ``"provider/model"``
name or a pydantic-ai model (e.g. :class:`tether.testing.ScriptedModel`)."""


@dataclass
class LLMRuleRun(RuleRun):
    """A :class:`~tether.actions.run.RuleRun` for an LLM rule, with the conversation's record.

    ``steps`` holds one step, ``llm``, once a conversation ran (none when the rule was refused
    before any model call); ``error`` is set whenever the step failed.

    Attributes:
        conversation: how the governed conversation ended (status, reason, usage, exit call),
            ``None`` when it never started.
        model: ``provider/model`` of the model the conversation used.
        trace_path: the JSONL trace of the conversation, ``None`` when none was kept.
    """

    conversation: LoopResult | None = None
    model: str | None = None
    trace_path: Path | None = None

    @property
    def usage(self) -> Usage:
        """Tokens and model requests the conversation spent (zero when none ran)."""
        return self.conversation.usage if self.conversation is not None else Usage()

    @property
    def cost_usd(self) -> float | None:
        """USD the conversation cost, ``None`` when the model has no price."""
        return self.conversation.cost_usd if self.conversation is not None else 0.0


# -- the run -------------------------------------------------------------------------------------


def run_llm_rule(
    rule: Rule,
    captures: Captures,
    context: Context,
    *,
    llm: ModelSource,
    tools: ToolRegistry | Sequence[ToolRegistry] = (),
    home: str | os.PathLike[str],
    workdir: str | os.PathLike[str],
    on_event: Callable[[dict[str, Any]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> LLMRuleRun:
    """Run ``rule``'s governed conversation for one failure; never raises (see the module doc).

    Example::

        run = run_llm_rule(rule, {"path": "app.cfg"}, context, llm=engine.llm,
                           tools=engine.tools, home=engine.home, workdir=".")
        run.ok, run.error, run.usage.total_tokens, run.trace_path

    Args:
        rule: an LLM rule (``rule.kind == "llm"``) that matched ``context``.
        captures: its named regex groups for this failure (``{"path": "app.cfg"}``).
        context: the failure (flat ``dict[str, str | int]``: ``stderr``, ``exit_code`` ...).
        llm: the model (see :data:`ModelSource`). A function is called once, after the
            template and tools checked out, and what it raises is recorded as the step's error.
            With ``use_secondary``, the client's secondary model is used, alone.
        tools: registries searched for the rule's tool names, in order, before the built-ins.
        home: the engine home: ``file://`` templates are read from it, traces written under
            ``<home>/traces``.
        workdir: the job's working directory; the built-in tools are confined to it.
        on_event: called with each conversation event as it happens (live displays).
        clock: monotonic seconds for the wall-clock ceiling (injectable).

    Returns:
        An :class:`LLMRuleRun`: ``ok`` when the model called ``done``; otherwise ``error`` says
        why (the rule and field for a bad rule; the status, reason, tokens and trace for a
        conversation that ended without a fix). ``KeyboardInterrupt`` and ``SystemExit`` are
        not caught.
    """
    run = LLMRuleRun(rule.name)
    try:
        _converse(
            run,
            rule,
            captures,
            context,
            llm=llm,
            tools=tools,
            home=Path(home),
            workdir=Path(workdir),
            on_event=on_event,
            clock=clock,
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except RuleError as exc:
        run.error = str(exc)
    except Exception as exc:
        run.error = f"rule {rule.name!r}: the LLM conversation could not run: {_describe(exc)}"
    return run


def _converse(
    run: LLMRuleRun,
    rule: Rule,
    captures: Captures,
    context: Context,
    *,
    llm: ModelSource,
    tools: ToolRegistry | Sequence[ToolRegistry],
    home: Path,
    workdir: Path,
    on_event: Callable[[dict[str, Any]], None] | None,
    clock: Callable[[], float],
) -> None:
    config = llm_config_of(rule, advice="run its steps instead")
    limits = config.constraints
    max_tool_calls = limits.max_tool_calls or DEFAULT_MAX_TOOL_CALLS
    token_limit = limits.max_tokens or DEFAULT_MAX_TOKENS
    wall_clock_s = limits.wall_clock_s or DEFAULT_WALL_CLOCK_S

    template, source = load_template(rule, home)
    prompt = render_template(template, captures, context, rule=rule, source=source)
    registries = [tools] if isinstance(tools, ToolRegistry) else list(tools)
    workspace = Workspace(workdir)
    chosen = resolve_tools(
        rule, registries, workspace, command_timeout_s=min(MAX_COMMAND_S, wall_clock_s)
    )
    client = _client(rule, llm)
    run.model = client.model

    signals = [Tool.from_function(fn, timeout_s=10) for fn in (done, give_up)]
    registry = ToolRegistry(list(chosen) + signals)
    run.trace_path, trace_note = _trace_path(home, rule.name)
    loop = Loop(
        f"fix the failure that rule {rule.name!r} matched, as the INSTRUCTIONS in FACTS say",
        registry,
        client,
        exits={"done": LoopStatus.SUCCESS, "give_up": LoopStatus.NO_PROGRESS},
        policies=[NoProgress(3)],
        max_iterations=max_tool_calls + 2,
        max_tool_calls=max_tool_calls,
        token_limit=token_limit,
        wall_clock_s=wall_clock_s,
        max_tokens_per_call=min(4096, token_limit),
        pinned=_facts(rule, prompt, workspace, chosen, max_tool_calls, token_limit, wall_clock_s),
        trace_path=run.trace_path,
        on_event=on_event,
        quiet=True,
        clock=clock,
    )
    started = clock()
    result = off_running_loop(loop.run, name="tether-llm-rule")
    duration_s = round(clock() - started, 4)
    run.conversation = result
    spent = _spent(result, run.trace_path, trace_note)
    params = {"model": client.model, "tools": [t.name for t in chosen], "prompt": prompt}
    exit_ = result.exit
    if exit_ is not None and exit_.tool == "done":
        summary = str(exit_.value)
        run.steps.append(
            StepResult(
                "llm", params, True, result=f"done: {summary} {spent}", duration_s=duration_s
            )
        )
        return
    if exit_ is not None and exit_.tool == "give_up":
        why = f"the model gave up: {exit_.value}"
    elif result.status is LoopStatus.SUCCESS:
        answer = " ".join(result.text.split())[:300]
        why = f"the model answered without calling done or give_up ({answer!r})"
    else:
        why = f"{result.status.value}: {result.reason}; {result.recommended_action}"
    message = f"{why} {spent}"
    run.steps.append(StepResult("llm", params, False, error=message, duration_s=duration_s))
    run.error = f"rule {rule.name!r}, LLM conversation: {message}"


def _client(rule: Rule, llm: ModelSource) -> LLM:
    """The client the conversation uses: ``llm`` built or called, its secondary if asked.

    Raises:
        RuleError: no model is configured, or ``use_secondary`` without a secondary model.
    """
    if llm is not None and not isinstance(llm, LLM) and callable(llm):
        llm = llm()
    if llm is None:
        raise rule_error(
            rule,
            "no model is configured for this LLM rule; set engine.llm in config.yaml "
            "or pass Tether(llm=...)",
            field="llm_config",
        )
    client = llm if isinstance(llm, LLM) else LLM(llm)
    assert rule.llm_config is not None
    if not rule.llm_config.use_secondary:
        return client
    if len(client.slots) < 2:
        raise rule_error(
            rule,
            f"use_secondary is set but {client.model} has no secondary model; set "
            "engine.llm_secondary in config.yaml, or drop use_secondary",
            field="llm_config.use_secondary",
        )
    return _secondary(client)


def _secondary(client: LLM) -> LLM:
    """A client whose only model is ``client``'s secondary (the caller checked there is one)."""
    secondary = client.secondary_only()
    assert secondary is not None
    return secondary


def _facts(
    rule: Rule,
    prompt: str,
    workspace: Workspace,
    tools: Sequence[Tool],
    max_tool_calls: int,
    token_limit: int,
    wall_clock_s: float,
) -> list[str]:
    """What the model keeps in view on every call: the instructions and the rules of the game."""
    about = f" ({rule.description})" if rule.description else ""
    names = ", ".join(t.name for t in tools) or "none besides done and give_up"
    return [
        f"INSTRUCTIONS from rule {rule.name!r}{about}:\n{prompt}",
        f"The job's working directory is {workspace.root}; file tools take paths relative to it.",
        f"Tools: {names}. Limits: {max_tool_calls} tool calls (done and give_up not counted), "
        f"{token_limit:,} tokens, {wall_clock_s:g} s.",
        "When the failure is fixed, call done(summary): the job is then run again to check. "
        "When it cannot be fixed, call give_up(reason). Always end with one of the two: "
        "a plain answer without a tool call counts as unfinished.",
    ]


def _trace_path(home: Path, rule: str) -> tuple[Path | None, str]:
    """``<home>/traces/<rule>-<UTC timestamp>.jsonl`` (not existing yet), or why none is kept."""
    folder = home / "traces"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(100):
            path = folder / (f"{rule}-{stamp}.jsonl" if n == 0 else f"{rule}-{stamp}-{n}.jsonl")
            try:
                path.open("x", encoding="utf-8").close()
            except FileExistsError:
                continue
            return path, ""
        return None, "no trace: too many traces with the same timestamp"
    except OSError as exc:
        return None, f"no trace: cannot write under {folder} ({exc.strerror or exc})"


def _spent(result: LoopResult, trace: Path | None, note: str) -> str:
    usage = result.usage
    cost = f", ${result.cost_usd:.4f}" if result.cost_usd else ""
    where = f"trace {trace}" if trace is not None else note
    return (
        f"[{usage.requests} model requests, {usage.total_tokens:,} tokens "
        f"({usage.input_tokens:,} in, {usage.output_tokens:,} out){cost}; {where}]"
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TetherError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
