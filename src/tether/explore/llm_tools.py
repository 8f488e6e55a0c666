"""The tools of an LLM-action rule's conversation: the ones it names, and the two signal tools.

Each name in ``llm_config.tools`` is looked up in the given registries (the
engine's tools, then the process-wide ``@tool`` ones), then among the built-ins
(``read_file``, ``write_file``, ``list_directory``, ``run_command``) confined to
a :class:`~tether.tools.Workspace` on the job's working directory. ``done`` and
``give_up`` (:data:`SIGNAL_TOOLS`) end every conversation.
"""

from __future__ import annotations

from collections.abc import Sequence

from tether.explore.llm_config import llm_config_of, rule_error
from tether.rules.model import Rule
from tether.tools import Tool, ToolRegistry
from tether.tools.builtin import Workspace

__all__ = ["MAX_COMMAND_S", "SIGNAL_TOOLS", "done", "give_up", "resolve_tools"]

SIGNAL_TOOLS = ("done", "give_up")
"""Tools every LLM rule's conversation gets; a rule may not name them in ``tools``."""
MAX_COMMAND_S = 600.0
"""The most seconds the built-in ``run_command`` may run per call in an LLM rule's conversation."""

_TOOLS_FIELD = "llm_config.tools"
_BUILTINS = ("read_file", "write_file", "list_directory", "run_command")


def resolve_tools(
    rule: Rule,
    registries: Sequence[ToolRegistry],
    workspace: Workspace,
    *,
    command_timeout_s: float = MAX_COMMAND_S,
) -> list[Tool]:
    """The tools ``rule.llm_config.tools`` names, in the order named (duplicates dropped).

    Each name is looked up in ``registries`` in order, then among the built-ins confined to
    ``workspace``. A built-in name a registry also holds resolves to the registry's tool:
    a tool registered on purpose wins.

    Args:
        rule: an LLM rule.
        registries: where to look first (e.g. the engine's tools, then the process-wide ones).
        workspace: the directory the built-ins are confined to.
        command_timeout_s: the most seconds the built-in ``run_command`` may run per call.

    Raises:
        RuleError: a name is unknown, or is one of :data:`SIGNAL_TOOLS` (the message names the
            rule, the field and the tool, and lists the tools that exist).
    """
    config = llm_config_of(rule)
    builtins = {t.name: t for t in workspace.tools(command_timeout_s=command_timeout_s)}
    found: dict[str, Tool] = {}
    for name in config.tools:
        if name in SIGNAL_TOOLS:
            raise rule_error(
                rule,
                f"{name!r} is a signal tool every LLM rule gets; remove it from tools",
                field=_TOOLS_FIELD,
            )
        if name in found:
            continue
        tool = next((r.get(name) for r in registries if name in r), None) or builtins.get(name)
        if tool is None:
            registered = sorted({n for r in registries for n in r.names()})
            known = ", ".join(registered) or "none registered"
            raise rule_error(
                rule,
                f"unknown tool {name!r} (registered: {known}; built-in: {', '.join(_BUILTINS)}); "
                f"register it with @engine.tool() or fix the name",
                field=_TOOLS_FIELD,
            )
        found[name] = tool
    return list(found.values())


def done(summary: str) -> str:
    """Say the failure is fixed; the job is then run again to check.

    Args:
        summary: what was changed, in a sentence or two.
    """
    if not summary.strip():
        raise ValueError("the summary is empty: say what was changed")
    return summary.strip()


def give_up(reason: str) -> str:
    """Say the failure cannot be fixed from here; the original failure is reported as it was.

    Args:
        reason: why, and what a person should look at.
    """
    return reason.strip() or "no reason given"
