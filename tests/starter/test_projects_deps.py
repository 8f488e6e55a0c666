"""npm-missing-* and python-venv-missing-module beyond the corpus: rollback, refusals, evidence."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers import run
from tests.starter.corpus_projects import npm_project, sh, venv_project, wheel, write
from tests.starter.support import captures, need, real_context
from tether import Tether


@pytest.fixture(autouse=True)
def _quiet_npm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("npm_config_update_notifier", "false")


def site_packages(work: Path) -> set[str]:
    (site,) = (work / ".venv" / "lib").glob("python*/site-packages")
    return set(os.listdir(site))


# -- npm --------------------------------------------------------------------------------------


def test_npm_rules_capture_the_package_and_the_binary(work: Path, engine: Tether) -> None:
    need("npm")
    npm_project(work)
    write(work / "index.js", 'require("left-pad/lib/x.js");\n')
    cjs = real_context(["node", "index.js"], work)
    assert captures(engine, "npm-missing-module", cjs) == {"module": "left-pad/lib/x.js"}
    write(work / "index.mjs", 'import pad from "@scope/pad/x.js";\n')
    esm = real_context(["node", "index.mjs"], work)
    assert captures(engine, "npm-missing-module", esm) == {"module": "@scope/pad"}
    binary = real_context(["npm", "run", "lint"], work)
    assert captures(engine, "npm-missing-binary", binary) == {"binary": "fakelint"}


def test_npm_install_is_rolled_back_when_it_did_not_fix_the_error(
    work: Path, engine: Tether
) -> None:
    """left-pad installs, but the script asks for a file the package does not have."""
    need("npm")
    npm_project(work)
    write(work / "index.js", 'require("left-pad/missing-file");\n')
    result, outcome = engine.run_command(["node", "index.js"], cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None and not outcome.recovered
    assert outcome.attempts[0].rule == "npm-missing-module"
    assert outcome.attempts[0].outcome != "action_error"
    assert not (work / "node_modules").exists()
    assert not (work / "package-lock.json").exists()


def test_a_package_json_symlinked_out_of_the_job_is_refused(
    work: Path, tmp_path: Path, engine: Tether
) -> None:
    need("npm")
    outside = tmp_path / "elsewhere"
    npm_project(outside)
    npm_project(work)
    (work / "package.json").unlink()
    (work / "package.json").symlink_to(outside / "package.json")
    write(work / "index.js", 'require("left-pad");\n')
    result, outcome = engine.run_command(["node", "index.js"], cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None and [a.outcome for a in outcome.attempts] == ["action_error"]
    assert "outside the job" in (outcome.attempts[0].error or "")
    assert not (work / "node_modules").exists() and not (outside / "node_modules").exists()


def test_the_lockfile_bin_map_names_the_package_of_a_binary(work: Path, engine: Tether) -> None:
    """``lint-cli`` is provided by ``fakelint``: only the lockfile says so."""
    need("npm")
    npm_project(work)
    vendored = work / "vendor" / "fakelint" / "package.json"
    vendored.write_text(vendored.read_text().replace('"fakelint": "bin', '"lint-cli": "bin'))
    manifest = json.loads((work / "package.json").read_text())
    manifest["scripts"]["lint"] = "lint-cli --all"
    (work / "package.json").write_text(json.dumps(manifest))
    sh(["npm", "install", "--no-audit", "--no-fund", "--package-lock-only"], work)
    lock = json.loads((work / "package-lock.json").read_text())
    assert lock["packages"]["vendor/fakelint"]["bin"] == {"lint-cli": "bin/lint.js"}
    result, outcome = engine.run_command(["npm", "run", "lint"], cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert "lint ok" in result.stdout
    assert outcome is not None and outcome.recovered
    assert outcome.attempts[0].rule == "npm-missing-binary"
    assert (work / "package-lock.json").exists()  # npm ci keeps the project's own lockfile


# -- the project's venv -----------------------------------------------------------------------


def test_pip_install_is_rolled_back_when_the_module_is_still_missing(
    work: Path, engine: Tether
) -> None:
    """The declared distribution installs, but provides another module: same error, undone."""
    python = venv_project(work)
    for stale in (work / "vendor").iterdir():
        stale.unlink()
    wheel(work / "vendor", "demo-dep", "not_demo_dep")
    before = site_packages(work)
    result, outcome = engine.run_command([python, "app.py"], cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None and not outcome.recovered
    attempt = next(a for a in outcome.attempts if a.rule == "python-venv-missing-module")
    assert attempt.outcome != "action_error"
    assert site_packages(work) == before


def test_an_activated_venv_on_path_counts_as_the_project_interpreter(
    work: Path, engine: Tether, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv_project(work)
    monkeypatch.setenv("PATH", f"{work / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result, outcome = engine.run_command(["python", "app.py"], cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "7\n"
    assert outcome is not None and outcome.recovered


def test_an_installed_distribution_is_not_installed_again(work: Path, engine: Tether) -> None:
    """demo-dep is in the venv, but provides another module: installing again would not help."""
    python = venv_project(work)
    for stale in (work / "vendor").iterdir():
        stale.unlink()
    wheel(work / "vendor", "demo-dep", "not_demo_dep")
    (built,) = (work / "vendor").iterdir()
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-index", str(built)]
    assert run(pip, work).returncode == 0
    before = site_packages(work)
    result, outcome = engine.run_command([python, "app.py"], cwd=work, stream=False)
    assert result.exit_code == 1
    assert outcome is not None
    venv_attempt = next(a for a in outcome.attempts if a.rule == "python-venv-missing-module")
    assert "demo-dep is installed" in (venv_attempt.error or "")
    assert site_packages(work) == before
