"""The `tether` command, run as a real process on real failing commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import write_rule

TETHER = [sys.executable, "-m", "tether"]


def tether(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TETHER_HOME": str(home)}
    return subprocess.run(
        [*TETHER, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def copy_demo(tmp_path: Path) -> Path:
    src = Path(__file__).parents[2] / "examples" / "broken-build"
    work = tmp_path / "job"
    work.mkdir()
    for name in ("build.sh", "hello.c", "config.ini.example"):
        (work / name).write_bytes((src / name).read_bytes())
    (work / "build.sh").chmod(0o644)
    return work


def test_run_recovers_the_example_build_through_three_levels(tmp_path: Path, home: Path) -> None:
    work = copy_demo(tmp_path)
    proc = tether("run", "--", "./build.sh", cwd=work, home=home)
    assert proc.returncode == 0, proc.stderr
    assert "hello from tether demo: the build recovered" in proc.stdout
    for rule in ("script-not-executable", "config-from-template", "missing-output-directory-ld"):
        assert f"trying rule {rule}" in proc.stderr
    assert "tether ✓ recovered" in proc.stderr
    lines = [json.loads(x) for x in (home / "observations.jsonl").read_text().splitlines()]
    assert [(x["rule"], x["outcome"], x["depth"]) for x in lines] == [
        ("script-not-executable", "progress", 1),
        ("config-from-template", "progress", 2),
        ("missing-output-directory-ld", "success", 3),
    ]
    stats = tether("stats", cwd=work, home=home)
    assert "script-not-executable" in stats.stdout and "100%" in stats.stdout
    again = tether("run", "--", "./build.sh", cwd=work, home=home)
    assert again.returncode == 0 and "trying rule" not in again.stderr


def test_unrecoverable_exit_code_passes_through_unchanged(tmp_path: Path, home: Path) -> None:
    proc = tether(
        "run",
        "--",
        sys.executable,
        "-c",
        "import sys; print('bad thing'); sys.exit(37)",
        cwd=tmp_path,
        home=home,
    )
    assert proc.returncode == 37
    assert "bad thing" in proc.stdout
    assert "gave up: no rule matches this failure" in proc.stderr


def test_missing_command_is_127_and_quiet_prints_nothing_of_ours(
    tmp_path: Path, home: Path
) -> None:
    proc = tether("run", "-q", "--", "no-such-command-xyz", cwd=tmp_path, home=home)
    assert proc.returncode == 127
    assert "no-such-command-xyz: command not found" in proc.stderr
    assert "tether ▸" not in proc.stderr and "gave up" not in proc.stderr


def test_context_pairs_and_profile_select_rules(tmp_path: Path, home: Path) -> None:
    write_rule(
        home,
        "by-env",
        "name: by-env\nwhen:\n  - {fact: env, equals: prod}\n"
        "  - {fact: stderr, contains: 'needs marker'}\n"
        "then: [{action: touch_marker, params: {name: 'marker-{env}'}}]\n",
    )
    (home / "actions").mkdir()
    (home / "actions" / "touch.py").write_text(
        "from pathlib import Path\nfrom tether import action\n\n"
        "@action('touch_marker')\ndef touch_marker(name: str) -> None:\n    Path(name).touch()\n"
    )
    (home / "config.yaml").write_text(
        "engine: {starter_rules: false}\nprofiles:\n  ci: {rules: [by-env], max_retries: 1}\n"
    )
    job = [
        sys.executable,
        "-c",
        "import os,sys; os.path.exists('marker-prod') or sys.exit('needs marker')",
    ]
    assert tether("run", "--", *job, cwd=tmp_path, home=home).returncode == 1
    proc = tether("run", "-p", "ci", "-C", "env=prod", "--", *job, cwd=tmp_path, home=home)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "marker-prod").exists()
    bad = tether("run", "-p", "nope", "--", "true", cwd=tmp_path, home=home)
    assert bad.returncode == 4 and "no profile named 'nope' (profiles: ci)" in bad.stderr


def test_bad_config_warns_and_keeps_the_job_green_unless_strict(tmp_path: Path, home: Path) -> None:
    (home / "config.yaml").write_text("engine:\n  max_retires: 2\n")
    passing = tether("run", "--", "true", cwd=tmp_path, home=home)
    assert passing.returncode == 0, passing.stderr
    work = copy_demo(tmp_path)  # a failing job: recovered with the default settings, warned
    proc = tether("run", "--", "./build.sh", cwd=work, home=home)
    assert proc.returncode == 0, proc.stderr
    assert (
        "config.yaml: field 'engine.max_retires': unknown setting; using the default" in proc.stderr
    )
    strict = tether("run", "--strict", "--", "true", cwd=tmp_path, home=home)
    assert strict.returncode == 4
    assert "config.yaml" in strict.stderr and "engine.max_retires" in strict.stderr
    lint = tether("rules", "lint", cwd=tmp_path, home=home)
    assert lint.returncode == 1 and "engine.max_retires" in lint.stderr
    listing = tether("rules", "list", cwd=tmp_path, home=home)
    assert listing.returncode == 0 and "engine.max_retires" in listing.stderr


def test_rules_lint_test_show_list(tmp_path: Path, home: Path) -> None:
    write_rule(
        home,
        "ok",
        "name: ok\nwhen:\n  - fact: stderr\n    regex: 'E(?P<n>\\d+)'\n"
        "    examples: ['E42 failed', 'no digits here']\nthen: [{action: missing_action, params: {x: '{y}'}}]\n",
    )
    write_rule(
        home, "bad", "name: bad\nwhen: [{fact: stderr, regex: '(?<=x)y'}]\nthen: [{action: a}]\n"
    )
    lint = tether("rules", "lint", cwd=tmp_path, home=home)
    assert lint.returncode == 1
    assert "bad.rule.yaml: rule 'bad': field 'when[0].regex'" in lint.stderr
    assert "field 'when[0].examples[1]': example does not satisfy" in lint.stderr
    assert "no action named 'missing_action'" in lint.stderr
    assert "placeholder {y}" in lint.stderr

    proc = subprocess.run(
        ["sh", "-c", "./nope.sh"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    (tmp_path / "nope.sh").write_text("#!/bin/sh\n")
    proc = subprocess.run(
        ["sh", "-c", "./nope.sh"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    ctx = tmp_path / "ctx.json"
    ctx.write_text(json.dumps({"stderr": proc.stderr, "exit_code": proc.returncode}))
    test = tether("rules", "test", str(ctx), cwd=tmp_path, home=home)
    assert test.returncode == 0, test.stderr
    assert "script-not-executable fires (path='./nope.sh')" in test.stdout
    show = tether("rules", "show", "script-not-executable", cwd=tmp_path, home=home)
    assert "make_executable" in show.stdout and "starter" in show.stdout
    listing = tether("rules", "list", cwd=tmp_path, home=home)
    assert "git-index-lock" in listing.stdout and "starter pack" in listing.stdout


def test_init_creates_a_home_that_lints_clean(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    assert tether("init", cwd=tmp_path, home=home).returncode == 0
    assert (home / "rules" / "example-missing-tool.rule.yaml").exists()
    lint = tether("rules", "lint", cwd=tmp_path, home=home)
    assert lint.returncode == 0, lint.stderr
    proc = tether("run", "--", "frobnicate-xyz", cwd=tmp_path, home=home)
    assert proc.returncode == 127
    assert (
        "example-missing-tool" in proc.stderr and "frobnicate-xyz is not installed" in proc.stderr
    )


def test_unwritable_home_still_runs_the_job_and_keeps_its_exit_code(tmp_path: Path) -> None:
    home = tmp_path / "home-is-a-file"
    home.write_text("not a directory")
    proc = tether(
        "run", "--", sys.executable, "-c", "import sys; sys.exit(3)", cwd=tmp_path, home=home
    )
    assert proc.returncode == 3
    assert home.read_text() == "not a directory"


# -- exploration ---------------------------------------------------------------------------------

_MODEL_FILE = """\
from tests.explore.jobs import CODE, RULE
from tether.testing import ScriptedModel, call, reply

MODEL = ScriptedModel([
    reply(tool_calls=[call("read_file", path="job.py")], usage=(400, 30)),
    reply(tool_calls=[call("submit_rule", rule_yaml=RULE.replace("(?P<path>", "(?P<p>"),
                           action_code=CODE)], usage=(600, 180)),
    reply(tool_calls=[call("submit_rule", rule_yaml=RULE, action_code=CODE)], usage=(600, 180)),
])
"""


def scripted_home(home: Path, extra: str = "") -> None:
    """A home whose model is the scripted one in model.py (the documented test seam)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "model.py").write_text(
        "import sys\nsys.path.insert(0, "
        + repr(str(Path(__file__).parents[2]))
        + ")\n"
        + _MODEL_FILE
    )
    (home / "config.yaml").write_text('engine:\n  llm: "scripted:model.py"\n' + extra)


def test_run_explore_shows_the_explorer_live_promotes_and_then_resolves_without_it(
    tmp_path: Path, home: Path
) -> None:
    from tests.explore.jobs import config_job

    scripted_home(home)
    argv = config_job(tmp_path)
    proc = tether(
        "run", "--explore", "--hint", "a fresh checkout", "--", *argv, cwd=tmp_path, home=home
    )
    assert proc.returncode == 0, proc.stderr
    assert "exploring with scripted/scripted (budget: 100,000 tokens, 30 tool calls)" in proc.stderr
    assert "⚙ read_file" in proc.stderr and "calls 1/30" in proc.stderr
    assert "params check failed" in proc.stderr  # the first submission, refused and fixed
    assert "exploration submitted" in proc.stderr and "1 submission(s) rejected" in proc.stderr
    assert "verified; promoted rule missing-config-file" in proc.stderr
    (tmp_path / "conf" / "app.ini").unlink()
    again = tether("run", "--explore", "--", *argv, cwd=tmp_path, home=home)
    assert again.returncode == 0
    assert "trying rule missing-config-file" in again.stderr and "exploring" not in again.stderr


def test_run_explore_quiet_prints_nothing_of_ours(tmp_path: Path, home: Path) -> None:
    from tests.explore.jobs import config_job

    scripted_home(home)
    proc = tether("run", "-q", "--explore", "--", *config_job(tmp_path), cwd=tmp_path, home=home)
    assert proc.returncode == 0  # the job's own stderr passes through, nothing of tether's
    assert (
        proc.stderr == "fatal: cannot open config file 'conf/app.ini': No such file or directory\n"
    )


def test_run_explore_without_a_model_says_why_and_keeps_the_exit_code(
    tmp_path: Path, home: Path
) -> None:
    from tests.explore.jobs import config_job

    proc = tether("run", "--explore", "--", *config_job(tmp_path), cwd=tmp_path, home=home)
    assert proc.returncode == 1
    assert proc.stderr.count("not exploring: no model is configured") == 1


def test_a_profile_can_switch_exploration_on(tmp_path: Path, home: Path) -> None:
    from tests.explore.jobs import config_job

    scripted_home(home, "profiles:\n  ci: {explore: true}\n")
    proc = tether("run", "-p", "ci", "--", *config_job(tmp_path), cwd=tmp_path, home=home)
    assert proc.returncode == 0 and "exploring with" in proc.stderr


def test_explore_a_context_file_prints_the_rule_and_saves_it_on_request(
    tmp_path: Path, home: Path
) -> None:
    from tests.explore.jobs import failing_context

    scripted_home(home)
    context = tmp_path / "failure.json"
    context.write_text(json.dumps(failing_context(tmp_path / "work")))
    proc = tether("explore", str(context), cwd=tmp_path, home=home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("name: missing-config-file\n")
    assert '@action("create_config_file")' in proc.stdout
    assert "valid but unverified" in proc.stderr
    assert not (home / "rules").exists()
    saved = tether("explore", "--save", str(context), cwd=tmp_path, home=home)
    assert saved.returncode == 0
    assert (home / "rules" / "missing-config-file.rule.yaml").exists()
    assert (home / "actions" / "missing_config_file.py").exists()


def test_explore_reports_no_rule_and_bad_files(tmp_path: Path, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "model.py").write_text(
        "from tether.testing import ScriptedModel, call, reply\n"
        "MODEL = ScriptedModel([reply(tool_calls=[call('give_up', reason='not fixable here')])])\n"
    )
    (home / "config.yaml").write_text('engine:\n  llm: "scripted:model.py"\n')
    context = tmp_path / "failure.json"
    context.write_text(json.dumps({"stderr": "boom", "exit_code": 2}))
    proc = tether("explore", str(context), cwd=tmp_path, home=home)
    assert proc.returncode == 1 and "no rule: not fixable here" in proc.stderr
    context.write_text("[1, 2]")
    bad = tether("explore", str(context), cwd=tmp_path, home=home)
    assert bad.returncode == 2 and "expected a JSON object" in bad.stderr
