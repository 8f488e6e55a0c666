"""`tether rules lint`: params against the action's signature, shadowed starter actions,
greedy captures; each finding names its file, rule and field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import write_action, write_rule
from tether.rules.lint import greedy_captures, lint
from tether.rules.load import load_text

TETHER = [sys.executable, "-m", "tether"]

ACTIONS = """\
from tether import action


@action("write_marker")
def write_marker(path: str, count: int, mode: str = "w") -> None:
    '''Write count lines to path.'''


@action("make_executable")
def make_executable(path: str) -> None:
    '''The home's own version of a starter action.'''
"""


def real_error(tmp_path: Path) -> str:
    """stderr of a real failing command: 'E42: cannot write out/report.txt'."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; sys.exit('E42: cannot write out/report.txt')"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    return proc.stderr


def rule(name: str, regex: str, params: dict[str, object], example: str | None = None) -> str:
    fact = {"fact": "stderr", "regex": regex}
    if example is not None:
        fact["examples"] = [example]  # type: ignore[assignment]
    return json.dumps(
        {"name": name, "when": [fact], "then": [{"action": "write_marker", "params": params}]}
    )


def lint_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TETHER_HOME": str(home)}
    return subprocess.run(
        [*TETHER, "rules", "lint", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def linted(tmp_path: Path, home: Path) -> dict[str, list[dict[str, object]]]:
    error = real_error(tmp_path)
    regex = r"E(?P<n>\d+): cannot write (?P<file>\S+)"
    write_action(home, "markers", ACTIONS)
    rules = {
        "fits": rule("fits", regex, {"path": "{file}", "count": "{n}"}, error),
        "unknown": rule("unknown", regex, {"path": "{file}", "count": 1, "colour": "red"}),
        "missing": rule("missing", regex, {"path": "{file}"}),
        "ill-typed": rule("ill-typed", regex, {"path": "{file}", "count": "many"}),
        "greedy": rule("greedy", r"cannot write (?P<file>.*)", {"path": "{file}", "count": 2}),
        "no-example": rule(
            "no-example", r"code E(?P<k>\d+) at (?P<file>\S+)", {"path": "{file}", "count": "{k}"}
        ),
    }
    for name, text in rules.items():
        write_rule(home, name, text)
    proc = lint_cli(home, "--json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    by_rule: dict[str, list[dict[str, object]]] = {}
    for finding in data["errors"] + data["warnings"]:
        by_rule.setdefault(str(finding["rule"]), []).append(finding)
    return by_rule


def test_params_are_checked_against_the_signature_as_a_run_fills_them(
    linted: dict[str, list[dict[str, object]]], home: Path
) -> None:
    assert "fits" not in linted and "no-example" not in linted
    (unknown,) = linted["unknown"]
    assert unknown["severity"] == "error" and unknown["field"] == "then[0].params.colour"
    assert "unknown param (the action accepts: path, count, mode)" in str(unknown["message"])
    assert unknown["file"] == str(home / "rules" / "unknown.rule.yaml")
    (missing,) = linted["missing"]
    assert missing["field"] == "then[0].params.count" and "missing" in str(missing["message"])
    (ill,) = linted["ill-typed"]
    assert ill["field"] == "then[0].params.count" and "ill-typed" in str(ill["message"])


def test_a_greedy_capture_under_dot_all_is_a_warning(
    linted: dict[str, list[dict[str, object]]],
) -> None:
    (greedy,) = linted["greedy"]
    assert greedy["severity"] == "warning" and greedy["field"] == "when[0].regex"
    assert "capture {file}" in str(greedy["message"]) and "end of the text" in str(
        greedy["message"]
    )


def test_a_home_action_shadowing_a_starter_action_is_a_warning(
    linted: dict[str, list[dict[str, object]]], home: Path
) -> None:
    (shadow,) = linted["None"]
    assert shadow["severity"] == "warning" and shadow["field"] == "make_executable"
    assert shadow["file"] == str(home / "actions" / "markers.py")
    assert "script-not-executable" in str(shadow["message"])  # the starter rule now runs it


def test_lint_text_output_names_file_rule_and_field(tmp_path: Path, home: Path) -> None:
    write_action(home, "markers", ACTIONS)
    write_rule(home, "unknown", rule("unknown", r"E(?P<n>\d+)", {"path": "x", "count": 1, "z": 2}))
    proc = lint_cli(home)
    assert proc.returncode == 1
    assert (
        f"error: {home / 'rules' / 'unknown.rule.yaml'}: rule 'unknown', field "
        "'then[0].params.z': unknown param"
    ) in proc.stderr
    assert f"warning: {home / 'actions' / 'markers.py'}: action 'make_executable'" in proc.stderr
    assert "error(s)" in proc.stdout


def test_a_clean_home_with_a_valid_example_exits_zero(tmp_path: Path, home: Path) -> None:
    write_action(home, "other", ACTIONS.split('@action("make_executable")')[0])
    regex = r"E(?P<n>\d+): cannot write (?P<file>\S+)"
    write_rule(
        home, "fits", rule("fits", regex, {"path": "{file}", "count": "{n}"}, real_error(tmp_path))
    )
    proc = lint_cli(home, "--json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["errors"] == []


def test_greedy_captures_reach() -> None:
    assert greedy_captures(r"error: (?P<msg>.*)") == [("msg", "end")]
    assert greedy_captures(r"error: (?P<msg>.+)$") == [("msg", "end")]  # $ bounds nothing
    assert greedy_captures(r"open '(?P<p>.*)'") == [("p", "last")]
    assert greedy_captures(r"open '(?P<p>[^']*)") == [("p", "end")]
    for bounded in (
        r"open '(?P<p>[^']*)'",
        r"(?P<p>[^\n]*)",
        r"(?P<p>\S+)",
        r"(?P<p>.*?)'",
        r"(?P<p>(?-s:.*))",
        r"(.*)",
    ):
        assert greedy_captures(bounded) == [], bounded


def test_lint_with_names_only_still_checks_action_names() -> None:
    (loaded,) = load_text(rule("r", r"cannot write (?P<f>\S+)", {"path": "{f}", "count": 1}))
    problems = lint([loaded], ["other_action"])
    assert [(p.field, p.severity) for p in problems] == [("then[0].action", "error")]
    assert "no action named 'write_marker'" in str(problems[0])
