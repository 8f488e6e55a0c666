"""Shell lines: the context names the line as written, and fixes act where the failing step ran.

Every failure here comes from running the real shell and the real tool; the
starter rule for a ``cp`` into a missing directory is the fix under test.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from tether import Tether
from tether.recover.shell import CommandJob, shell_line
from tether.rules.match import match_context
from tether.rules.model import Rule

BASH = shutil.which("bash") or "bash"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    (path / "sub").mkdir(parents=True)
    (path / "sub" / "a.txt").write_text("a\n")
    return path


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["bash", "-c", "make -j4"], "make -j4"),
        (["/bin/sh", "-ec", "make"], "make"),
        (["bash", "-o", "pipefail", "-c", "a | b", "name", "arg"], "a | b"),
        (["zsh", "-c", "ls"], "ls"),
        (["bash", "script.sh"], None),
        (["make", "-c", "x"], None),
    ],
)
def test_shell_line_is_found_in_argv(argv: list[str], line: str | None) -> None:
    found = shell_line(argv)
    assert (found[1] if found else None) == line


def test_the_context_names_the_line_and_keeps_the_argv(work: Path, engine: Tether) -> None:
    job = CommandJob([BASH, "-c", "make -j4 nothing-to-make"], work)
    result = job.run()
    assert result.exit_code != 0
    context = job.context(result)
    assert context["command"] == "make -j4 nothing-to-make"
    assert context["argv"].endswith("-c 'make -j4 nothing-to-make'")
    assert context["cwd"] == str(work.resolve())
    rule = Rule.model_validate(
        {
            "name": "make-line",
            "when": [{"fact": "command", "regex": "^make"}],
            "then": [{"action": "noop"}],
        }
    )
    assert match_context(rule, context) is not None


@pytest.fixture
def engine(home: Path, sleeps: list[float]) -> Tether:
    return Tether(home=home, sleep=sleeps.append)


def test_cd_then_fail_is_fixed_in_the_subdirectory(work: Path, engine: Tether) -> None:
    line = "cd sub && cp a.txt dist/a.txt"
    result, outcome = engine.run_command([BASH, "-c", line], cwd=work, stream=False)
    assert result.exit_code == 0 and outcome is not None and outcome.recovered
    assert (work / "sub" / "dist" / "a.txt").read_text() == "a\n"
    assert not (work / "dist").exists()


def test_line_numbers_in_the_shells_messages_are_unchanged(work: Path, engine: Tether) -> None:
    plain = CommandJob([BASH, "-c", "./missing-script"], work)
    traced = CommandJob([BASH, "-c", "cd sub && ./missing-script"], work)
    assert "line 1: ./missing-script" in plain.context(plain.run())["stderr"]
    assert "line 1: ./missing-script" in traced.context(traced.run())["stderr"]


def test_make_C_is_fixed_in_the_directory_make_entered(work: Path, engine: Tether) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    (work / "sub" / "Makefile").write_text("all:\n\tcp a.txt dist/a.txt\n")
    result, _outcome = engine.run_command(["make", "-C", "sub"], cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert (work / "sub" / "dist" / "a.txt").exists() and not (work / "dist").exists()


@pytest.mark.parametrize(
    "line",
    [
        "(cd sub && cp a.txt dist/a.txt)",
        'x=$(cd sub; cp a.txt dist/a.txt 2>&1; exit 1) || { echo "$x" >&2; exit 1; }',
        "cd sub && trap 'echo bye' EXIT && cp a.txt dist/a.txt",
    ],
)
def test_an_unknown_directory_means_no_fix_anywhere(work: Path, engine: Tether, line: str) -> None:
    first = CommandJob([BASH, "-c", line], work)
    expected = first.run().exit_code
    result, outcome = engine.run_command([BASH, "-c", line], cwd=work, stream=False)
    assert result.exit_code == expected != 0
    assert outcome is not None and not outcome.recovered
    assert [a.outcome for a in outcome.attempts] == ["action_error"]
    assert "cannot tell where the failing step ran" in (outcome.attempts[0].error or "")
    assert not (work / "dist").exists() and not (work / "sub" / "dist").exists()


def test_shell_metacharacters_in_a_capture_are_never_run(work: Path, engine: Tether) -> None:
    line = "cd sub && cp a.txt 'out$(touch pwned); rm -rf ..'/a.txt"
    result, _ = engine.run_command([BASH, "-c", line], cwd=work, stream=False)
    assert result.exit_code == 0
    assert (work / "sub" / "out$(touch pwned); rm -rf ..").is_dir()
    assert not list(work.rglob("pwned")) and (work / "sub" / "a.txt").exists()


def test_a_capture_outside_the_job_changes_nothing(work: Path, engine: Tether) -> None:
    line = "cd sub && cp a.txt ../../outside-dir/a.txt"
    result, outcome = engine.run_command([BASH, "-c", line], cwd=work, stream=False)
    assert result.exit_code == 1 and outcome is not None and not outcome.recovered
    assert not (work.parent / "outside-dir").exists()


def _home_rule(home: Path, name: str, regex: str, steps: list[dict[str, object]]) -> None:
    (home / "rules").mkdir(parents=True, exist_ok=True)
    rule = {"name": name, "when": [{"fact": "stderr", "regex": regex}], "then": steps}
    (home / "rules" / f"{name}.rule.yaml").write_text(json.dumps(rule))


ACTIONS = textwrap.dedent(
    """
    from tether import action
    from tether.actions.fix import FixContext

    @action("scatter")
    def scatter(ctx: FixContext) -> str:
        ctx.create_dir("junk/deeper")
        ctx.write_file("junk/deeper/note.txt", "left behind?")
        ctx.write_file("sub.txt", "changed", overwrite=True)
        return "scattered"

    @action("explode")
    def explode(ctx: FixContext) -> None:
        ctx.write_file("half.txt", "half a fix")
        raise RuntimeError("the second half failed")
    """
)


def test_a_fix_that_did_not_fix_leaves_nothing_behind(work: Path, home: Path) -> None:
    (home / "actions").mkdir(parents=True)
    (home / "actions" / "scatter.py").write_text(ACTIONS)
    _home_rule(home, "does-not-help", "cannot access 'nothing-here'", [{"action": "scatter"}])
    (work / "sub.txt").write_text("original")
    engine = Tether(home=home, sleep=lambda s: None)
    before = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    result, outcome = engine.run_command(["ls", "nothing-here"], cwd=work, stream=False)
    assert result.exit_code == 2 and outcome is not None and not outcome.recovered
    assert sorted(str(p.relative_to(work)) for p in work.rglob("*")) == before
    assert (work / "sub.txt").read_text() == "original"
    records = [json.loads(line) for line in (home / "observations.jsonl").read_text().splitlines()]
    mine = [r for r in records if r.get("rule") == "does-not-help"]
    assert mine and any("undid: created directory junk" in u for u in mine[0]["rolled_back"])


def test_a_fix_that_fails_halfway_is_rolled_back_at_once(work: Path, home: Path) -> None:
    (home / "actions").mkdir(parents=True)
    (home / "actions" / "scatter.py").write_text(ACTIONS)
    steps = [{"action": "scatter"}, {"action": "explode"}]
    _home_rule(home, "half", "cannot access 'nothing-here'", steps)
    (work / "sub.txt").write_text("original")
    engine = Tether(home=home, sleep=lambda s: None)
    _result, outcome = engine.run_command(["ls", "nothing-here"], cwd=work, stream=False)
    assert outcome is not None and outcome.attempts[0].outcome == "action_error"
    assert not (work / "junk").exists() and not (work / "half.txt").exists()
    assert (work / "sub.txt").read_text() == "original"


def test_no_rule_fired_keeps_the_context_in_the_observations(work: Path, home: Path) -> None:
    engine = Tether(home=home, sleep=lambda s: None)
    result, outcome = engine.run_command(
        [BASH, "-c", "echo unmatched-failure-text >&2; exit 3"], cwd=work, stream=False
    )
    assert result.exit_code == 3 and outcome is not None and not outcome.attempts
    records = [json.loads(line) for line in (home / "observations.jsonl").read_text().splitlines()]
    assert records[-1]["outcome"] == "unmatched"
    assert "unmatched-failure-text" in records[-1]["context"]["stderr"]
    assert records[-1]["context"]["exit_code"] == 3


def test_ctrl_c_during_the_re_run_rolls_the_unverified_fix_back(tmp_path: Path) -> None:
    from tether.actions.fix import FixContext
    from tether.actions.run import RuleRun
    from tether.recover.loop import ApplyRule, JobResult, JobServices, RunJob, run_sync

    def recovery():  # type: ignore[no-untyped-def]
        run = yield ApplyRule(None, {})  # type: ignore[arg-type]
        assert run.changes
        yield RunJob()
        raise AssertionError("the interrupt must end the drive")

    def apply(request: ApplyRule) -> RuleRun:
        fix = FixContext(tmp_path)
        fix.create_dir("made-by-the-fix")
        return RuleRun("r", fix=fix)

    def job() -> JobResult:
        assert (tmp_path / "made-by-the-fix").is_dir()
        raise KeyboardInterrupt

    class Engine:  # only what this drive asks the engine for
        def apply_rule(self, request: ApplyRule) -> RuleRun:
            return apply(request)

    services = JobServices(Engine(), job, lambda s: None)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        run_sync(recovery(), services)
    assert not (tmp_path / "made-by-the-fix").exists()
