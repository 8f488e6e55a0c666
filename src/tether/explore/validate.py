"""Checking a submitted rule (and its action code) before anything of it runs.

:func:`validate_submission` runs the checks in this order and stops at the
first failure with a :class:`~tether.errors.SubmissionRejected` whose message
the model reads as the tool's error:

1. ``yaml``/``schema``/``regex``: the text parses as exactly one rule of the
   rule schema (``tether.rules.load``), every regex compiling under RE2; the
   rule has ``then`` steps and a name no rule in force already has.
2. ``match``: the rule holds for the very context that triggered the
   exploration (``tether.rules.match.match_context``); otherwise each fact that
   fails is named, with the tail of the text it was tested against.
3. ``params``: every ``{placeholder}`` of a step is a capture of the rule or a
   key of the context.
4. ``too_broad``: a rule whose facts all match anything (a regex that matches
   the empty string, a ``contains`` shorter than 3 characters), or that also
   holds for probe contexts — the same keys holding an unrelated failure — is
   refused: it would fire on every failure.
5. ``duplicate``: no rule in force has the same ``when`` (the conflict names it).
6. ``action``: every step's action is registered or defined by the submitted code;
   submitted code may not redefine an existing action.
7. ``code``: the code imports in isolation (:mod:`tether.explore.isolate`): no
   exception, no time-out, no write outside its directory, no program started.
8. ``signature``: each step's params fit its action's signature.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether._text import tail
from tether._types import Captures, Context
from tether.actions.registry import ActionSpec
from tether.errors import RuleError, SubmissionRejected
from tether.explore.isolate import ActionSignature, import_in_isolation
from tether.rules.model import Fact, Rule

__all__ = [
    "PROBE_TEXT",
    "Submission",
    "action_file_stem",
    "probe_contexts",
    "signature_of",
    "validate_submission",
]

PROBE_TEXT = (
    "tether-probe: an unrelated failure\n"
    "Segmentation fault (core dumped)\n"
    "zq7 wrrx 0000 plvk: the quick brown fox did not jump\n"
)
"""The text probe contexts put in place of every text value of the triggering context."""

_KEEP_IN_PROBES = frozenset({"command", "cwd", "function", "exit_code"})
"""Keys probes keep from the triggering context: the same job failing in another way."""

_TAIL_CHARS = 600


@dataclass
class Submission:
    """A rule that passed validation, with what it needs to run and to be written later.

    Attributes:
        rule: the parsed rule.
        captures: what its regexes captured on the triggering context.
        action_code: the submitted action file's source, or ``None``.
        actions: signatures of the actions the code defines, by name.
        yaml: the rule as submitted.
    """

    rule: Rule
    captures: Captures
    action_code: str | None = None
    actions: dict[str, ActionSignature] = field(default_factory=dict)
    yaml: str = ""


def signature_of(spec: ActionSpec) -> ActionSignature:
    """The :class:`ActionSignature` of a registered action."""
    import inspect

    try:
        parameters = inspect.signature(spec.fn).parameters.values()
    except (TypeError, ValueError):
        return ActionSignature(spec.name, (), (), True, spec.description)
    keyword_kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    named = [p for p in parameters if p.kind in keyword_kinds]
    return ActionSignature(
        spec.name,
        tuple(p.name for p in named),
        tuple(p.name for p in named if p.default is p.empty),
        any(p.kind is p.VAR_KEYWORD for p in parameters),
        spec.description,
    )


def action_file_stem(rule_name: str) -> str:
    """The file stem an explored rule's action code is written under (a valid module name)."""
    stem = re.sub(r"\W+", "_", rule_name).strip("_").lower() or "explored"
    if stem[0].isdigit() or keyword.iskeyword(stem):
        stem = "action_" + stem
    return stem


def probe_contexts(context: Mapping[str, Any]) -> list[Context]:
    """Contexts a specific rule must not hold for: the same keys, an unrelated failure.

    The first keeps ``command``, ``cwd``, ``function`` and ``exit_code`` and puts
    :data:`PROBE_TEXT` in every other value; the second empties those values too.
    """
    first: Context = {}
    second: Context = {}
    for key, value in context.items():
        if key in _KEEP_IN_PROBES:
            first[key] = value
        else:
            first[key] = PROBE_TEXT if isinstance(value, str) or value is None else -4242
        second[key] = "" if key != "exit_code" else value
    return [first, second]


def _parse(rule_yaml: str) -> Rule:
    from tether.rules.load import load_text

    if not isinstance(rule_yaml, str) or not rule_yaml.strip():
        raise SubmissionRejected("rule_yaml is empty; submit one rule as YAML", check="yaml")
    try:
        rules = load_text(rule_yaml, file="submitted rule")
    except RuleError as exc:
        problem = exc.problem
        check = (
            "yaml"
            if problem.startswith(("malformed YAML", "the file is empty", "expected a mapping"))
            else "schema"
        )
        if "RE2" in problem:
            check = "regex"
        raise SubmissionRejected(problem, check=check, field=exc.field) from None
    if len(rules) != 1:
        raise SubmissionRejected(f"submit exactly one rule (got {len(rules)})", check="schema")
    rule = rules[0]
    if rule.llm_config is not None or not rule.then:
        raise SubmissionRejected(
            "an explored rule needs 'then' steps naming actions (not llm_config, not retry alone)",
            check="schema",
            field="then",
        )
    return rule


def _describe(fact: Fact) -> str:
    value = (
        fact.equals
        if fact.equals is not None
        else fact.contains
        if fact.contains is not None
        else fact.regex
    )
    return f"{fact.fact} {fact.matcher} {value!r}"


def _check_match(rule: Rule, context: Mapping[str, Any]) -> Captures:
    from tether.rules.match import match_context, match_fact, prepare

    captures = match_context(rule, dict(context))
    if captures is not None:
        return captures
    prepared = prepare(context)
    problems = []
    for i, fact in enumerate(rule.when):
        text = prepared.get(fact.fact)
        if text is None:
            keys = ", ".join(sorted(prepared)) or "none"
            problems.append(
                f"when[{i}] ({_describe(fact)}): the context has no key {fact.fact!r} (keys: {keys})"
            )
        elif match_fact(fact, text) is None:
            ends = tail(text.rstrip(), _TAIL_CHARS, marker="...")
            problems.append(
                f"when[{i}] ({_describe(fact)}) does not hold; the {fact.fact} it was tested on ends:\n{ends}"
            )
    detail = "\n".join(problems) or "the facts do not hold together"
    raise SubmissionRejected(
        "the rule does not match the failure that triggered this exploration; it must. " + detail,
        check="match",
    )


def _check_placeholders(rule: Rule, captures: Captures, context: Mapping[str, Any]) -> None:
    from tether.rules.lint import placeholders

    for i, step in enumerate(rule.then):
        for param, value in step.params.items():
            for name in placeholders(value):
                if name not in captures and name not in context:
                    known = ", ".join(sorted(captures)) or "none"
                    raise SubmissionRejected(
                        f"{{{name}}} is neither a named group the rule captured (captures: {known}) "
                        "nor a key of the context; add (?P<"
                        + name
                        + ">...) to a regex or use a captured name",
                        check="params",
                        field=f"then[{i}].params.{param}",
                    )


def _trivial(fact: Fact) -> bool:
    """Whether ``fact`` holds for (almost) any value: an empty-matching regex, a tiny substring."""
    if fact.regex is not None:
        return fact.compiled.search(b"") is not None
    if fact.contains is not None:
        return len(fact.contains.strip()) < 3
    return False


def _check_breadth(rule: Rule, context: Mapping[str, Any]) -> None:
    from tether.rules.match import match_context

    if all(_trivial(f) for f in rule.when):
        raise SubmissionRejected(
            "every fact matches any text (a regex like '.*' that matches the empty string, or a "
            "contains shorter than 3 characters), so the rule would fire on every failure; "
            "match the specific error text, e.g. a regex on the error line with named captures",
            check="too_broad",
            field="when",
        )
    for probe in probe_contexts(context):
        if match_context(rule, probe) is not None:
            raise SubmissionRejected(
                "the rule also holds for an unrelated failure of the same command (a probe "
                f"context whose text is {PROBE_TEXT.splitlines()[1]!r}), so it is too broad; add a "
                "fact on the error text itself (stderr, error or traceback)",
                check="too_broad",
                field="when",
            )


def _when_key(rule: Rule) -> tuple[tuple[str, str, str], ...]:
    return tuple(sorted((f.fact, f.matcher, str(getattr(f, f.matcher))) for f in rule.when))


def _check_duplicates(rule: Rule, existing: Sequence[Rule]) -> None:
    for other in existing:
        if other.name == rule.name:
            where = f" ({other.source})" if other.source else ""
            raise SubmissionRejected(
                f"a rule named {rule.name!r} already exists{where}; pick a new, descriptive name",
                check="name",
                field="name",
            )
    key = _when_key(rule)
    for other in existing:
        if _when_key(other) == key:
            where = f" in {other.source}" if other.source else ""
            raise SubmissionRejected(
                f"its when duplicates rule {other.name!r}{where}; if that rule fits, call "
                f"use_existing_rule({other.name!r}); otherwise make the facts more specific",
                check="duplicate",
                field="when",
            )


def validate_submission(
    rule_yaml: str,
    action_code: str | None,
    *,
    context: Mapping[str, Any],
    rules: Sequence[Rule],
    actions: Mapping[str, ActionSignature],
    watch: Sequence[Path] = (),
) -> Submission:
    """Check a submitted rule and action code; see the module docstring for the checks.

    Args:
        rule_yaml: the rule as YAML text (one rule).
        action_code: the source of one action file (``@action("name")`` functions), or ``None``.
        context: the failure that triggered the exploration (flat mapping).
        rules: every rule in force (for name and ``when`` conflicts).
        actions: registered actions by name (see :func:`signature_of`); used for unknown
            actions and signatures.
        watch: directories that must not change while the code is imported (job dir,
            ``<home>/rules``, ``<home>/actions``).

    Returns:
        The :class:`Submission`, ready to run as an ephemeral rule.

    Raises:
        SubmissionRejected: the first check that fails, with what to change.
    """
    rule = _parse(rule_yaml)
    captures = _check_match(rule, context)
    _check_placeholders(rule, captures, context)
    _check_breadth(rule, context)
    _check_duplicates(rule, rules)
    submitted: dict[str, ActionSignature] = {}
    if action_code is not None and action_code.strip():
        submitted = _check_code(action_code, rule, actions, watch)
    for i, step in enumerate(rule.then):
        if step.action not in submitted and step.action not in actions:
            known = ", ".join(sorted(actions)[:40]) or "none"
            raise SubmissionRejected(
                f"no action named {step.action!r} is registered and the submitted code does not "
                f"define one; submit action_code with @action({step.action!r}) or use one of: {known}",
                check="action",
                field=f"then[{i}].action",
            )
        signature = submitted.get(step.action) or actions[step.action]
        problem = signature.check(step.params)
        if problem:
            raise SubmissionRejected(problem, check="signature", field=f"then[{i}].params")
    return Submission(rule, captures, action_code if submitted else None, submitted, rule_yaml)


def _check_code(
    code: str,
    rule: Rule,
    actions: Mapping[str, Any],
    watch: Sequence[Path],
) -> dict[str, ActionSignature]:
    try:
        compile(code, "action_code", "exec")
    except SyntaxError as exc:
        raise SubmissionRejected(
            f"action_code is not valid Python: {exc.msg} (line {exc.lineno})",
            check="code",
            field="action_code",
        ) from None
    from tether.explore import isolate

    report = import_in_isolation(
        code,
        module_name=action_file_stem(rule.name),
        watch=watch,
        timeout_s=isolate.IMPORT_TIMEOUT_S,
    )
    if report.timed_out:
        raise SubmissionRejected(
            "importing action_code did not finish in time; do no work at import time, only "
            "define @action functions",
            check="code",
            field="action_code",
        )
    if report.violations:
        raise SubmissionRejected(
            "action_code does something at import time that is refused: "
            + "; ".join(report.violations)
            + ". Importing the file must only define functions; do the work inside the action, "
            "and only inside the job's directory",
            check="code",
            field="action_code",
        )
    if report.error:
        raise SubmissionRejected(
            f"action_code does not import: {report.error}", check="code", field="action_code"
        )
    if not report.actions:
        raise SubmissionRejected(
            "action_code registers no action; decorate the function with "
            "@action('name') (from tether import action)",
            check="code",
            field="action_code",
        )
    taken = sorted(name for name in report.actions if name in actions)
    if taken:
        raise SubmissionRejected(
            f"action_code redefines existing action(s) {', '.join(taken)}; existing actions are "
            "read-only while exploring: give the new action a new name",
            check="action",
            field="action_code",
        )
    return report.actions
