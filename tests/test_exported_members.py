"""The public surface: every name in ``tether.__all__`` resolves, says it is ``tether``'s, and is listed."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import tether


def test_all_is_sorted_and_unique() -> None:
    assert list(tether.__all__) == sorted(set(tether.__all__))


@pytest.mark.parametrize("name", tether.__all__)
def test_exported_member_resolves_and_is_published_as_tether(name: str) -> None:
    member = getattr(tether, name)
    assert isinstance(member, type | types.FunctionType), (
        f"{name} is neither a class nor a function"
    )
    assert member.__module__ == "tether", f"tether.{name}.__module__ is {member.__module__!r}"
    assert member.__name__ == name


def test_dir_lists_every_exported_member() -> None:
    assert set(tether.__all__) <= set(dir(tether))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        tether.no_such_name  # noqa: B018


def test_import_tether_loads_only_the_errors() -> None:
    code = "import sys, tether; print(sorted(m for m in sys.modules if m.startswith('tether')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['tether', 'tether._lazy', 'tether.errors']"


def test_a_published_class_still_pickles_by_its_public_path() -> None:
    import pickle

    err = tether.RuleError("no 'when'", file="bad.yaml", rule="r", field="when")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is tether.RuleError and str(back) == str(err)
    assert pickle.loads(pickle.dumps(tether.Loop)) is tether.Loop
