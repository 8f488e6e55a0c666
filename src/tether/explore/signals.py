"""The explorer's signal tools: how its model ends an exploration.

========================  =============================================  ===================
tool                      what it means                                  loop status
========================  =============================================  ===================
``submit_rule``           a new rule (+ optional action code)            SUCCESS when valid
``use_existing_rule``     a rule already in force fits                   SUCCESS when it holds
``done``                  fixed directly; no reusable rule               SUCCESS
``give_up``               cannot be fixed from here                      NO_PROGRESS
``escalate``              hand over to the secondary model               NO_PROGRESS
``request_templates``     the rule and action formats, with an example   (not an exit)
========================  =============================================  ===================

``submit_rule`` validates at once (:func:`~tether.explore.validate.validate_submission`):
an invalid submission raises :class:`~tether.errors.SubmissionRejected`, which the
loop hands back to the model as the tool's error, so it can fix the rule within
its budget. Every rejection is kept in :attr:`Signals.rejections`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import SubmissionRejected
from tether.explore.isolate import ActionSignature
from tether.explore.prompt import TEMPLATES
from tether.explore.validate import Submission, validate_submission
from tether.rules.model import Rule
from tether.tools.tool import Tool

__all__ = ["EXITS", "Signals"]

EXITS: dict[str, str] = {
    "submit_rule": "SUCCESS",
    "use_existing_rule": "SUCCESS",
    "done": "SUCCESS",
    "give_up": "NO_PROGRESS",
    "escalate": "NO_PROGRESS",
}
"""Signal tools that end the explorer's loop, with the loop status each ends it with."""


@dataclass
class Signals:
    """The signal tools bound to one exploration.

    Args:
        context: the failure being explored.
        rules: the rules in force (name conflicts, duplicate ``when``, ``use_existing_rule``).
        actions: registered actions' signatures by name.
        watch: directories that must not change while submitted code is imported.
        tried: rules already tried for this failure (``use_existing_rule`` refuses them).
        on_rejected: called with each rejection message (for traces and displays).
    """

    context: Mapping[str, Any]
    rules: Sequence[Rule]
    actions: Mapping[str, ActionSignature]
    watch: Sequence[Path] = ()
    tried: Sequence[str] = ()
    on_rejected: Callable[[str], None] | None = None
    submission: Submission | None = None
    existing: Rule | None = None
    existing_captures: dict[str, str] = field(default_factory=dict)
    rejections: list[str] = field(default_factory=list)

    def _reject(self, error: SubmissionRejected) -> SubmissionRejected:
        self.rejections.append(str(error))
        if self.on_rejected is not None:
            self.on_rejected(str(error))
        return error

    def submit_rule(self, rule_yaml: str, action_code: str | None = None) -> str:
        """Submit a new rule (YAML) and, if it needs a new action, that action's Python file.

        The rule is checked at once: it must parse, its regexes compile under RE2, it must match
        this failure (with the captures its params use), not match everything, not duplicate an
        existing rule's when, and name actions that exist or that action_code defines; the code
        must import cleanly. A failed check comes back as this tool's error: fix and resubmit.

        Args:
            rule_yaml: one rule in the rule format (see request_templates).
            action_code: the Python source of one action file defining @action functions, or null.
        """
        try:
            self.submission = validate_submission(
                rule_yaml,
                action_code,
                context=self.context,
                rules=self.rules,
                actions=self.actions,
                watch=self.watch,
            )
        except SubmissionRejected as exc:
            raise self._reject(exc) from None
        rule = self.submission.rule
        caps = ", ".join(f"{k}={v!r}" for k, v in self.submission.captures.items()) or "none"
        return f"rule {rule.name!r} is valid (captures: {caps}); it will now run and the job re-run"

    def use_existing_rule(self, name: str) -> str:
        """Use a rule that already exists because it fits this failure.

        Args:
            name: the rule's name.
        """
        from tether.rules.match import match_context

        rule = next((r for r in self.rules if r.name == name), None)
        if rule is None:
            raise self._reject(SubmissionRejected(f"no rule named {name!r}", check="name"))
        if name in self.tried:
            raise self._reject(
                SubmissionRejected(
                    f"rule {name!r} was already tried on this failure and did not fix it",
                    check="match",
                )
            )
        captures = match_context(rule, dict(self.context))
        if captures is None:
            raise self._reject(
                SubmissionRejected(
                    f"rule {name!r} does not hold for this failure; submit a new rule instead",
                    check="match",
                )
            )
        self.existing, self.existing_captures = rule, captures
        return f"rule {name!r} holds; it will now run and the job re-run"

    def done(self, summary: str) -> str:
        """End: you fixed the failure directly and no reusable rule makes sense.

        Args:
            summary: what you did.
        """
        return summary

    def give_up(self, reason: str) -> str:
        """End: the failure cannot be fixed from here.

        Args:
            reason: why, for the user.
        """
        return reason

    def escalate(self, findings: str) -> str:
        """End and hand over to a stronger model with what you found.

        Args:
            findings: what you learned (cause, files involved, what did not work).
        """
        return findings

    def request_templates(self) -> str:
        """The rule and action formats, with a worked example."""
        return TEMPLATES

    def tools(self) -> list[Tool]:
        """The six signal tools, ready for a :class:`~tether.loop.Loop`."""
        return [
            Tool.from_function(self.submit_rule, name="submit_rule", timeout_s=60),
            Tool.from_function(self.use_existing_rule, name="use_existing_rule", timeout_s=10),
            Tool.from_function(self.done, name="done", timeout_s=5),
            Tool.from_function(self.give_up, name="give_up", timeout_s=5),
            Tool.from_function(self.escalate, name="escalate", timeout_s=5),
            Tool.from_function(self.request_templates, name="request_templates", timeout_s=5),
        ]
