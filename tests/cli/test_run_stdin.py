"""`tether run` passes its stdin on: pipes (replayed to a re-run when small), files, nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import write_action, write_rule

TETHER = [sys.executable, "-m", "tether"]

# Reads all of stdin into got.txt, then fails until a marker exists (the rule below makes it).
JOB = ["sh", "-c", "cat > got.txt; test -f marker || { echo 'needs marker' >&2; exit 1; }"]


def tether(*args: str, cwd: Path, home: Path, **kw: object) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "TETHER_HOME": str(home)}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*TETHER, *args], cwd=cwd, env=env, capture_output=True, check=False, timeout=60, **kw
    )


def marker_rule(home: Path) -> None:
    write_rule(
        home,
        "marker",
        "name: marker\nwhen:\n  - {fact: stderr, contains: 'needs marker'}\n"
        "then: [{action: touch_marker, params: {name: marker}}]\n",
    )
    write_action(
        home,
        "touch",
        "from pathlib import Path\nfrom tether import action\n\n"
        "@action('touch_marker')\ndef touch_marker(name: str) -> None:\n"
        "    Path(name).touch()\n",
    )
    (home / "config.yaml").write_text("engine: {starter_rules: false}\n")


def test_a_pipe_reaches_the_command(tmp_path: Path, home: Path) -> None:
    proc = tether("run", "--", "wc", "-l", cwd=tmp_path, home=home, input=b"a\nb\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == b"2"


def test_a_file_on_stdin_reaches_the_command(tmp_path: Path, home: Path) -> None:
    data = tmp_path / "in.sql"
    data.write_bytes(b"select 1;\nselect 2;\n")
    with data.open("rb") as fh:
        proc = tether("run", "--", "sh", "-c", "cat", cwd=tmp_path, home=home, stdin=fh)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == data.read_bytes()


def test_a_small_pipe_is_replayed_to_the_re_run_after_a_fix(tmp_path: Path, home: Path) -> None:
    marker_rule(home)
    text = b"".join(b"line %d\n" % i for i in range(5000))  # ~50 KiB: bigger than one read
    proc = tether("run", "--", *JOB, cwd=tmp_path, home=home, input=text)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "marker").exists()
    assert (tmp_path / "got.txt").read_bytes() == text  # the re-run read the same input


def test_a_file_on_stdin_is_rewound_for_the_re_run(tmp_path: Path, home: Path) -> None:
    marker_rule(home)
    data = tmp_path / "input.txt"
    data.write_bytes(b"first\nsecond\n")
    with data.open("rb") as fh:
        proc = tether("run", "--", *JOB, cwd=tmp_path, home=home, stdin=fh)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "got.txt").read_bytes() == b"first\nsecond\n"


def test_a_pipe_too_big_to_replay_is_not_re_run_unless_asked(tmp_path: Path, home: Path) -> None:
    marker_rule(home)
    text = b"x" * (1024 * 1024 + 10)
    proc = tether("run", "--", *JOB, cwd=tmp_path, home=home, input=text)
    assert proc.returncode == 1
    assert b"cannot be replayed" in proc.stderr and b"--rerun-stdin" in proc.stderr
    assert not (tmp_path / "marker").exists()
    assert (tmp_path / "got.txt").stat().st_size == len(text)  # the first run read all of it

    again = tether("run", "--rerun-stdin", "--", *JOB, cwd=tmp_path, home=home, input=text)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "marker").exists()
    assert (tmp_path / "got.txt").read_bytes() == b""  # what was left of the pipe: nothing


def test_a_command_that_reads_no_stdin_does_not_wait_for_it(tmp_path: Path, home: Path) -> None:
    # stdin stays open and never ends: the command's exit is what counts
    writer = subprocess.Popen(["sh", "-c", "sleep 20"], stdout=subprocess.PIPE)
    try:
        proc = tether(
            "run", "--", "sh", "-c", "echo done", cwd=tmp_path, home=home, stdin=writer.stdout
        )
    finally:
        writer.kill()
        writer.wait()
    assert proc.returncode == 0 and proc.stdout == b"done\n"
