"""Rule, Fact and Step: the knowledge tether acts on, as validated models.

A rule file (``<home>/rules/*.rule.yaml``) in the seed's format::

    name: module_rename
    description: Module path was renamed upstream
    tags: [go, dep]
    when:
      - fact: error_type
        equals: dep_resolution
      - fact: stderr
        regex: 'declares its path as: (?P<new_path>\\S+).*required as: (?P<old_path>\\S+)'
        examples:
          - "module declares its path as: dario.cat/mergo but was required as: github.com/imdario/mergo"
    then:
      - action: fix_module_rename
        params: {old_path: "{old_path}", new_path: "{new_path}"}

Regexes are compiled with RE2 when the rule is validated, with dot matching
newlines and ``^``/``$`` at line boundaries (the seed's ``re.DOTALL | re.MULTILINE``),
so a pattern RE2 cannot run in linear time is refused before it ever runs.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

__all__ = [
    "Backoff",
    "Fact",
    "LLMConfig",
    "LLMConstraints",
    "RetryPolicy",
    "Rule",
    "Step",
    "as_text",
    "compile_regex",
    "rule_from_dump",
]

REGEX_FLAGS = "(?sm)"
"""Prefix giving RE2 the seed's ``re.DOTALL | re.MULTILINE`` semantics."""


def as_text(value: Any) -> str:
    """The string form facts compare against: ``126`` -> ``"126"``, ``True`` -> ``"true"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


@functools.cache
def compile_regex(pattern: str) -> Any:
    """Compile ``pattern`` with RE2 using rule semantics (dot-all, multi-line).

    Compiled patterns are cached by text, so validating a rule and matching it
    compile once.

    Raises:
        ValueError: RE2 rejects the pattern; the message says why and how to rewrite it.
    """
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(REGEX_FLAGS + pattern, options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        hint = ""
        if ("(?<" in pattern and "(?<" in reason) or "(?=" in pattern or "(?!" in pattern:
            hint = (
                "; RE2 has no look-around: match the surrounding text and capture the part you need"
            )
        elif "\\1" in pattern or "\\2" in pattern:
            hint = "; RE2 has no back-references: capture both parts and compare them in the action"
        raise ValueError(f"pattern does not compile under RE2 ({reason}){hint}") from None


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=False, validate_assignment=False, defer_build=True
    )


class Fact(_Model):
    """One condition of a rule's ``when``: a context key and exactly one matcher.

    Example:
        ``Fact(fact="stderr", regex=r"index\\.lock': File exists")``
    """

    fact: str = Field(min_length=1)
    """The context key to test (``stderr``, ``exit_code``, ``error_type`` ...)."""
    equals: str | None = None
    """Holds when the value's string form equals this (``"126"`` matches exit code 126)."""
    contains: str | None = None
    """Holds when this substring occurs in the value (case-sensitive)."""
    regex: str | None = None
    """Holds when this RE2 pattern is found in the value; named groups become captures."""
    examples: list[str] = Field(default_factory=list)
    """Text this fact should match; checked by ``tether rules lint``, shown to the explorer."""

    @field_validator("equals", mode="before")
    @classmethod
    def _equals_as_text(cls, value: Any) -> Any:
        return None if value is None else as_text(value)

    @field_validator("examples", mode="before")
    @classmethod
    def _examples_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted example holding "key: value" as a mapping; keep its text.
        if not isinstance(value, list):
            return value
        out = []
        for item in value:
            if isinstance(item, dict):
                out.append("\n".join(f"{k}: {v}" for k, v in item.items()))
            elif item is not None:
                out.append(as_text(item))
        return out

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, value: str | None) -> str | None:
        # rules from the rule cache are not validated (rule_from_dump): they compile on first use
        if value is not None:
            compile_regex(value)
        return value

    @model_validator(mode="after")
    def _one_matcher(self) -> Fact:
        given = [k for k in ("equals", "contains", "regex") if getattr(self, k) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"a fact needs exactly one of equals, contains, regex (found: {found})"
            )
        if self.contains == "":
            raise ValueError("contains: an empty string would match every value")
        return self

    @property
    def matcher(self) -> str:
        """Which matcher this fact uses: ``"equals"``, ``"contains"`` or ``"regex"``."""
        if self.equals is not None:
            return "equals"
        if self.contains is not None:
            return "contains"
        return "regex"

    @property
    def compiled(self) -> Any:
        """The RE2 pattern object; ``None`` for ``equals``/``contains`` facts."""
        return None if self.regex is None else compile_regex(self.regex)

    def capture_names(self) -> set[str]:
        """Named groups of the regex (empty for ``equals``/``contains``)."""
        if self.regex is None:
            return set()
        return set(self.compiled.groupindex)


class Step(_Model):
    """One step of a rule's ``then``: an action name and its params.

    String params may hold ``{placeholder}`` fields, filled from the rule's regex
    captures first, then from the context.
    """

    action: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class LLMConstraints(_Model):
    """Limits for an LLM-action rule's conversation."""

    max_tool_calls: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    wall_clock_s: float | None = Field(default=None, gt=0)


class LLMConfig(_Model):
    """A rule that runs a governed LLM conversation on match instead of Python steps.

    ``prompt_template`` is inline text or ``file://prompts/x.md`` relative to the home.
    """

    prompt_template: str = Field(min_length=1)
    tools: list[str] = Field(default_factory=list)
    constraints: LLMConstraints = Field(default_factory=LLMConstraints)
    use_secondary: bool = False


class Backoff(_Model):
    """A rule's backoff policy for transient failures: re-apply the rule on the same error.

    Named ``Backoff`` (the standard word for "wait longer between re-tries")
    so that it is not confused with :class:`tether.llm.client.RetryPolicy`,
    which retries LLM requests. The YAML field stays ``retry:``.

    With ``attempts: 4`` the rule's steps run and the job re-runs up to four
    times while the same error comes back, sleeping ``backoff_s * 2**n`` seconds
    (capped at ``max_backoff_s``, with up to 25% jitter) before each re-run.
    """

    attempts: int = Field(default=1, ge=1, le=100)
    backoff_s: float = Field(default=1.0, ge=0)
    max_backoff_s: float = Field(default=30.0, ge=0)
    jitter: bool = True


RetryPolicy = Backoff
"""Deprecated alias of :class:`Backoff`, kept for one release."""


class Rule(_Model):
    """A production rule: when every fact holds for a context, run its steps.

    Attributes mirror the YAML fields. A rule loaded from ``<home>/rules`` is
    permanent; one added in memory with ``ephemeral=True`` is promoted (written
    under ``rules/``) only after a verified success.
    """

    name: str = Field(min_length=1)
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    collection: str = "default"
    when: list[Fact] = Field(min_length=1)
    then: list[Step] = Field(default_factory=list)
    llm_config: LLMConfig | None = None
    retry: Backoff | None = None
    notes: str | None = None

    _source: Path | str | None = PrivateAttr(default=None)
    """The file it came from, as the loaders give it: a string (a ``Path`` costs to build)."""
    _ephemeral: bool = PrivateAttr(default=False)

    @field_validator("name")
    @classmethod
    def _name_is_a_filename(cls, value: str) -> str:
        if "/" in value or "\\" in value or value.startswith(".") or value != value.strip():
            raise ValueError(
                "a rule name becomes a file name: no slashes, no leading dot or spaces"
            )
        return value

    @model_validator(mode="after")
    def _has_something_to_do(self) -> Rule:
        if self.then and self.llm_config is not None:
            raise ValueError("a rule has either 'then' steps or 'llm_config', not both")
        retries = self.retry is not None and self.retry.attempts > 1
        if not self.then and self.llm_config is None and not retries:
            raise ValueError("a rule needs 'then' steps or an 'llm_config'")
        return self

    def __eq__(self, other: object) -> bool:
        """Fields, source and ephemerality equal (a source given as ``str`` equals its ``Path``)."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        return (
            type(other) is type(self)
            and self.__dict__ == other.__dict__
            and self.source == other.source
            and self._ephemeral == other._ephemeral
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, as every pydantic model

    @property
    def source(self) -> Path | None:
        """The file the rule was loaded from, if any."""
        source = self._source
        return Path(source) if isinstance(source, str) else source

    @property
    def ephemeral(self) -> bool:
        """True for an unverified rule held in memory only."""
        return self._ephemeral

    def placed(self, *, source: Path | str | None = None, ephemeral: bool = False) -> Rule:
        """Say where the rule now lives: written to ``source`` (permanent), or held in memory
        only (``ephemeral=True``, no source). Returns the rule itself."""
        self._source = source
        self._ephemeral = ephemeral
        return self

    @property
    def kind(self) -> str:
        """``"deterministic"`` (Python steps) or ``"llm"`` (an ``llm_config`` rule)."""
        return "llm" if self.llm_config is not None else "deterministic"

    def to_yaml(self) -> str:
        """The rule as YAML in the seed's field order, omitting defaults."""
        import yaml

        data = self.model_dump(mode="json", exclude_defaults=True)
        data.setdefault("description", self.description)
        order = ["name", "description", "tags", "collection", "when", "then", "llm_config"]
        ordered = {k: data[k] for k in order if k in data}
        ordered.update({k: v for k, v in data.items() if k not in ordered})
        return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100)


# -- building rules from data validated before -------------------------------------------------


_Plan = tuple[dict[str, Any], tuple[tuple[str, Any], ...], tuple[tuple[str, Any, bool], ...]]
"""Per model: static defaults, ``(field, default factory)``, ``(field, model, is_list)`` of the
fields holding other models."""

_SLOTS = {name: BaseModel.__dict__[name].__set__ for name in BaseModel.__slots__}
_set_dict = _SLOTS["__dict__"]
_set_fields = _SLOTS["__pydantic_fields_set__"]
_set_extra = _SLOTS["__pydantic_extra__"]
_set_private = _SLOTS["__pydantic_private__"]


def _plan(cls: type[BaseModel], nested: tuple[tuple[str, Any, bool], ...] = ()) -> _Plan:
    static: dict[str, Any] = {}
    factories: list[tuple[str, Any]] = []
    for name, info in cls.model_fields.items():
        if info.is_required():
            continue
        if info.default_factory is not None:
            factories.append((name, info.default_factory))
        else:
            static[name] = info.default
    return static, tuple(factories), nested


_PLANS: dict[Any, _Plan] = {
    Fact: _plan(Fact),
    Step: _plan(Step),
    LLMConstraints: _plan(LLMConstraints),
    Backoff: _plan(Backoff),
}
_PLANS[LLMConfig] = _plan(LLMConfig, (("constraints", LLMConstraints, False),))
_PLANS[Rule] = _plan(
    Rule,
    (
        ("when", Fact, True),
        ("then", Step, True),
        ("llm_config", LLMConfig, False),
        ("retry", Backoff, False),
    ),
)


def _construct(cls: Any, data: dict[str, Any], private: dict[str, Any] | None = None) -> Any:
    """``cls`` from ``data`` without validation: what ``model_validate`` would build from it."""
    static, factories, nested = _PLANS[cls]
    values = static.copy()
    values.update(data)
    for name, factory in factories:
        if name not in data:
            values[name] = factory()
    for name, model, is_list in nested:
        value = data.get(name)
        if value is not None:
            values[name] = (
                [_construct(model, v) for v in value] if is_list else _construct(model, value)
            )
    obj = cls.__new__(cls)
    _set_dict(obj, values)
    _set_fields(obj, set(data))
    _set_extra(obj, None)
    _set_private(obj, private)
    return obj


def rule_from_dump(data: dict[str, Any], source: str | Path | None = None) -> Rule:
    """A :class:`Rule` rebuilt, without validating again, from its own dump.

    ``data`` must be ``rule.model_dump(mode="json", exclude_defaults=True)`` of
    a rule validated by this version of tether (the rule cache guarantees it:
    its rows carry the version), and round-trip through JSON unchanged. The
    result equals ``Rule.model_validate(data)`` at a tenth of the cost, and its
    regexes compile on first use (they compiled when the rule was validated).
    ``data`` is not copied: the rule takes ownership of its lists and dicts.
    ``source`` is the file it came from (:attr:`Rule.source`).

    Raises:
        KeyError, TypeError: ``data`` lacks a required part (not a dump); callers fall
            back to validation.
    """
    if not isinstance(data.get("name"), str) or not isinstance(data["when"], list):
        raise TypeError("not a rule dump")
    rule: Rule = _construct(Rule, data, {"_source": source, "_ephemeral": False})
    return rule
