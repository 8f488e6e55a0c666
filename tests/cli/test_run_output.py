"""`tether run`'s output: live and in order in a pipe, a real pseudo-terminal on a terminal,
tether's lines on their own line on stderr, and none at all with -q."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.helpers import write_rule

TETHER = [sys.executable, "-m", "tether"]


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "TETHER_HOME": str(home)}


def tether(*args: str, cwd: Path, home: Path, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*TETHER, *args], cwd=cwd, env=env_for(home), check=False, timeout=60, **kw
    )


def under_terminal(
    args: list[str], cwd: Path, home: Path, keys: bytes = b"", size: tuple[int, int] = (0, 0)
) -> tuple[int, bytes]:
    """Run ``tether ARGS`` with a real pseudo-terminal as its stdin, stdout and stderr."""
    master, slave = os.openpty()
    if size != (0, 0):
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    proc = subprocess.Popen(
        [*TETHER, *args],
        cwd=cwd,
        env=env_for(home),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + 30
    sent = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal closed it
                break
            if not chunk:
                break
            out += chunk
        if keys and not sent and b"READY" in out:
            os.write(master, keys)
            sent = True
    os.close(master)
    return proc.wait(timeout=30), bytes(out)


ALTERNATE = (
    "import sys, time\n"
    "for i in range(6):\n"
    "    stream = sys.stdout if i % 2 == 0 else sys.stderr\n"
    "    stream.write(f'{stream.name[-4:-1]}{i}\\n'); stream.flush(); time.sleep(0.03)\n"
)


def test_stdout_and_stderr_keep_their_interleaving_in_a_pipe(tmp_path: Path, home: Path) -> None:
    proc = tether(
        "run",
        "--",
        sys.executable,
        "-c",
        ALTERNATE,
        cwd=tmp_path,
        home=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.returncode == 0
    assert proc.stdout.decode().splitlines() == ["out0", "err1", "out2", "err3", "out4", "err5"]


def test_tethers_line_never_sticks_to_the_commands_last_line(tmp_path: Path, home: Path) -> None:
    proc = tether(
        "run",
        "--",
        "sh",
        "-c",
        "printf 'no newline'; exit 3",
        cwd=tmp_path,
        home=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.returncode == 3
    first, second = proc.stdout.decode().splitlines()[:2]
    assert first == "no newline"
    assert second.startswith("tether")


def test_tethers_lines_go_to_stderr_and_quiet_removes_them(tmp_path: Path, home: Path) -> None:
    loud = tether(
        "run",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
        cwd=tmp_path,
        home=home,
        capture_output=True,
    )
    assert loud.stdout == b"out\n"
    assert b"tether" in loud.stderr
    quiet = tether(
        "run",
        "-q",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
        cwd=tmp_path,
        home=home,
        capture_output=True,
    )
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (3, b"out\n", b"err\n")


TTY_PROBE = (
    "import os, sys\n"
    "print('tty', sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty(), flush=True)\n"
    "print('size', *os.get_terminal_size(1), flush=True)\n"
)


def test_on_a_terminal_the_command_gets_a_pseudo_terminal_of_the_same_size(
    tmp_path: Path, home: Path
) -> None:
    code, out = under_terminal(
        ["run", "--", sys.executable, "-c", TTY_PROBE], tmp_path, home, size=(33, 101)
    )
    assert code == 0, out
    assert b"tty True True True" in out
    assert b"size 101 33" in out


def test_no_pty_gives_the_command_plain_pipes_on_a_terminal(tmp_path: Path, home: Path) -> None:
    probe = TTY_PROBE.splitlines()[:2]
    code, out = under_terminal(
        ["run", "--no-pty", "--", sys.executable, "-c", "\n".join(probe)], tmp_path, home
    )
    assert code == 0, out
    assert b"tty True False False" in out  # stdin is still the terminal itself


def test_keys_typed_reach_the_command_and_ctrl_c_interrupts_it(tmp_path: Path, home: Path) -> None:
    reader = "print('READY', flush=True); print('got', input(), flush=True)"
    code, out = under_terminal(
        ["run", "--", sys.executable, "-c", reader], tmp_path, home, keys=b"hello\r"
    )
    assert code == 0, out
    assert b"got hello" in out
    sleeper = "import time; print('READY', flush=True); time.sleep(20)"
    code, out = under_terminal(
        ["run", "--", sys.executable, "-c", sleeper], tmp_path, home, keys=b"\x03"
    )
    assert code in (130, 1), out  # SIGINT from the command's own terminal (or Python's exit 1)
    assert b"KeyboardInterrupt" in out


def test_under_a_pty_stderr_facts_still_match(tmp_path: Path, home: Path) -> None:
    write_rule(
        home,
        "seen",
        "name: seen\nwhen:\n  - {fact: stderr, regex: 'cannot open (?P<f>\\S+)$'}\n"
        "then: [{action: missing_action_for_dry_run, params: {path: '{f}'}}]\n",
    )
    (home / "config.yaml").write_text("engine: {starter_rules: false}\n")
    code, out = under_terminal(
        ["run", "--dry-run", "--", "sh", "-c", "echo 'cannot open data.csv' >&2; exit 2"],
        tmp_path,
        home,
    )
    assert code == 2, out
    assert b"would fire: seen (f='data.csv')" in out  # no \r left in the capture
