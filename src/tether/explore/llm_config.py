"""A rule's ``llm_config``, read for an LLM-action rule, and errors that name where it went wrong.

Every check of an LLM rule (its template, its tools, its model) raises a
:class:`~tether.errors.RuleError` naming the rule's file, the rule and the field;
:func:`rule_error` builds it in one place.
"""

from __future__ import annotations

from tether.errors import RuleError
from tether.rules.model import LLMConfig, Rule

__all__ = ["llm_config_of", "rule_error"]


def rule_error(rule: Rule, problem: str, *, field: str | None = None) -> RuleError:
    """A :class:`RuleError` about ``rule``: its file (when it came from one), its name, ``field``.

    Args:
        rule: the rule at fault.
        problem: what is wrong and how to fix it.
        field: the dotted field (``"llm_config.tools"``), if one is at fault.
    """
    file = str(rule.source) if rule.source is not None else None
    return RuleError(problem, file=file, rule=rule.name, field=field)


def llm_config_of(rule: Rule, *, advice: str = "") -> LLMConfig:
    """``rule.llm_config``.

    Args:
        rule: the rule.
        advice: added to the error's message (``"run its steps instead"``).

    Raises:
        RuleError: the rule has no ``llm_config`` (it is not an LLM rule).
    """
    if rule.llm_config is None:
        more = f"; {advice}" if advice else ""
        raise rule_error(rule, f"not an LLM rule (no llm_config){more}")
    return rule.llm_config
