"""script-not-executable, missing-output-directory-*, config-from-template*, stale-pidfile.

Each failure comes from the real program (bash, make, gcc, cp, touch, mkdir,
install, cat, python) run in tmp_path.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PYTHON
from tests.starter.support import captures, need, real_context, rule_names
from tether import Tether

SCRIPT = "#!/bin/sh\necho built\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def gave_up(outcome: object, rule: str) -> None:
    """The recovery tried ``rule``, whose action refused, and stopped."""
    from tether.recover.loop import Outcome

    assert isinstance(outcome, Outcome)
    assert not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [(rule, "action_error")]


# -- script-not-executable --------------------------------------------------------------------


@pytest.fixture
def script(work: Path) -> Path:
    path = work / "build.sh"
    path.write_text(SCRIPT)
    path.chmod(0o644)
    return path


def test_script_rule_resolves_for_bash(script: Path, work: Path, engine: Tether) -> None:
    context = real_context(["bash", "-c", "./build.sh"], work)
    assert context["exit_code"] == 126
    assert rule_names(engine, context) == ["script-not-executable"]
    assert captures(engine, "script-not-executable", context) == {"path": "./build.sh"}


def test_script_recovery_under_bash(script: Path, work: Path, engine: Tether) -> None:
    result, outcome = engine.run_command(["bash", "-c", "./build.sh"], cwd=work, stream=False)
    assert result.exit_code == 0 and result.stdout == "built\n"
    assert outcome is not None and outcome.recovered
    assert mode(script) == 0o755


def test_script_recovery_when_run_directly(script: Path, work: Path, engine: Tether) -> None:
    context = real_context(["./build.sh"], work)
    assert captures(engine, "script-not-executable", context) == {"path": "./build.sh"}
    result, outcome = engine.run_command(["./build.sh"], cwd=work, stream=False)
    assert result.exit_code == 0 and result.stdout == "built\n"
    assert outcome is not None and outcome.recovered
    assert mode(script) & stat.S_IXUSR


def test_script_recovery_under_make(work: Path, engine: Tether) -> None:
    need("make")
    (work / "Makefile").write_text("all:\n\t./gen.sh\n")
    gen = work / "gen.sh"
    gen.write_text("#!/bin/sh\necho generated\n")
    gen.chmod(0o600)
    context = real_context(["make", "-s"], work)
    assert captures(engine, "script-not-executable", context) == {"path": "./gen.sh"}
    result, outcome = engine.run_command(["make", "-s"], cwd=work, stream=False)
    assert result.exit_code == 0 and result.stdout == "generated\n"
    assert outcome is not None and outcome.recovered
    assert mode(gen) == 0o700  # only the owner could read it, so only the owner may run it


def test_program_recovery_for_an_elf_binary(work: Path, engine: Tether) -> None:
    program = work / "mytrue"
    shutil.copyfile(need("true"), program)
    program.chmod(0o640)
    result, outcome = engine.run_command(["./mytrue"], cwd=work, stream=False)
    assert result.exit_code == 0
    assert outcome is not None and outcome.recovered
    assert mode(program) == 0o750


def test_script_outside_the_working_directory_is_not_touched(
    tmp_path: Path, work: Path, engine: Tether
) -> None:
    outside = tmp_path / "tools" / "build.sh"
    outside.parent.mkdir()
    outside.write_text(SCRIPT)
    outside.chmod(0o644)
    argv = ["bash", "-c", "../tools/build.sh"]
    assert captures(engine, "script-not-executable", real_context(argv, work)) == {
        "path": "../tools/build.sh"
    }
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 126
    gave_up(outcome, "script-not-executable")
    assert "OutsideWorkspace" in (outcome.attempts[0].error or "")  # type: ignore[union-attr]
    assert mode(outside) == 0o644


def test_a_file_that_is_not_a_program_is_not_made_executable(work: Path, engine: Tether) -> None:
    notes = work / "notes.txt"
    notes.write_text("just text\n")
    notes.chmod(0o644)
    result, outcome = engine.run_command(["./notes.txt"], cwd=work, stream=False)
    assert result.exit_code == 126
    gave_up(outcome, "script-not-executable")
    assert mode(notes) == 0o644


def test_a_denial_with_the_execute_bit_set_is_left_alone(
    work: Path, script: Path, engine: Tether
) -> None:
    """As another user (nobody) the owner-only execute bit denies; chmod would change nothing."""
    setpriv = need("setpriv")
    if os.geteuid() != 0:
        pytest.skip("needs root to run the script as another user")
    script.chmod(0o744)
    argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", "./build.sh"]
    context = real_context(argv, work)
    assert captures(engine, "script-not-executable", context) == {"path": "./build.sh"}
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == context["exit_code"] == 126
    gave_up(outcome, "script-not-executable")
    assert "already executable" in (outcome.attempts[0].error or "")  # type: ignore[union-attr]
    assert mode(script) == 0o744


# -- missing-output-directory-ld / -coreutils --------------------------------------------------

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'


def test_linker_output_directory_is_created(work: Path, engine: Tether) -> None:
    need("gcc")
    (work / "hello.c").write_text(HELLO_C)
    argv = ["gcc", "-o", "out/hello", "hello.c"]
    context = real_context(argv, work)
    assert rule_names(engine, context) == ["missing-output-directory-ld"]
    assert captures(engine, "missing-output-directory-ld", context) == {"path": "out/hello"}
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    built = subprocess.run([work / "out" / "hello"], capture_output=True, text=True, check=True)
    assert built.stdout == "hello\n"


def test_linker_output_outside_the_working_directory_is_not_created(
    tmp_path: Path, work: Path, engine: Tether
) -> None:
    need("gcc")
    (work / "hello.c").write_text(HELLO_C)
    target = tmp_path / "elsewhere" / "out" / "hello"
    argv = ["gcc", "-o", str(target), "hello.c"]
    assert captures(engine, "missing-output-directory-ld", real_context(argv, work)) == {
        "path": str(target)
    }
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 1
    gave_up(outcome, "missing-output-directory-ld")
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize(
    ("argv", "wanted", "made"),
    [
        (["cp", "app.js", "dist/app.js"], "dist/app.js", "dist/app.js"),
        (["touch", "logs/run.log"], "logs/run.log", "logs/run.log"),
        (["install", "-m", "644", "app.js", "lib/app/app.js"], "lib/app/app.js", "lib/app/app.js"),
        (["mkdir", "build/obj"], "build/obj", "build/obj"),
    ],
    ids=["cp", "touch", "install", "mkdir"],
)
@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_coreutils_output_directory_is_created(
    argv: list[str],
    wanted: str,
    made: str,
    locale: str,
    work: Path,
    engine: Tether,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """mkdir quotes ‘like this’ in a UTF-8 locale; cp, touch and install 'like this'."""
    need(argv[0])
    monkeypatch.setenv("LC_ALL", locale)
    (work / "app.js").write_text("console.log(1)\n")
    context = real_context(argv, work)
    assert rule_names(engine, context) == ["missing-output-directory-coreutils"]
    assert captures(engine, "missing-output-directory-coreutils", context) == {"path": wanted}
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    assert (work / made).exists()


def test_directory_is_made_for_a_symlink_target_inside_the_tree(work: Path, engine: Tether) -> None:
    """touch through a dangling symlink: the missing directory is the link target's."""
    (work / "current.log").symlink_to("archive/2024/current.log")
    argv = ["touch", "current.log"]
    context = real_context(argv, work)
    assert captures(engine, "missing-output-directory-coreutils", context) == {
        "path": "current.log"
    }
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    assert (work / "archive" / "2024" / "current.log").is_file()


def test_no_directory_is_made_for_a_symlink_target_outside_the_tree(
    tmp_path: Path, work: Path, engine: Tether
) -> None:
    (work / "current.log").symlink_to(tmp_path / "var" / "log" / "current.log")
    result, outcome = engine.run_command(["touch", "current.log"], cwd=work, stream=False)
    assert result.exit_code == 1
    gave_up(outcome, "missing-output-directory-coreutils")
    assert not (tmp_path / "var").exists()


def test_no_directory_is_made_when_the_parent_exists(
    work: Path, engine: Tether, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory appeared between the failure and the fix (another job made it)."""
    argv = ["cp", "app.js", "dist/app.js"]
    (work / "app.js").write_text("console.log(1)\n")
    context = real_context(argv, work)
    (work / "dist").mkdir()
    rule = engine.book.get("missing-output-directory-coreutils")
    assert rule is not None
    monkeypatch.chdir(
        work
    )  # actions resolve paths against the job's directory, as run_command does
    run = engine.execute_rule(rule, context)
    assert not run.ok and "exists" in (run.error or "")
    assert list((work / "dist").iterdir()) == []


def test_no_directory_is_made_outside_the_working_directory(
    tmp_path: Path, work: Path, engine: Tether
) -> None:
    target = tmp_path / "shared" / "logs" / "run.log"
    result, outcome = engine.run_command(["touch", str(target)], cwd=work, stream=False)
    assert result.exit_code == 1
    gave_up(outcome, "missing-output-directory-coreutils")
    assert not (tmp_path / "shared").exists()


# -- config-from-template / config-from-template-python ----------------------------------------


def test_config_rule_resolves_for_cat(work: Path, engine: Tether) -> None:
    (work / "config.ini.example").write_text("[app]\nport = 8080\n")
    context = real_context(["cat", "config.ini"], work)
    assert rule_names(engine, context) == ["config-from-template"]
    assert captures(engine, "config-from-template", context) == {"path": "config.ini"}


def test_config_is_copied_from_its_template_for_cat(work: Path, engine: Tether) -> None:
    (work / "config.ini.example").write_text("[app]\nport = 8080\n")
    result, outcome = engine.run_command(["cat", "config.ini"], cwd=work, stream=False)
    assert result.exit_code == 0
    assert result.stdout == "[app]\nport = 8080\n"
    assert outcome is not None and outcome.recovered
    assert (work / "config.ini").read_text() == "[app]\nport = 8080\n"
    assert (work / "config.ini.example").exists()


def test_dotenv_is_copied_from_its_template_for_bash(work: Path, engine: Tether) -> None:
    (work / ".env.dist").write_text("MODE=dev\n")
    argv = ["bash", "-c", 'source .env && echo "$MODE"']
    assert captures(engine, "config-from-template", real_context(argv, work)) == {"path": ".env"}
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 0 and result.stdout == "dev\n"
    assert outcome is not None and outcome.recovered


APP = "print(open('settings.toml').read(), end='')\n"


def test_python_config_rule_resolves(work: Path, engine: Tether) -> None:
    (work / "app.py").write_text(APP)
    (work / "settings.toml.sample").write_text('name = "demo"\n')
    context = real_context([PYTHON, "app.py"], work)
    assert rule_names(engine, context) == ["config-from-template-python"]
    assert captures(engine, "config-from-template-python", context) == {"path": "settings.toml"}


def test_python_config_is_copied_from_its_template(work: Path, engine: Tether) -> None:
    (work / "app.py").write_text(APP)
    (work / "settings.toml.sample").write_text('name = "demo"\n')
    result, outcome = engine.run_command([PYTHON, "app.py"], cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == 'name = "demo"\n'
    assert outcome is not None and outcome.recovered
    assert (work / "settings.toml").read_text() == 'name = "demo"\n'


def test_config_without_a_template_is_not_invented(work: Path, engine: Tether) -> None:
    (work / "app.py").write_text(APP)
    for argv in (["cat", "config.ini"], [PYTHON, "app.py"]):
        result, outcome = engine.run_command(argv, cwd=work, stream=False)
        assert result.exit_code == 1
        assert outcome is not None and not outcome.recovered
        assert [a.outcome for a in outcome.attempts] == ["action_error"]
    assert sorted(p.name for p in work.iterdir()) == ["app.py"]


def test_config_outside_the_working_directory_is_not_copied(
    tmp_path: Path, work: Path, engine: Tether
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "app.conf.example").write_text("x = 1\n")
    argv = ["cat", "../shared/app.conf"]
    assert captures(engine, "config-from-template", real_context(argv, work)) == {
        "path": "../shared/app.conf"
    }
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 1
    gave_up(outcome, "config-from-template")
    assert not (shared / "app.conf").exists()


# -- stale-pidfile ----------------------------------------------------------------------------

SERVER = """\
import os, pathlib, sys
pidfile = pathlib.Path("run/server.pid")
if pidfile.exists():
    sys.exit(f"error: pid file {pidfile} exists (pid {pidfile.read_text().strip()}); "
             "is the server already running?")
pidfile.write_text(str(os.getpid()))
print(f"server started as {os.getpid()}")
"""


def dead_pid() -> int:
    """The pid of a real process that has exited (and been reaped)."""
    proc = subprocess.Popen([PYTHON, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def server(work: Path) -> Path:
    (work / "server.py").write_text(SERVER)
    (work / "run").mkdir()
    return work / "run" / "server.pid"


def test_pidfile_rule_resolves_for_a_real_refusal(server: Path, work: Path, engine: Tether) -> None:
    server.write_text(f"{dead_pid()}\n")
    context = real_context([PYTHON, "server.py"], work)
    assert rule_names(engine, context) == ["stale-pidfile"]
    assert captures(engine, "stale-pidfile", context) == {"path": "run/server.pid"}


def test_stale_pidfile_of_a_dead_process_is_removed(
    server: Path, work: Path, engine: Tether
) -> None:
    dead = dead_pid()
    server.write_text(f"{dead}\n")
    result, outcome = engine.run_command([PYTHON, "server.py"], cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    started = int(result.stdout.split()[-1])
    assert started != dead
    assert server.read_text() == str(started)  # the new run's own pid file, not the stale one


def test_pidfile_of_a_live_process_is_kept(server: Path, work: Path, engine: Tether) -> None:
    live = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"])
    try:
        server.write_text(f"{live.pid}\n")
        first = real_context([PYTHON, "server.py"], work)
        result, outcome = engine.run_command([PYTHON, "server.py"], cwd=work, stream=False)
        assert result.exit_code == first["exit_code"] == 1
        gave_up(outcome, "stale-pidfile")
        assert "is running" in (outcome.attempts[0].error or "")  # type: ignore[union-attr]
        assert server.read_text() == f"{live.pid}\n"
    finally:
        live.kill()
        live.wait()


def test_pidfile_without_a_pid_is_kept(server: Path, work: Path, engine: Tether) -> None:
    server.write_text("starting\n")
    result, outcome = engine.run_command([PYTHON, "server.py"], cwd=work, stream=False)
    assert result.exit_code == 1
    gave_up(outcome, "stale-pidfile")
    assert server.read_text() == "starting\n"
