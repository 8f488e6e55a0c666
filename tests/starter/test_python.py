"""python-src-layout (and its pytest twin) against a real interpreter importing a package in ./src."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.helpers import PYTHON
from tests.starter.support import captures, real_context, rule_names
from tether import Tether

PACKAGE = "tether_srcdemo"
IMPORT = [PYTHON, "-c", f"import {PACKAGE}; print({PACKAGE}.VALUE)"]


@pytest.fixture(autouse=True)
def _restore_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """The action edits this process's PYTHONPATH and sys.path: undo both after each test."""
    monkeypatch.setenv("PYTHONPATH", "")
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def src_package(work: Path) -> Path:
    package = work / "src" / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 42\n")
    return package


def test_src_layout_rule_resolves_with_the_module(
    src_package: Path, work: Path, engine: Tether
) -> None:
    context = real_context(IMPORT, work)
    assert rule_names(engine, context) == ["python-src-layout", "python-venv-missing-module"]
    assert captures(engine, "python-src-layout", context) == {"module": PACKAGE}


def test_src_layout_recovery_puts_src_on_the_path(
    src_package: Path, work: Path, engine: Tether
) -> None:
    result, outcome = engine.run_command(IMPORT, cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "42\n"
    assert outcome is not None and outcome.recovered
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(work / "src")


def test_a_module_that_is_not_in_src_is_not_guessed(work: Path, engine: Tether) -> None:
    (work / "src").mkdir()
    first = real_context(IMPORT, work)
    result, outcome = engine.run_command(IMPORT, cwd=work, stream=False)
    assert result.exit_code == first["exit_code"] == 1
    assert outcome is not None and not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [
        ("python-src-layout", "action_error"),
        ("python-venv-missing-module", "action_error"),
    ]
    assert os.environ["PYTHONPATH"] == ""


def test_src_already_on_the_path_is_not_added_again(
    src_package: Path, work: Path, engine: Tether, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package is found, but it imports a submodule that does not exist."""
    (src_package / "__init__.py").write_text(f"import {PACKAGE}.missing_part\nVALUE = 42\n")
    monkeypatch.setenv("PYTHONPATH", str(work / "src"))
    context = real_context(IMPORT, work)
    assert captures(engine, "python-src-layout", context) == {"module": PACKAGE}
    result, outcome = engine.run_command(IMPORT, cwd=work, stream=False)
    assert result.exit_code == context["exit_code"] == 1
    assert outcome is not None and not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts][:1] == [
        ("python-src-layout", "action_error")
    ]
    assert "already on PYTHONPATH" in (outcome.attempts[0].error or "")
    assert os.environ["PYTHONPATH"] == str(work / "src")


PYTEST = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]


@pytest.fixture
def src_tests(src_package: Path, work: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A test importing the src package (pytest without plugins, so it starts fast)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    tests = work / "tests"
    tests.mkdir()
    (tests / "test_value.py").write_text(
        f"import {PACKAGE}\n\ndef test_value():\n    assert {PACKAGE}.VALUE == 42\n"
    )
    return tests


def test_pytest_reports_on_stdout_and_the_twin_rule_reads_it(
    src_tests: Path, work: Path, engine: Tether
) -> None:
    context = real_context(PYTEST, work)
    assert "ModuleNotFoundError" in context["stdout"]
    assert "ModuleNotFoundError" not in context["stderr"]
    assert "python-src-layout" not in rule_names(engine, context)
    assert captures(engine, "python-src-layout-pytest", context) == {"module": PACKAGE}


def test_pytest_recovers_with_src_on_the_path(src_tests: Path, work: Path, engine: Tether) -> None:
    result, outcome = engine.run_command(PYTEST, cwd=work, stream=False)
    assert result.exit_code == 0, result.stdout
    assert outcome is not None and outcome.recovered
    assert outcome.attempts[0].rule == "python-src-layout-pytest"
    assert os.environ["PYTHONPATH"] == str(work / "src")


def test_pythonpath_is_restored_when_src_did_not_fix_it(
    src_tests: Path, work: Path, engine: Tether
) -> None:
    """``python -I`` ignores PYTHONPATH: the same error comes back and the change is undone."""
    isolated = [PYTHON, "-I", *PYTEST[1:]]
    result, outcome = engine.run_command(isolated, cwd=work, stream=False)
    assert result.exit_code == 2
    assert outcome is not None and not outcome.recovered
    assert outcome.attempts[0].rule == "python-src-layout-pytest"
    assert outcome.attempts[0].outcome != "action_error"
    assert os.environ["PYTHONPATH"] == ""


def test_a_src_directory_outside_the_job_is_refused(
    work: Path, tmp_path: Path, engine: Tether
) -> None:
    outside = tmp_path / "elsewhere" / "src" / PACKAGE
    outside.mkdir(parents=True)
    (outside / "__init__.py").write_text("VALUE = 42\n")
    (work / "src").symlink_to(outside.parent)
    result, outcome = engine.run_command(IMPORT, cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None and not outcome.recovered
    assert "outside the job" in (outcome.attempts[0].error or "")
    assert os.environ["PYTHONPATH"] == ""
