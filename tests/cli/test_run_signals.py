"""Signals sent to `tether run` reach the command's group; its traps run; exit codes as a shell's."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import write_action, write_rule

TETHER = [sys.executable, "-m", "tether"]


def start(*args: str, cwd: Path, home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TETHER_HOME": str(home)}
    return subprocess.Popen(
        [*TETHER, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def wait_for(path: Path, proc: subprocess.Popen[bytes], limit_s: float = 20.0) -> None:
    """Until ``path`` exists (the command said it is ready); fails if tether ends first."""
    deadline = time.monotonic() + limit_s
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT])
def test_a_signal_reaches_the_command_whose_trap_cleans_up_and_sets_the_exit_code(
    tmp_path: Path, home: Path, sig: signal.Signals
) -> None:
    name = sig.name.removeprefix("SIG")
    line = (
        f"trap 'sleep 0.3; echo cleaned > cleaned.txt; exit 7' {name}; touch ready; "
        "while :; do sleep 0.05; done"
    )
    proc = start("run", "--", "sh", "-c", line, cwd=tmp_path, home=home)
    wait_for(tmp_path / "ready", proc)
    proc.send_signal(sig)
    code, _, err = finish(proc)
    assert (tmp_path / "cleaned.txt").read_text() == "cleaned\n"  # the trap ran to its end
    assert code == 7  # the command's own exit code
    assert "tether: interrupted" in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_command_killed_by_the_signal_exits_128_plus_n(
    tmp_path: Path, home: Path, sig: signal.Signals
) -> None:
    proc = start("run", "--", "sh", "-c", "touch ready; exec sleep 20", cwd=tmp_path, home=home)
    wait_for(tmp_path / "ready", proc)
    time.sleep(0.05)  # the exec has happened
    proc.send_signal(sig)
    code, _, err = finish(proc)
    assert code == 128 + sig
    assert "tether: interrupted" in err
    assert "gave up" not in err  # an interrupted command is not recovered


def test_a_command_that_ignores_the_signal_is_killed_after_the_grace_period(
    tmp_path: Path, home: Path
) -> None:
    line = "trap '' TERM; touch ready; while :; do sleep 0.05; done"
    proc = start("run", "--grace", "0.3", "--", "sh", "-c", line, cwd=tmp_path, home=home)
    wait_for(tmp_path / "ready", proc)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code, _, _ = finish(proc)
    assert code == 128 + signal.SIGKILL
    assert 0.25 <= time.monotonic() - started < 5


def test_quiet_says_nothing_when_interrupted(tmp_path: Path, home: Path) -> None:
    proc = start(
        "run", "-q", "--", "sh", "-c", "touch ready; exec sleep 20", cwd=tmp_path, home=home
    )
    wait_for(tmp_path / "ready", proc)
    time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert code == 128 + signal.SIGTERM and err == ""


def test_a_signal_during_a_fix_stops_after_the_step_and_rolls_it_back(
    tmp_path: Path, home: Path
) -> None:
    write_rule(
        home,
        "fix",
        "name: fix\nwhen:\n  - {fact: stderr, contains: 'needs fix'}\nthen: [{action: slow_fix}]\n",
    )
    write_action(
        home,
        "slow",
        "import time\nfrom pathlib import Path\nfrom tether import action\n\n"
        "@action('slow_fix')\ndef slow_fix(ctx) -> None:\n"
        "    ctx.write_file('fixed.txt', 'x')\n    Path('fixing').touch()\n"
        "    time.sleep(0.5)\n    Path('step-done').touch()\n",
    )
    (home / "config.yaml").write_text("engine: {starter_rules: false}\n")
    line = "echo run >> runs; test -f fixed.txt || { echo 'needs fix' >&2; exit 1; }"
    proc = start("run", "--", "sh", "-c", line, cwd=tmp_path, home=home)
    wait_for(tmp_path / "fixing", proc)
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert code == 128 + signal.SIGTERM
    assert "tether: interrupted" in err
    assert (tmp_path / "step-done").exists()  # the current step finished
    assert not (tmp_path / "fixed.txt").exists()  # and what it did was rolled back
    assert (tmp_path / "runs").read_text() == "run\n"  # no re-run after the interrupt


def test_a_background_child_does_not_hold_tether(tmp_path: Path, home: Path) -> None:
    pidfile = tmp_path / "bg.pid"
    started = time.monotonic()
    proc = start(
        "run",
        "--",
        "sh",
        "-c",
        f"sleep 8 & echo $! > {pidfile}; echo started; exit 0",
        cwd=tmp_path,
        home=home,
    )
    try:
        code, out, _ = finish(proc)
    finally:
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)  # the sleep this test started
    assert code == 0 and out == "started\n"
    assert time.monotonic() - started < 6  # not the 8 s of the background sleep
