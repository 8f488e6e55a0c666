"""Checks a rule can pass without running anything: examples, placeholders, action names.

``tether rules lint`` runs :func:`lint` over every rule in the home. Problems
are returned, not raised, so one run reports all of them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from tether.rules.match import clip, match_fact, required_literals
from tether.rules.model import Rule

__all__ = ["CONTEXT_KEYS", "LintProblem", "lint", "placeholders"]

CONTEXT_KEYS = frozenset(
    {
        "command", "exit_code", "stdout", "stderr", "cwd", "error", "error_type",
        "traceback", "function",
    }
)  # fmt: skip
"""Keys tether itself puts in a failure's context (commands and marked functions)."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(value: object) -> list[str]:
    """Names of the ``{placeholder}`` fields in a param value (strings, lists, dicts)."""
    if isinstance(value, str):
        return _PLACEHOLDER.findall(value)
    if isinstance(value, dict):
        return [n for v in value.values() for n in placeholders(v)]
    if isinstance(value, list):
        return [n for v in value for n in placeholders(v)]
    return []


@dataclass(frozen=True)
class LintProblem:
    """One finding: where it is and what is wrong. ``severity`` is ``"error"`` or ``"warning"``."""

    rule: str
    field: str
    message: str
    severity: str = "error"
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}rule {self.rule!r}, field {self.field!r}: {self.message}"


def lint(rules: Iterable[Rule], actions: Collection[str] | None = None) -> list[LintProblem]:
    """Problems found in ``rules``.

    Args:
        rules: the rules to check.
        actions: names of registered actions; when given, steps naming any other
            action are errors.

    Checks that the prefilter can index the rule (else a warning: it costs a full
    check on every failure); that every example satisfies its fact's matcher; that every ``{placeholder}``
    in a step's params is a capture of the rule's regexes or a context key tether
    provides (else a warning: it must come from ``context_from`` or ``--context``);
    and that every step's action exists.
    """
    problems = []
    for rule in rules:
        file = str(rule.source) if rule.source else None
        if not any(f.equals is not None or f.contains is not None for f in rule.when) and not any(
            required_literals(f.regex or "")[0] for f in rule.when
        ):
            problems.append(
                LintProblem(
                    rule.name,
                    "when",
                    "no fact gives the prefilter a literal (3+ fixed characters) or an equals "
                    "value, so this rule is checked in full against every failure",
                    severity="warning",
                    file=file,
                )
            )
        captures: set[str] = set()
        for i, fact in enumerate(rule.when):
            captures |= fact.capture_names()
            for j, example in enumerate(fact.examples):
                if match_fact(fact, clip(example)) is None:
                    problems.append(
                        LintProblem(
                            rule.name,
                            f"when[{i}].examples[{j}]",
                            f"example does not satisfy this fact's {fact.matcher} matcher",
                            file=file,
                        )
                    )
        for i, step in enumerate(rule.then):
            if actions is not None and step.action not in actions:
                problems.append(
                    LintProblem(
                        rule.name,
                        f"then[{i}].action",
                        f"no action named {step.action!r}",
                        file=file,
                    )
                )
            for param, value in step.params.items():
                for name in placeholders(value):
                    if name not in captures and name not in CONTEXT_KEYS:
                        problems.append(
                            LintProblem(
                                rule.name,
                                f"then[{i}].params.{param}",
                                f"placeholder {{{name}}} is no capture of this rule and no "
                                "built-in context key; it must come from context_from or --context",
                                severity="warning",
                                file=file,
                            )
                        )
    return problems
