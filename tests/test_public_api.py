"""The public surface: exported names, and an import that loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import tether


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert tether.__all__ == sorted(tether.__all__)
    for name in tether.__all__:
        assert getattr(tether, name) is not None
    from tether import Fact, Rule, Tether, action, tool  # noqa: F401  (the documented import)


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        tether.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_tether_loads_no_heavy_module() -> None:
    code = (
        "import sys, tether\n"
        "heavy = ['pydantic', 're2', 'yaml', 'typer', 'rich', 'pydantic_ai', 'mcp']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_marking_a_function_reads_nothing_from_disk(tmp_path) -> None:
    code = (
        "import sys\nfrom tether import Tether\n"
        f"t = Tether(home={str(tmp_path / 'h')!r})\n"
        "@t.mark\ndef f(x):\n    return x + 1\n"
        "assert f(1) == 2 and f.mark.max_retries is None and f.mark.fallback\n"
        "print(','.join(m for m in ['re2', 'yaml', 'sqlite3'] if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert not (tmp_path / "h").exists()


def test_errors_tree() -> None:
    assert issubclass(tether.RuleError, tether.TetherError)
    assert issubclass(tether.BudgetExceeded, tether.LoopStopped)
    assert issubclass(tether.CycleDetected, tether.LoopStopped)
