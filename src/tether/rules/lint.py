"""Checks a rule can pass without running anything: examples, placeholders, actions and params.

``tether rules lint`` runs :func:`lint` over every rule in the home (and the
starter pack) and :func:`shadowing` over the home's actions. Problems are
returned, not raised, so one run reports all of them; each names its file,
rule and field.

This module sits below ``tether.actions``: it never imports it. The actions
and the run's placeholder filling come in as arguments (:class:`ActionLookup`,
:data:`Render`), so lint checks params exactly as a run does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tether.rules.match import clip, match_fact, required_literals
from tether.rules.model import Rule

__all__ = [
    "CONTEXT_KEYS",
    "ActionLookup",
    "ActionSignature",
    "LintProblem",
    "Render",
    "greedy_captures",
    "lint",
    "placeholders",
    "shadowing",
]

CONTEXT_KEYS = frozenset(
    {
        "command",
        "exit_code",
        "stdout",
        "stderr",
        "cwd",
        "error",
        "error_type",
        "traceback",
        "function",
        "argv",
    }
)
"""Keys tether itself puts in a failure's context (commands and marked functions)."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

_SAMPLE = "0"
"""Stands for a value lint cannot know; ``"0"`` passes as text, a number, a bool and a path."""


def placeholders(value: object) -> list[str]:
    """Names of the ``{placeholder}`` fields in a param value (strings, lists, dicts)."""
    if isinstance(value, str):
        return _PLACEHOLDER.findall(value)
    if isinstance(value, dict):
        return [n for v in value.values() for n in placeholders(v)]
    if isinstance(value, list):
        return [n for v in value for n in placeholders(v)]
    return []


class ActionSignature(Protocol):
    """What lint needs of an action (:class:`tether.actions.ActionSpec` is one)."""

    def parameters(self) -> Mapping[str, Any]:
        """The params a rule sets, by name (``inspect.Parameter`` values)."""
        ...

    def check(
        self, params: Mapping[str, Any], *, rule: str | None = None, step: int | None = None
    ) -> dict[str, Any]:
        """Validate ``params``; raise an error with ``.param`` and ``.problem`` when they do not fit."""
        ...


class ActionLookup(Protocol):
    """Actions by name (:class:`tether.actions.ActionRegistry` is one)."""

    def get(self, name: str) -> ActionSignature | None:
        """The action ``name``, or ``None``."""
        ...


Render = Callable[..., dict[str, Any]]
"""Fills a step's params: ``render(params, captures, context, action=, rule=, step=)``
(:func:`tether.actions.run.render_params`)."""


@dataclass(frozen=True)
class LintProblem:
    """One finding: where it is and what is wrong. ``severity`` is ``"error"`` or ``"warning"``.

    ``rule`` is ``None`` for a finding about an action file (see :func:`shadowing`).
    """

    rule: str | None
    field: str
    message: str
    severity: str = "error"
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        what = f"rule {self.rule!r}, field" if self.rule is not None else "action"
        return f"{where}{what} {self.field!r}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready keys: ``severity, file, rule, field, message``."""
        return {
            "severity": self.severity,
            "file": self.file,
            "rule": self.rule,
            "field": self.field,
            "message": self.message,
        }


def lint(
    rules: Iterable[Rule],
    actions: Collection[str] | ActionLookup | None = None,
    *,
    render: Render | None = None,
) -> list[LintProblem]:
    """Problems found in ``rules``.

    Args:
        rules: the rules to check.
        actions: the actions a run would find: names only (steps naming another
            action are errors), or an :class:`ActionLookup` (then each step's params
            are also checked against the action's signature).
        render: the run's placeholder filling; with an :class:`ActionLookup`, params
            are checked only when it is given.

    Checks that the prefilter can index the rule (else a warning: it costs a full
    check on every failure); that every example satisfies its fact's matcher; that no
    capture is a greedy ``.*``/``.+`` that runs across lines under dot-matches-newline
    (a warning, see :func:`greedy_captures`); that every ``{placeholder}`` in a step's
    params is a capture of the rule's regexes or a context key tether provides (else a
    warning: it must come from ``context_from`` or ``--context``); that every step's
    action exists; and that its params fit the action's signature as a run fills them
    (unknown, missing and ill-typed params are errors). Captures are sampled from the
    facts' examples; where a value cannot be known, ``"0"`` stands for it.
    """
    problems = []
    for rule in rules:
        file = str(rule.source) if rule.source else None

        def problem(field: str, message: str, severity: str = "error") -> None:
            problems.append(LintProblem(rule.name, field, message, severity, file))  # noqa: B023

        if not any(f.equals is not None or f.contains is not None for f in rule.when) and not any(
            required_literals(f.regex or "")[0] for f in rule.when
        ):
            problem(
                "when",
                "no fact gives the prefilter a literal (3+ fixed characters) or an "
                "equals value, so this rule is checked in full against every failure",
                "warning",
            )
        captures: set[str] = set()
        samples: dict[str, str] = {}
        for i, fact in enumerate(rule.when):
            captures |= fact.capture_names()
            for name, reach in greedy_captures(fact.regex or ""):
                problem(f"when[{i}].regex", _greedy_message(name, reach), "warning")
            for j, example in enumerate(fact.examples):
                got = match_fact(fact, clip(example))
                if got is None:
                    problem(
                        f"when[{i}].examples[{j}]",
                        f"example does not satisfy this fact's {fact.matcher} matcher",
                    )
                else:
                    for name, value in got.items():
                        samples.setdefault(name, value)
        for i, step in enumerate(rule.then):
            for param, value in step.params.items():
                for name in placeholders(value):
                    if name not in captures and name not in CONTEXT_KEYS:
                        problem(
                            f"then[{i}].params.{param}",
                            f"placeholder {{{name}}} is no capture of this rule and no built-in "
                            "context key; it must come from context_from or --context",
                            "warning",
                        )
            if actions is None:
                continue
            if isinstance(actions, Collection):
                if step.action not in actions:
                    problem(f"then[{i}].action", f"no action named {step.action!r}")
                continue
            spec = actions.get(step.action)
            if spec is None:
                problem(f"then[{i}].action", f"no action named {step.action!r}")
            elif render is not None:
                for field, message in _param_problems(rule, i, spec, render, captures, samples):
                    problem(field, message)
    return problems


def _param_problems(
    rule: Rule,
    index: int,
    spec: ActionSignature,
    render: Render,
    captures: set[str],
    samples: Mapping[str, str],
) -> list[tuple[str, str]]:
    """``(field, message)`` for each param of step ``index`` that a run would refuse."""
    step = rule.then[index]
    caps = {name: samples.get(name, _SAMPLE) for name in captures}
    context: dict[str, Any] = {key: _SAMPLE for key in CONTEXT_KEYS}
    context["exit_code"] = 1
    for name in placeholders(list(step.params.values())):
        context.setdefault(name, _SAMPLE)  # from context_from or --context: warned about above
    try:
        params = render(
            step.params, caps, context, action=step.action, rule=rule.name, step=index + 1
        )
    except Exception as exc:  # the filling itself refuses (a malformed value)
        return [(f"then[{index}].params", str(getattr(exc, "problem", exc)))]
    for name in spec.parameters():  # as the run does: unset params come from captures/context
        if name not in params and (name in caps or name in CONTEXT_KEYS):
            params[name] = caps.get(name, context.get(name))
    found: list[tuple[str, str]] = []
    reported: set[str] = set()
    for _ in range(len(params) + len(spec.parameters()) + 1):
        try:
            spec.check(params, rule=rule.name, step=index + 1)
            break
        except Exception as exc:
            param = getattr(exc, "param", None)
            if param in reported:
                break  # missing now because lint took out its ill-typed value: said already
            reported.add(str(param))
            found.append(
                (
                    f"then[{index}].params" + (f".{param}" if param else ""),
                    str(getattr(exc, "problem", exc)),
                )
            )
            if param is None or param not in params:
                break  # a missing param (or a problem with no param): the first one is enough
            del params[param]  # unknown or ill-typed: look for more without it
    return found


def shadowing(
    overrides: Mapping[str, str | None], users: Mapping[str, list[str]] | None = None
) -> list[LintProblem]:
    """Warnings for home actions that replace a starter action of the same name.

    Args:
        overrides: starter action name -> the home file that defines it again.
        users: starter action name -> names of the rules whose steps call it
            (they now run the home's version).
    """
    out = []
    for name, file in sorted(overrides.items()):
        called = (users or {}).get(name) or []
        by = f"; rules calling it now run this one: {', '.join(called)}" if called else ""
        out.append(
            LintProblem(
                None,
                name,
                "shadows the starter action of the same name"
                + by
                + " (rename it unless replacing it is the point)",
                "warning",
                file,
            )
        )
    return out


# -- greedy captures ---------------------------------------------------------------------------

_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def greedy_captures(pattern: str) -> list[tuple[str, str]]:
    """Named captures that end in a greedy ``.*``/``.+`` able to run across lines.

    Rules match with dot-matches-newline, so ``(?P<x>.*)`` takes everything to the
    end of the text (``reach == "end"``: nothing required follows it), or to the
    *last* place the rest of the pattern matches, however many lines below
    (``reach == "last"``). A repeated class that holds the newline (``[^']``, ``\\s``)
    is flagged only at the end of the pattern: before a delimiter it lacks, it stops
    there. Lazy repeats and classes without the newline (``[^\\n]``, ``\\S``,
    ``\\w``) are fine. A pattern Python's parser cannot read
    yields nothing.

    Returns:
        ``(capture name, reach)`` pairs, in pattern order.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern)
    except Exception:
        return []
    names = {number: name for name, number in parsed.state.groupdict.items()}
    found: list[tuple[str, str]] = []
    _walk(list(parsed), False, True, names, found)  # rules always match with (?s)
    return found


def _walk(
    items: list[Any], follow: bool, dotall: bool, names: dict[int, str], found: list[Any]
) -> None:
    for i, (op, arg) in enumerate(items):
        after = follow or any(_required(x) for x in items[i + 1 :])
        name = op.name
        if name == "SUBPATTERN":
            group, _add, delete, body = arg
            inner = dotall and not delete & re.DOTALL
            body = list(body)
            kind = _open_tail(body, inner) if group in names else None
            if kind is not None and not after:
                found.append((names[group], "end"))
            elif kind == "any":  # a class stops at the first character it lacks; a dot never
                found.append((names[group], "last"))
            _walk(body, after, inner, names, found)
        elif name == "BRANCH":
            for branch in arg[1]:
                _walk(list(branch), after, dotall, names, found)
        elif name in _REPEATS:
            _walk(list(arg[2]), True, dotall, names, found)


def _open_tail(body: list[Any], dotall: bool) -> str | None:
    """How ``body`` ends: ``"any"`` in a greedy unbounded dot, ``"class"`` in such a repeat of
    a class holding ``\n``; ``None`` when it ends in something bounded."""
    from re import _constants  # type: ignore[attr-defined]

    for j in range(len(body) - 1, -1, -1):
        op, arg = body[j]
        if op.name == "MAX_REPEAT" and arg[1] == _constants.MAXREPEAT:
            kind = _takes_newline(list(arg[2]), dotall)
            if kind:
                return kind
        if op.name == "SUBPATTERN":
            kind = _open_tail(list(arg[3]), dotall and not arg[2] & re.DOTALL)
            if kind:
                return kind
        if _required(body[j]):
            return None
    return None


_NEWLINE_CATEGORIES = ("CATEGORY_SPACE", "CATEGORY_NOT_WORD", "CATEGORY_NOT_DIGIT")


def _takes_newline(inner: list[Any], dotall: bool) -> str | None:
    if len(inner) != 1:
        return None
    op, arg = inner[0]
    if op.name == "ANY":
        return "any" if dotall else None
    if op.name == "NOT_LITERAL":
        return "class" if arg != 10 else None
    if op.name == "CATEGORY":
        return "class" if arg.name in _NEWLINE_CATEGORIES else None
    if op.name == "IN":
        negated = any(o.name == "NEGATE" for o, _ in arg)
        has = any(
            (o.name == "LITERAL" and a == 10)
            or (o.name == "RANGE" and a[0] <= 10 <= a[1])
            or (o.name == "CATEGORY" and a.name in _NEWLINE_CATEGORIES)
            for o, a in arg
        )
        return "class" if has != negated else None
    return None


def _required(item: Any) -> bool:
    """Whether a parsed item must consume at least one character."""
    op, arg = item
    name = op.name
    if name == "AT":
        return False
    if name == "SUBPATTERN":
        return any(_required(x) for x in arg[3])
    if name in _REPEATS:
        return bool(arg[0] >= 1 and any(_required(x) for x in arg[2]))
    if name == "BRANCH":
        return all(any(_required(x) for x in branch) for branch in arg[1])
    return True


def _greedy_message(name: str, reach: str) -> str:
    where = (
        "to the end of the text (every line after the match)"
        if reach == "end"
        else "across lines, to the last place the rest of the pattern matches"
    )
    return (
        f"capture {{{name}}} ends in a greedy repeat that, under dot-matches-newline, runs "
        f"{where}; bound it: [^\\n]* for the rest of the line, \\S+ for one word, "
        "or a class without the delimiter (e.g. [^']*)"
    )
