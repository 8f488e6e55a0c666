"""``mark`` is typed so that a type checker sees through it, and its settings are defined once."""

from __future__ import annotations

import dataclasses
import textwrap
import typing
from pathlib import Path

import pytest

from tether.recover.mark import MarkOptions, MarkSettings

SNIPPET = """
from tether import Tether

t = Tether(home="{home}")

@t.mark
def add(a: int, b: int = 1) -> int:
    return a + b

@t.mark(max_retries=2, tags=["net"])
async def fetch(url: str) -> bytes:
    return b""

reveal_type(add)
reveal_type(add(1, b=2))
reveal_type(add.mark)
reveal_type(fetch)
add("x")
t.mark(max_retry=2)
"""


def test_a_type_checker_sees_the_wrapped_signature(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    file = tmp_path / "snippet.py"
    file.write_text(textwrap.dedent(SNIPPET.format(home=tmp_path)), encoding="utf-8")
    out, err, _ = api.run(
        [str(file), "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache")]
    )
    lines = out.splitlines()
    notes = [line.split("note: ", 1)[1] for line in lines if "note: Revealed type" in line]
    assert len(notes) == 4, out + err
    assert notes[0] == 'Revealed type is "tether.recover.mark.Marked[[a: int, b: int =], int]"'
    assert notes[1] == 'Revealed type is "int"'
    assert notes[2] == 'Revealed type is "tether.recover.mark.MarkSettings"'
    assert "Marked[[url: str], typing.Coroutine[Any, Any, bytes]]" in notes[3]
    errors = [line for line in lines if ": error:" in line]
    assert any('incompatible type "str"; expected "int"' in e for e in errors), out
    assert any('"max_retry"' in e for e in errors), out


def test_the_settings_are_defined_once() -> None:
    options = typing.get_type_hints(MarkOptions)
    fields = {f.name for f in dataclasses.fields(MarkSettings)}
    assert set(options) == fields
    assert len(fields) == 11


def test_an_unknown_setting_is_a_type_error(home: Path) -> None:
    from tether import Tether

    with pytest.raises(TypeError, match="max_retry"):
        Tether(home=home).mark(max_retry=2)  # type: ignore[call-arg]
