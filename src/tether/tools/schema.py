"""A tool's JSON schema, built from a plain function's type hints and docstring.

The schema is what the model reads; the pydantic model built alongside it is
what checks the model's arguments before the function runs. Both are built
once, at registration, so a hint that has no JSON form (a callable, a file
handle), a parameter without a hint, or ``*args``/``**kwargs`` fails there,
never in the middle of a run.

Supported hints: ``str``, ``int``, ``float``, ``bool``, ``list[...]``,
``dict[str, ...]``, ``X | None`` / ``Optional[X]``, ``Literal[...]``, ``Enum``
subclasses, pydantic models, and ``Annotated[X, Field(...)]`` — anything
pydantic can turn into a JSON schema that is not a callable or a stream.

Parameter descriptions come from the docstring's Google-style ``Args:``
section (or Sphinx ``:param name:`` lines); the first paragraph describes the
tool.
"""

from __future__ import annotations

import collections.abc
import inspect
import io
import re
import typing
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.errors import ToolSchemaError

__all__ = ["ToolSchema", "build_schema", "parse_docstring"]

_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Returns|Raises|Yields|Example|Examples|Note|Notes)\s*:\s*$"
)
_ARG_LINE = re.compile(r"^(\s*)(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")
_SPHINX_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a docstring into (description, {param name: description}).

    The description is everything before the first section header (``Args:``,
    ``Returns:`` ...) or Sphinx field. Continuation lines of a parameter are
    joined with single spaces.
    """
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    indent = 0
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section, current = header.group(1), None
            continue
        sphinx = _SPHINX_PARAM.match(line)
        if sphinx:
            section, current = "sphinx", sphinx.group(1)
            params[current] = sphinx.group(2).strip()
            continue
        if section is None:
            description.append(line)
        elif section in ("Args", "Arguments", "Parameters"):
            arg = _ARG_LINE.match(line)
            if arg and (current is None or len(arg.group(1)) <= indent):
                indent = len(arg.group(1))
                current = arg.group(2).lstrip("*")
                params[current] = arg.group(4).strip()
            elif current is not None and line.strip():
                params[current] = f"{params[current]} {line.strip()}".strip()
        elif section == "sphinx" and current is not None and line.strip():
            if line.lstrip().startswith(":"):
                current = None
            else:
                params[current] = f"{params[current]} {line.strip()}".strip()
    text = "\n".join(description).strip()
    return text, params


@dataclass(frozen=True)
class ToolSchema:
    """What registration learned about a function.

    Attributes:
        description: the text the model reads about the tool.
        parameters: the JSON schema of the arguments (an ``object`` schema).
        validator: the pydantic model that checks and coerces arguments.
        param_names: the parameters in signature order.
        is_async: whether the function is a coroutine function.
    """

    description: str
    parameters: dict[str, Any]
    validator: Any
    param_names: tuple[str, ...]
    is_async: bool


def _reject(fn_name: str, param: str, why: str) -> ToolSchemaError:
    return ToolSchemaError(
        f"tool {fn_name!r}, parameter {param!r}: {why}; tools take JSON-shaped arguments "
        "(str, int, float, bool, list, dict, Optional, Literal, Enum, pydantic models)"
    )


def _check_hint(fn_name: str, param: str, hint: Any) -> None:
    """Refuse hints that pydantic would accept but a model can never produce."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        _check_hint(fn_name, param, typing.get_args(hint)[0])
        return
    if hint is collections.abc.Callable or origin is collections.abc.Callable:
        raise _reject(fn_name, param, "a callable cannot come from a model")
    if (isinstance(hint, type) and issubclass(hint, io.IOBase)) or hint in (
        typing.IO,
        typing.TextIO,
        typing.BinaryIO,
    ):
        raise _reject(fn_name, param, "a file handle cannot come from a model")
    if origin in (typing.IO, typing.TextIO, typing.BinaryIO):
        raise _reject(fn_name, param, "a file handle cannot come from a model")
    for arg in typing.get_args(hint):
        if arg is not Ellipsis and not isinstance(arg, (str, int, float, bool, type(None))):
            _check_hint(fn_name, param, arg)


def _annotated_description(hint: Any) -> bool:
    """True when ``Annotated[X, Field(description=...)]`` already describes the parameter."""
    if typing.get_origin(hint) is not typing.Annotated:
        return False
    return any(getattr(meta, "description", None) for meta in typing.get_args(hint)[1:])


def build_schema(
    fn: Callable[..., Any], *, name: str, description: str | None = None
) -> ToolSchema:
    """Build the JSON schema and argument validator for ``fn``.

    Args:
        fn: a plain function (sync or async) whose every parameter has a type hint.
        name: the tool's name, used in messages and as the schema title.
        description: overrides the docstring's first paragraph.

    Raises:
        ToolSchemaError: a parameter lacks a hint, is ``*args``/``**kwargs``, or its hint has
            no JSON schema (callables, file handles, arbitrary classes).
    """
    import pydantic

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ToolSchemaError(f"tool {name!r}: cannot read its signature ({exc})") from None
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # a forward reference that does not resolve
        raise ToolSchemaError(f"tool {name!r}: cannot resolve its type hints ({exc})") from None
    doc_text, doc_params = parse_docstring(inspect.getdoc(fn) or "")
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise _reject(name, f"{star}{param.name}", "variadic parameters have no schema")
        if param.kind is param.POSITIONAL_ONLY:
            raise _reject(name, param.name, "positional-only parameters cannot be passed by name")
        if param.name not in hints:
            raise _reject(name, param.name, "it has no type hint")
        hint = hints[param.name]
        _check_hint(name, param.name, hint)
        default = ... if param.default is param.empty else param.default
        described = _annotated_description(hint)
        text = doc_params.get(param.name)
        field = (
            pydantic.Field(default, description=text)
            if text and not described
            else pydantic.Field(default)
        )
        fields[param.name] = (hint, field)
    try:
        with warnings.catch_warnings():
            # A parameter named like a BaseModel attribute (``schema``, ``json``, ``copy``) is
            # fine here: values are read by iterating the model, never by attribute.
            warnings.filterwarnings("ignore", "Field name .* shadows an attribute", UserWarning)
            model = pydantic.create_model(
                f"{name}_arguments",
                __config__=pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=False),
                **fields,
            )
        schema = model.model_json_schema()
    except (
        pydantic.PydanticSchemaGenerationError,
        pydantic.errors.PydanticInvalidForJsonSchema,
    ) as exc:
        raise ToolSchemaError(
            f"tool {name!r}: a parameter's hint has no JSON schema ({exc})"
        ) from None
    except pydantic.PydanticUserError as exc:
        raise ToolSchemaError(f"tool {name!r}: {exc}") from None
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    text = description if description is not None else doc_text
    return ToolSchema(
        description=text,
        parameters=schema,
        validator=model,
        param_names=tuple(signature.parameters),
        is_async=inspect.iscoroutinefunction(fn),
    )
