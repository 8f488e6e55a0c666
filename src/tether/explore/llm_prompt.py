"""The prompt of an LLM-action rule: its template read (inline or ``file://``) and filled.

``{name}`` fields are filled from the rule's regex captures first, then from the
context; ``{{`` and ``}}`` are literal braces, and any other brace is left as it
is (so JSON in a prompt needs no escaping). A ``file://`` path is relative to the
home and may not resolve outside it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tether._types import Captures, Context
from tether.explore.llm_config import llm_config_of, rule_error
from tether.rules.model import Rule, as_text

__all__ = ["load_template", "render_template"]

_FILE_PREFIX = "file://"
_TEMPLATE_FIELD = "llm_config.prompt_template"
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_template(rule: Rule, home: str | os.PathLike[str]) -> tuple[str, Path | None]:
    """The text of ``rule.llm_config.prompt_template`` and the file it came from.

    Args:
        rule: an LLM rule (``rule.kind == "llm"``).
        home: the engine home; ``file://`` paths are relative to it.

    Returns:
        ``(text, path)``, with ``path`` ``None`` for an inline template.

    Raises:
        RuleError: the rule has no ``llm_config``; a ``file://`` path resolves outside the home
            (symlinks followed); or the file cannot be read. The message names the rule, the
            field and the path.
    """
    template = llm_config_of(rule).prompt_template
    if not template.startswith(_FILE_PREFIX):
        return template, None
    relative = template[len(_FILE_PREFIX) :]
    base = Path(home).resolve()
    target = (base / relative).resolve()
    if target == base or base not in target.parents:
        raise rule_error(
            rule,
            f"{template!r} resolves outside the home {base}; keep prompt files under "
            f"{base / 'prompts'} and name them like file://prompts/name.md",
            field=_TEMPLATE_FIELD,
        )
    try:
        return target.read_text(encoding="utf-8"), target
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise rule_error(
            rule,
            f"cannot read the prompt file {target} ({why}); create it or fix the path",
            field=_TEMPLATE_FIELD,
        ) from None


def render_template(
    template: str,
    captures: Captures,
    context: Context,
    *,
    rule: Rule,
    source: Path | None = None,
) -> str:
    """Fill ``{name}`` fields from ``captures`` first, then ``context``.

    ``{{`` and ``}}`` stand for literal braces; a brace that is not part of ``{name}``
    (JSON, code) is kept as it is. Values are written in their string form
    (``126`` -> ``"126"``, ``True`` -> ``"true"``).

    Args:
        template: the prompt text.
        captures: the rule's named regex groups for this failure.
        context: the failure context (flat ``dict[str, str | int]``).
        rule: the rule, named in errors.
        source: the template's file, named in errors.

    Raises:
        RuleError: a field has neither a capture nor a context value (the first such field is
            named, with the names that are available).
    """
    values = {**context, **captures}
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name in values:
            return as_text(values[name])
        missing.append(name)
        return token

    text = _TOKEN.sub(fill, template)
    if missing:
        known = ", ".join(sorted(values)[:20]) or "none"
        where = f"in {source}: " if source is not None else ""
        raise rule_error(
            rule,
            f"{where}placeholder {{{missing[0]}}} has no capture and no context value "
            f"(available: {known}); write {{{{{missing[0]}}}}} for literal braces",
            field=_TEMPLATE_FIELD,
        )
    return text
