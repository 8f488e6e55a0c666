"""What the explorer's model reads: the goal, the failure, and what tether already knows.

The failure is shown tail-first: the end of ``stderr``, ``error`` and
``traceback`` is where compilers, interpreters and test runners print what went
wrong, so long values keep their last characters. Then come the hint, the
near-miss rules the resolver ranked (rules that almost matched, and the facts
that did not hold), the rules and actions that exist (name and description),
and what was submitted and rejected earlier for this failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tether._text import tail

__all__ = ["GOAL", "TEMPLATES", "render_context", "render_facts"]

GOAL = (
    "A job failed and no rule fixed it. Diagnose the failure with the tools, then leave behind a "
    "reusable fix: call submit_rule(rule_yaml, action_code) with a rule whose facts match this "
    "failure's text (regexes with named captures for what varies: paths, names, ports) and, if no "
    "existing action fits, the Python action that fixes it. The rule is validated at once and then "
    "verified by running it and re-running the job. Other endings: use_existing_rule(name) when an "
    "existing rule fits, done(summary) when you fixed it directly and no reusable rule makes sense, "
    "give_up(reason) when it cannot be fixed from here, escalate(findings) to hand over to a "
    "stronger model. Always end with one of these calls; a text answer ends with nothing kept."
)
"""The explorer loop's goal."""

TEMPLATES = '''RULE FORMAT (YAML, one rule):
name: missing-config-file            # new, descriptive, file-name safe
description: The job needs a config file that is not there; create it from the template.
tags: [config]
when:                                # every fact must hold; one matcher per fact
  - fact: stderr                     # a context key: stderr, stdout, error, error_type, traceback, exit_code, command
    regex: "cannot open config file '(?P<path>[^']+)'"   # RE2 (no look-around, no back-references); dot matches newlines
    examples: ["cannot open config file 'conf/app.ini'"]
  - fact: exit_code
    equals: "2"                      # or contains: "substring"
then:
  - action: create_from_template     # an existing action, or one defined in action_code
    params: {path: "{path}"}         # {name} is filled from captures, then from the context

ACTION FORMAT (Python, one file; it is imported to check it, so do no work at import time):
from pathlib import Path
from tether import action

@action("create_from_template")
def create_from_template(path: str) -> str:
    """Create the missing file from <path>.example."""
    target = Path(path)                # actions run in the job's working directory
    target.write_text(Path(path + ".example").read_text())
    return f"created {target}"

Rules for a good rule: match the error line itself, capture what varies between occurrences,
never match everything (no fact may be '.*'), and keep the action small and idempotent.'''
"""What ``request_templates()`` returns."""

_LIMITS = {"stderr": 4000, "error": 2000, "traceback": 3000, "stdout": 1500}
_FIRST = (
    "command",
    "exit_code",
    "cwd",
    "function",
    "error_type",
    "error",
    "stderr",
    "traceback",
    "stdout",
)


def render_context(context: Mapping[str, Any]) -> str:
    """The failure as text: short facts first, long texts tail-first, each under its key."""
    lines = []
    keys = [k for k in _FIRST if k in context] + sorted(k for k in context if k not in _FIRST)
    for key in keys:
        value = context[key]
        if value is None:
            continue
        text = str(value)
        if "\n" in text.strip() or len(text) > 200:
            lines.append(f"{key} (the end of it):\n{tail(text.rstrip(), _LIMITS.get(key, 1000))}")
        else:
            lines.append(f"{key}: {text}")
    return "\n".join(lines)


def render_facts(
    context: Mapping[str, Any],
    *,
    hint: str | None = None,
    near_misses: Sequence[Any] = (),
    rules: Iterable[Any] = (),
    actions: Iterable[Any] = (),
    rejections: Sequence[str] = (),
    findings: str | None = None,
    workspace: str | None = None,
) -> list[str]:
    """The pinned facts of the explorer's prompt, one string each.

    Args:
        context: the failure.
        hint: the user's hint (``--hint``), if any.
        near_misses: :class:`~tether.resolve.NearMiss` objects, best first.
        rules: rules in force (``name``, ``description``).
        actions: :class:`ActionSignature` objects of registered actions.
        rejections: earlier submissions for this failure and why they were rejected.
        findings: what an earlier model found before it escalated or gave up.
        workspace: the job's directory (where the file tools and actions work).
    """
    facts = ["THE FAILURE:\n" + render_context(context)]
    if workspace:
        facts.append(
            f"The job runs in {workspace}; the file tools work there and actions run there."
        )
    if hint:
        facts.append(f"HINT FROM THE USER: {hint}")
    if findings:
        facts.append(f"FINDINGS OF THE PREVIOUS MODEL (it could not finish):\n{findings}")
    if rejections:
        facts.append(
            "ALREADY SUBMITTED FOR THIS FAILURE AND REJECTED (do not repeat):\n"
            + "\n".join(f"- {r}" for r in rejections[-5:])
        )
    if near_misses:
        lines = []
        for miss in near_misses:
            unmet = "; ".join(f"{f.fact} {f.matcher}" for f in miss.unmet) or "none"
            lines.append(
                f"- {miss.rule.name}: {miss.rule.description} (facts not holding: {unmet})"
            )
        facts.append(
            "RULES THAT ALMOST MATCH (they do not hold for this failure):\n" + "\n".join(lines)
        )
    listed = [f"- {r.name}: {r.description}".rstrip(": ") for r in list(rules)[:60]]
    if listed:
        facts.append(
            "EXISTING RULES (read-only; do not duplicate their when):\n" + "\n".join(listed)
        )
    named = [
        f"- {a.name}({', '.join(a.params)}): {a.description}".rstrip(": ")
        for a in list(actions)[:60]
    ]
    if named:
        facts.append("EXISTING ACTIONS (usable in then steps; read-only):\n" + "\n".join(named))
    return facts
