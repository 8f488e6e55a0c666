"""`tether run`'s CI flags through the real CLI: --version, --json, --dry-run, --save-context,
GitHub Actions, --shell, --strict, and a first run that imports nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import write_action, write_rule

TETHER = [sys.executable, "-m", "tether"]
JOB = ["sh", "-c", "test -f marker || { echo 'needs marker here' >&2; exit 1; }; echo built"]


def tether(*args: str, cwd: Path, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TETHER, *args],
        cwd=cwd,
        env={**os.environ, "TETHER_HOME": str(home), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def marker_rule(home: Path) -> None:
    write_rule(
        home,
        "marker",
        "name: marker\nwhen:\n"
        "  - {fact: stderr, regex: 'needs (?P<what>\\w+) here'}\n"
        "then: [{action: touch_marker, params: {name: '{what}'}}]\n",
    )
    write_action(
        home,
        "touch",
        "from pathlib import Path\nfrom tether import action\n\n"
        "@action('touch_marker')\ndef touch_marker(name: str) -> None:\n"
        "    Path(name).touch()\n",
    )
    (home / "config.yaml").write_text("engine: {starter_rules: false}\n")


def test_version_prints_the_version(tmp_path: Path, home: Path) -> None:
    from tether import __version__

    proc = tether("--version", cwd=tmp_path, home=home)
    assert (proc.returncode, proc.stdout) == (0, f"tether {__version__}\n")


def test_json_is_the_last_line_of_stdout_and_tethers_lines_are_off(
    tmp_path: Path, home: Path
) -> None:
    marker_rule(home)
    proc = tether("run", "--json", "--", *JOB, cwd=tmp_path, home=home)
    assert proc.returncode == 0, proc.stderr
    *before, last = proc.stdout.splitlines()
    assert before == ["built"]  # the command's own stdout comes first
    result = json.loads(last)
    assert result["status"] == "recovered" and result["recovered"] is True
    assert (result["exit_code"], result["first_exit_code"], result["depth"]) == (0, 1, 1)
    assert [(r["rule"], r["outcome"]) for r in result["rules"]] == [("marker", "success")]
    assert "tether" not in proc.stderr


def test_json_of_a_failure_no_rule_knows(tmp_path: Path, home: Path) -> None:
    (home / "config.yaml").write_text("engine: {starter_rules: false}\n")
    proc = tether(
        "run", "--json", "--", "sh", "-c", "printf partial; exit 9", cwd=tmp_path, home=home
    )
    assert proc.returncode == 9
    first, last = proc.stdout.splitlines()
    assert first == "partial"  # the JSON still gets a line of its own
    assert json.loads(last)["status"] == "gave_up"


def test_dry_run_shows_the_rule_and_filled_params_and_applies_nothing(
    tmp_path: Path, home: Path
) -> None:
    marker_rule(home)
    proc = tether("run", "--dry-run", "--", *JOB, cwd=tmp_path, home=home)
    assert proc.returncode == 1
    assert "would fire: marker (what='marker')" in proc.stderr
    assert "touch_marker {'name': 'marker'}" in proc.stderr
    assert not (tmp_path / "marker").exists()


def test_saved_context_feeds_rules_test(tmp_path: Path, home: Path) -> None:
    marker_rule(home)
    saved = tmp_path / "failure.json"
    proc = tether(
        "run", "--dry-run", "--save-context", str(saved), "--", *JOB, cwd=tmp_path, home=home
    )
    assert proc.returncode == 1
    context = json.loads(saved.read_text())
    assert context["command"] == JOB[2] and context["exit_code"] == 1
    assert "needs marker here" in context["stderr"]
    tested = tether("rules", "test", str(saved), cwd=tmp_path, home=home)
    assert tested.returncode == 0, tested.stderr
    assert "marker" in tested.stdout


def test_github_actions_gets_a_summary_and_annotations(tmp_path: Path, home: Path) -> None:
    marker_rule(home)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    gh = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    fixed = tether("run", "--", *JOB, cwd=tmp_path, home=home, **gh)
    assert fixed.returncode == 0
    assert "::notice title=tether recovered::" in fixed.stderr and "by marker" in fixed.stderr
    failed = tether("run", "--", "sh", "-c", "exit 4", cwd=tmp_path, home=home, **gh)
    assert failed.returncode == 4
    assert "::error title=tether gave up::exit 4 failed with exit code 4" in failed.stderr
    text = summary.read_text()
    assert text.startswith("earlier step\n")  # appended, not replaced
    assert "### tether recovered" in text and "| 1 | `marker` | success |" in text
    assert "### tether gave up: `exit 4`" in text
    quiet = tether("run", "-q", "--", "true", cwd=tmp_path, home=home, **gh)
    assert quiet.stderr == "" and summary.read_text() == text  # a passing job reports nothing


def test_shell_runs_the_line_with_bash_and_refuses_two_commands(tmp_path: Path, home: Path) -> None:
    proc = tether(
        "run", "--shell", "echo ${BASH_VERSION:+bash} $((6 * 7))", cwd=tmp_path, home=home
    )
    assert (proc.returncode, proc.stdout) == (0, "bash 42\n")
    both = tether("run", "--shell", "true", "--", "true", cwd=tmp_path, home=home)
    assert both.returncode == 2 and "not both" in both.stderr
    none = tether("run", cwd=tmp_path, home=home)
    assert none.returncode == 2


def test_a_broken_config_warns_and_runs_unless_strict(tmp_path: Path, home: Path) -> None:
    (home / "config.yaml").write_text("engine:\n  max_retires: 2\n")
    job = ["sh", "-c", "touch ran; exit 3"]
    loose = tether("run", "--", *job, cwd=tmp_path, home=home)
    assert loose.returncode == 3 and (tmp_path / "ran").exists()
    assert "engine.max_retires" in loose.stderr
    (tmp_path / "ran").unlink()
    strict = tether("run", "--strict", "--", *job, cwd=tmp_path, home=home)
    assert strict.returncode == 4 and "engine.max_retires" in strict.stderr
    assert not (tmp_path / "ran").exists()  # checked before the job ran


PROBE = """
import sys
sys.argv = ["tether", "run", "--", "true"]
from tether.cli import main
try:
    main()
except SystemExit as exc:
    heavy = ("pydantic", "yaml", "rich", "asyncio", "re2", "tether.engine", "tether.rules")
    print(exc.code, sorted(m for m in sys.modules if m.split(".")[0] in heavy or m in heavy))
"""


def test_a_passing_first_run_imports_no_engine_rules_yaml_or_pydantic(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert proc.stdout.strip() == "0 []"
