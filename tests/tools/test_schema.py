"""JSON schemas from type hints and docstrings; refusals at registration."""

from __future__ import annotations

import collections.abc
import enum
import io
import typing
import warnings
from pathlib import Path
from typing import IO, Annotated, Any, Literal, Optional

import pydantic
import pytest

from tether.errors import ToolSchemaError
from tether.tools import Tool, ToolRegistry, tool
from tether.tools.schema import build_schema, parse_docstring


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Point(pydantic.BaseModel):
    x: int
    y: int = 0


def props(fn: Any) -> dict[str, Any]:
    return Tool.from_function(fn).parameters["properties"]


# -- every supported hint ----------------------------------------------------------------------


def test_scalars() -> None:
    def f(s: str, i: int, x: float, b: bool) -> None: ...

    schema = Tool.from_function(f).parameters
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["s", "i", "x", "b"]
    assert {k: v["type"] for k, v in schema["properties"].items()} == {
        "s": "string", "i": "integer", "x": "number", "b": "boolean",
    }  # fmt: skip


def test_list_and_dict_bare_and_parametrised() -> None:
    def f(a: list[int], b: dict[str, float], c: list, d: dict) -> None: ...  # type: ignore[type-arg]

    p = props(f)
    assert p["a"] == {"type": "array", "items": {"type": "integer"}}
    assert p["b"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert p["c"]["type"] == "array"
    assert p["d"]["type"] == "object"


def test_optional_and_union_with_none_and_defaults() -> None:
    def f(a: Optional[int] = None, b: str | None = None, c: int = 3) -> None: ...  # noqa: UP045

    schema = Tool.from_function(f).parameters
    assert "required" not in schema
    for name in ("a", "b"):
        types = {alt.get("type") for alt in schema["properties"][name]["anyOf"]}
        assert "null" in types and len(types) == 2
        assert schema["properties"][name]["default"] is None
    assert schema["properties"]["c"] == {"type": "integer", "default": 3}


def test_literal() -> None:
    def f(mode: Literal["fast", "safe"]) -> None: ...

    assert props(f)["mode"]["enum"] == ["fast", "safe"]


def test_enum() -> None:
    def f(color: Color) -> None: ...

    schema = Tool.from_function(f).parameters
    ref = schema["properties"]["color"]["$ref"].rsplit("/", 1)[-1]
    assert schema["$defs"][ref]["enum"] == ["red", "green"]


def test_pydantic_model() -> None:
    def f(point: Point) -> None: ...

    schema = Tool.from_function(f).parameters
    ref = schema["properties"]["point"]["$ref"].rsplit("/", 1)[-1]
    assert schema["$defs"][ref]["properties"]["x"]["type"] == "integer"
    assert schema["$defs"][ref]["required"] == ["x"]


def test_annotated_field_constraints_and_description() -> None:
    def f(n: Annotated[int, pydantic.Field(ge=1, le=10, description="how many")] = 2) -> None: ...

    assert props(f)["n"] == {
        "type": "integer", "minimum": 1, "maximum": 10, "description": "how many", "default": 2,
    }  # fmt: skip


def test_async_function_is_marked_async() -> None:
    async def f(a: int) -> int:
        return a

    assert Tool.from_function(f).is_async
    assert not Tool.from_function(lambda_free_sync).is_async


def lambda_free_sync(a: int) -> int:
    return a


# -- docstrings ----------------------------------------------------------------------------------


def test_google_docstring_gives_tool_and_parameter_descriptions() -> None:
    def grep(pattern: str, path: str = ".", *, limit: int = 10) -> str:
        """Search files for a regex.

        Lines after the first paragraph stay in the description.

        Args:
            pattern: the regex,
                in RE2 syntax.
            path (str): where to search.
            limit: most matches.

        Returns:
            matching lines.
        """
        return ""

    t = Tool.from_function(grep)
    assert t.description == (
        "Search files for a regex.\n\nLines after the first paragraph stay in the description."
    )
    p = t.parameters["properties"]
    assert p["pattern"]["description"] == "the regex, in RE2 syntax."
    assert p["path"]["description"] == "where to search."
    assert p["limit"]["description"] == "most matches."
    assert "matching lines" not in str(t.parameters)


def test_sphinx_docstring() -> None:
    def f(a: int, b: str) -> None:
        """Do a thing.

        :param a: the first,
            continued.
        :param str b: the second.
        :returns: nothing.
        """

    p = props(f)
    assert p["a"]["description"] == "the first, continued."
    assert p["b"]["description"] == "the second."
    assert Tool.from_function(f).description == "Do a thing."


def test_parse_docstring_without_args_and_explicit_description_override() -> None:
    assert parse_docstring("") == ("", {})
    assert parse_docstring("Only text.") == ("Only text.", {})

    def f(a: int) -> None:
        """From the docstring."""

    assert Tool.from_function(f, description="Given.").description == "Given."
    assert "description" not in props(f)["a"]


def test_parameter_named_like_a_basemodel_attribute_registers_quietly() -> None:
    def f(schema: str, json: int = 1, copy: bool = False) -> str:
        return f"{schema}{json}{copy}"

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = Tool.from_function(f)
    assert set(t.parameters["properties"]) == {"schema", "json", "copy"}


# -- refusals at registration --------------------------------------------------------------------


def _callable_param(fn: collections.abc.Callable[[int], int]) -> None: ...
def _typing_callable(fn: typing.Callable[..., Any]) -> None: ...
def _bare_callable(fn: collections.abc.Callable) -> None: ...  # type: ignore[type-arg]
def _file_handle(fh: IO[str]) -> None: ...
def _text_io(fh: typing.TextIO) -> None: ...
def _io_class(fh: io.StringIO) -> None: ...
def _nested_callable(fns: list[collections.abc.Callable[[], None]]) -> None: ...
def _annotated_callable(fn: Annotated[collections.abc.Callable[[], None], "x"]) -> None: ...
def _star_args(*args: int) -> None: ...
def _star_kwargs(**kwargs: int) -> None: ...
def _no_hint(a) -> None: ...  # type: ignore[no-untyped-def]
def _positional_only(a: int, /) -> None: ...
def _arbitrary_class(p: Path) -> None: ...  # pydantic knows Path; a plain class it does not


class Opaque:
    pass


def _opaque(o: Opaque) -> None: ...
def _unresolvable(a: DoesNotExist) -> None: ...  # type: ignore[name-defined]  # noqa: F821


@pytest.mark.parametrize(
    ("fn", "match"),
    [
        (_callable_param, "'fn': a callable"),
        (_typing_callable, "'fn': a callable"),
        (_bare_callable, "'fn': a callable"),
        (_file_handle, "'fh': a file handle"),
        (_text_io, "'fh': a file handle"),
        (_io_class, "'fh': a file handle"),
        (_nested_callable, "'fns': a callable"),
        (_annotated_callable, "'fn': a callable"),
        (_star_args, r"'\*args': variadic"),
        (_star_kwargs, r"'\*\*kwargs': variadic"),
        (_no_hint, "'a': it has no type hint"),
        (_positional_only, "'a': positional-only"),
        (_opaque, "no JSON schema"),
        (_unresolvable, "cannot resolve its type hints"),
    ],
)
def test_unsupported_signatures_fail_at_registration(fn: Any, match: str) -> None:
    registry = ToolRegistry()
    with pytest.raises(ToolSchemaError, match=match):
        registry.register(fn)
    assert len(registry) == 0


def test_path_hint_is_accepted_as_a_string() -> None:
    assert props(_arbitrary_class)["p"]["format"] == "path"


def test_not_a_function_and_bad_names_and_timeouts_are_refused() -> None:
    with pytest.raises(ToolSchemaError, match="must be a function"):
        Tool.from_function("not callable")  # type: ignore[arg-type]
    with pytest.raises(ToolSchemaError, match="tool name"):
        Tool.from_function(lambda: None)
    with pytest.raises(ToolSchemaError, match="tool name"):
        Tool.from_function(lambda_free_sync, name="has space")
    with pytest.raises(ToolSchemaError, match="tool name"):
        Tool.from_function(lambda_free_sync, name="x" * 65)
    with pytest.raises(ToolSchemaError, match="tool name"):
        Tool.from_function(lambda_free_sync, name="café")
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ToolSchemaError, match="timeout_s"):
            Tool.from_function(lambda_free_sync, timeout_s=bad)


def test_from_schema_checks_name_and_shape() -> None:
    async def call(**kwargs: Any) -> None: ...

    ok = Tool.from_schema("remote", call, description="d", parameters={"type": "object"})
    assert ok.is_async and ok.validator is None
    with pytest.raises(ToolSchemaError, match="tool name"):
        Tool.from_schema("a.b", call, description="d", parameters={"type": "object"})
    with pytest.raises(ToolSchemaError, match="object"):
        Tool.from_schema("remote", call, description="d", parameters={"type": "string"})


def test_decorator_bare_and_called_registers_in_default_registry() -> None:
    from tether.tools import default_tools

    @tool
    def _t_bare(a: int) -> int:
        return a

    @tool(name="t_called", timeout_s=5, parallel_safe=True)
    def _t_other(a: int) -> int:
        return a

    try:
        assert _t_bare(1) == 1  # the function itself is returned
        bare, called = default_tools.get("_t_bare"), default_tools.get("t_called")
        assert bare is not None and called is not None
        assert (called.timeout_s, called.parallel_safe) == (5.0, True)
    finally:
        default_tools.remove("_t_bare")
        default_tools.remove("t_called")


def test_build_schema_reports_param_names_in_order() -> None:
    def f(b: int, a: str = "") -> None: ...

    assert build_schema(f, name="f").param_names == ("b", "a")


def test_annotated_description_wins_over_docstring_and_docstring_fills_the_rest() -> None:
    def f(
        n: Annotated[int, pydantic.Field(ge=1)] = 2,
        m: Annotated[int, pydantic.Field(description="from Field")] = 1,
    ) -> None:
        """X.

        Args:
            n: from the docstring.
            m: ignored.
        """

    p = props(f)
    assert p["n"] == {
        "type": "integer",
        "minimum": 1,
        "default": 2,
        "description": "from the docstring.",
    }
    assert p["m"]["description"] == "from Field"
