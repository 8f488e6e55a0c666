"""`tether rules test` and `rules list`: filled params, the score explained, regexes as written,
exit 1 when nothing fires, and stable --json keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import write_action, write_rule

TETHER = [sys.executable, "-m", "tether"]

RULE = """\
name: copy-missing-config
description: a config file is missing and its template sits beside it
when:
  - fact: exit_code
    equals: "1"
  - fact: stderr
    regex: "cannot open config '(?P<path>[^'\\\\n]+)'"
then:
  - action: note_config
    params:
      source: "{path}.example"
      target: "{path}"
      retries: "{exit_code}"
"""

ACTION = """\
from tether import action


@action("note_config")
def note_config(source: str, target: str, retries: int) -> None:
    '''Would copy source to target.'''
"""


def tether(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TETHER_HOME": str(home)}
    return subprocess.run(
        [*TETHER, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def failing_context(tmp_path: Path, code: str) -> Path:
    """Run a real failing Python job and save its failure as a context file."""
    argv = [sys.executable, "-c", code]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    path = tmp_path / "ctx.json"
    path.write_text(
        json.dumps(
            {
                "command": " ".join(argv),
                "stdout": proc.stdout,
                "stderr": proc.stderr,
                "exit_code": proc.returncode,
            }
        )
    )
    return path


MISSING_CONFIG = "import sys; sys.exit(\"fatal: cannot open config 'conf/app.ini'\")"


def test_rules_test_shows_filled_params_facts_and_the_regex_as_written(
    tmp_path: Path, home: Path
) -> None:
    write_rule(home, "copy-missing-config", RULE)
    write_action(home, "note", ACTION)
    ctx = failing_context(tmp_path, MISSING_CONFIG)
    proc = tether("rules", "test", str(ctx), home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "1. copy-missing-config fires (path='conf/app.ini'): all 2 of its facts hold" in out
    assert "✓ exit_code equals '1'" in out
    assert "✓ stderr regex cannot open config '(?P<path>[^'\\n]+)'  → path='conf/app.ini'" in out
    assert (
        'then note_config {"source": "conf/app.ini.example", "target": "conf/app.ini", '
        '"retries": 1}'
    ) in out
    assert "a run would refuse it" not in out


def test_rules_test_json_has_stable_keys(tmp_path: Path, home: Path) -> None:
    write_rule(home, "copy-missing-config", RULE)
    write_action(home, "note", ACTION)
    ctx = failing_context(tmp_path, MISSING_CONFIG)
    proc = tether("rules", "test", "--json", "--near", "2", str(ctx), home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"home", "context_file", "fires", "fired", "near_misses"}
    assert data["fires"] is True and data["home"] == str(home)
    (fired,) = [f for f in data["fired"] if f["rule"] == "copy-missing-config"]
    assert set(fired) == {"rank", "rule", "file", "captures", "facts", "steps"}
    assert fired["captures"] == {"path": "conf/app.ini"}
    assert fired["facts"][1] == {
        "fact": "stderr",
        "matcher": "regex",
        "value": "cannot open config '(?P<path>[^'\\n]+)'",
        "holds": True,
        "captures": {"path": "conf/app.ini"},
    }
    assert fired["steps"] == [
        {
            "action": "note_config",
            "error": None,
            "params": {"source": "conf/app.ini.example", "target": "conf/app.ini", "retries": 1},
        }
    ]
    assert len(data["near_misses"]) <= 2
    for miss in data["near_misses"]:
        assert set(miss) == {"rule", "file", "similarity", "facts", "failed"}
        assert miss["failed"] and all(not miss["facts"][i]["holds"] for i in miss["failed"])


def test_rules_test_exits_1_when_nothing_fires_and_says_which_fact_failed(
    tmp_path: Path, home: Path
) -> None:
    write_rule(home, "copy-missing-config", RULE)
    write_action(home, "note", ACTION)
    ctx = failing_context(tmp_path, "import sys; sys.exit(\"fatal: cannot read config 'a.ini'\")")
    proc = tether("rules", "test", str(ctx), home=home, cwd=tmp_path)
    assert proc.returncode == 1
    assert "no rule fires for this context" in proc.stdout
    assert "near miss: copy-missing-config" in proc.stdout
    assert "1 of 2 facts fail" in proc.stdout
    assert "✗ stderr regex cannot open config '(?P<path>[^'\\n]+)'" in proc.stdout
    as_json = tether("rules", "test", "--json", str(ctx), home=home, cwd=tmp_path)
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["fires"] is False


def test_rules_test_says_when_a_run_would_refuse_the_params(tmp_path: Path, home: Path) -> None:
    write_rule(home, "copy-missing-config", RULE.replace('retries: "{exit_code}"', "retries: x"))
    write_action(home, "note", ACTION)
    ctx = failing_context(tmp_path, MISSING_CONFIG)
    proc = tether("rules", "test", str(ctx), home=home, cwd=tmp_path)
    assert proc.returncode == 0  # it fires; the step is what a run would refuse
    assert (
        "✗ a run would refuse it: rule 'copy-missing-config', step 1, action 'note_config', "
        "param 'retries': ill-typed param" in proc.stdout
    )


def test_rules_test_reads_an_observation_line(tmp_path: Path, home: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    ran = tether("run", "--", sys.executable, "-c", MISSING_CONFIG, home=home, cwd=job)
    assert ran.returncode == 1
    lines = (home / "observations.jsonl").read_text().splitlines()
    (tmp_path / "obs.json").write_text(lines[-1])
    write_rule(home, "copy-missing-config", RULE)
    write_action(home, "note", ACTION)
    proc = tether("rules", "test", str(tmp_path / "obs.json"), home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "copy-missing-config fires (path='conf/app.ini')" in proc.stdout


def test_rules_list_json_has_stable_keys(tmp_path: Path, home: Path) -> None:
    write_rule(home, "copy-missing-config", RULE)
    proc = tether("rules", "list", "--json", home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["home"] == str(home)
    by_name = {r["name"]: r for r in data["rules"]}
    mine = by_name["copy-missing-config"]
    assert mine == {
        "name": "copy-missing-config",
        "collection": "default",
        "tags": [],
        "description": "a config file is missing and its template sits beside it",
        "source": "home",
        "file": str(home / "rules" / "copy-missing-config.rule.yaml"),
        "actions": ["note_config"],
    }
    assert by_name["git-index-lock"]["source"] == "starter"


def test_help_shows_no_framework_metavars_for_options() -> None:
    for command in (
        ["stats"],
        ["init"],
        ["approvals"],
        ["approve"],
        ["deny"],
        ["rules", "list"],
        ["rules", "show"],
        ["rules", "lint"],
        ["rules", "test"],
    ):
        proc = subprocess.run(
            [*TETHER, *command, "--help"], capture_output=True, text=True, check=False, timeout=60
        )
        assert proc.returncode == 0, command
        options = proc.stdout.split("Options:")[1]
        for internal in ("<path>", "<int>", "<text>", "<str>", "<list", "PATH", "INTEGER"):
            assert internal not in options, (command, internal, proc.stdout)
    test_help = subprocess.run(
        [*TETHER, "rules", "test", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout
    assert "CONTEXT.json" in test_help and "--home DIR" in test_help and "--near N" in test_help
