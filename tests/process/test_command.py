"""``run_command`` against real programs: exit codes, start failures, bytes, size caps, timeouts."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from tether.process.command import CAPTURE_HEAD_BYTES, CAPTURE_TAIL_BYTES, run_command


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("code", [0, 1, 3, 255])
def test_exit_code_and_output_are_reported(tmp_path: Path, code: int) -> None:
    result = run_command(
        py(f"import sys; print('out'); print('err', file=sys.stderr); sys.exit({code})"),
        cwd=tmp_path, stream=False,
    )  # fmt: skip
    assert result.exit_code == code
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    assert result.cwd == str(tmp_path)
    assert result.duration_s > 0
    context = result.context()
    assert context["exit_code"] == code and context["cwd"] == str(tmp_path)
    assert context["command"].startswith(sys.executable)


def test_the_child_runs_in_cwd_with_the_given_environment(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "ONLY_THIS": "yes"}
    result = run_command(
        py("import os; print(os.getcwd()); print(sorted(k for k in os.environ if k == 'ONLY_THIS' "
           "or k == 'HOME'))"),
        cwd=tmp_path, env=env, stream=False,
    )  # fmt: skip
    assert result.stdout.splitlines() == [str(tmp_path), "['ONLY_THIS']"]


def test_a_child_killed_by_a_signal_exits_128_plus_n(tmp_path: Path) -> None:
    result = run_command(py("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"),
                         cwd=tmp_path, stream=False)  # fmt: skip
    assert result.exit_code == 128 + signal.SIGTERM


@pytest.mark.parametrize("argv0", ["tether-no-such-command-9f3a", "./missing-script.sh"])
def test_command_not_found_is_127_with_shell_text(tmp_path: Path, argv0: str) -> None:
    result = run_command([argv0, "--help"], cwd=tmp_path, stream=False)
    assert result.exit_code == 127
    assert result.stderr == f"tether: {argv0}: command not found\n"
    assert result.stdout == ""


def test_a_file_without_execute_permission_is_126(tmp_path: Path) -> None:
    script = tmp_path / "build.sh"
    script.write_text("#!/bin/sh\necho built\n")
    script.chmod(0o644)
    result = run_command(["./build.sh"], cwd=tmp_path, stream=False)
    assert result.exit_code == 126
    assert result.stderr == "tether: ./build.sh: Permission denied\n"
    script.chmod(0o755)
    assert run_command(["./build.sh"], cwd=tmp_path, stream=False).exit_code == 0


def test_a_directory_as_the_command_is_126(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    result = run_command(["./tools"], cwd=tmp_path, stream=False)
    assert result.exit_code == 126
    assert "./tools" in result.stderr


def test_a_missing_working_directory_is_reported_not_raised(tmp_path: Path) -> None:
    result = run_command(["true"], cwd=tmp_path / "gone", stream=False)
    assert result.exit_code == 1
    assert "cannot change directory" in result.stderr and "gone" in result.stderr


RAW = b"caf\xe9 \xff\xfe done\n"


def test_non_utf8_output_is_decoded_with_replacement(tmp_path: Path) -> None:
    code = f"import sys; sys.stdout.buffer.write({RAW!r}); sys.stderr.buffer.write({RAW!r})"
    result = run_command(py(code), cwd=tmp_path, stream=False)
    assert result.exit_code == 0
    assert result.stdout == "caf\ufffd \ufffd\ufffd done\n"
    assert result.stderr == "caf\ufffd \ufffd\ufffd done\n"


def test_streamed_output_passes_the_childs_bytes_unchanged(
    tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    code = f"import sys; sys.stdout.buffer.write({RAW!r}); sys.stderr.buffer.write(b'warn\\n')"
    result = run_command(py(code), cwd=tmp_path, stream=True)
    out, err = capfdbinary.readouterr()
    assert out == RAW
    assert err == b"warn\n"
    assert result.stdout == RAW.decode("utf-8", errors="replace")


def test_stream_false_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    run_command(py("import sys; print('out'); print('err', file=sys.stderr); sys.exit(2)"),
                cwd=tmp_path, stream=False)  # fmt: skip
    run_command(["tether-no-such-command-9f3a"], cwd=tmp_path, stream=False)
    assert capfd.readouterr() == ("", "")
    # streaming the same commands does print: the check above can fail
    run_command(["tether-no-such-command-9f3a"], cwd=tmp_path, stream=True)
    assert "command not found" in capfd.readouterr().err


BIG = r"""
import sys
total = int(sys.argv[1])
chunk = b"0123456789abcdef" * 4096  # 64 KiB
for stream, name in ((sys.stdout.buffer, b"OUT"), (sys.stderr.buffer, b"ERR")):
    stream.write(b"BEGIN-" + name + b"\n")
written = 0
body = total - 2 * len(b"BEGIN-OUT\n")
while written < body:
    piece = chunk[: body - written]
    sys.stdout.buffer.write(piece)   # both pipes fill up at once: no deadlock allowed
    sys.stderr.buffer.write(piece)
    written += len(piece)
for stream, name in ((sys.stdout.buffer, b"OUT"), (sys.stderr.buffer, b"ERR")):
    stream.write(b"\nEND-" + name + b"\n")
"""


def test_multi_megabyte_output_keeps_head_and_tail_with_a_marker(tmp_path: Path) -> None:
    total = 3 * 1024 * 1024
    result = run_command([sys.executable, "-c", BIG, str(total)], cwd=tmp_path, stream=False,
                         timeout_s=60)  # fmt: skip
    assert result.exit_code == 0
    for text, name in ((result.stdout, "OUT"), (result.stderr, "ERR")):
        body = total - 2 * len(b"BEGIN-OUT\n")
        size = len(f"BEGIN-{name}\n") + body + len(f"\nEND-{name}\n")  # bytes the child wrote
        dropped = size - CAPTURE_HEAD_BYTES - CAPTURE_TAIL_BYTES
        marker = f"\n[... {dropped} bytes omitted ...]\n"
        assert text.startswith(f"BEGIN-{name}\n0123456789abcdef")
        assert text.endswith(f"\nEND-{name}\n")
        assert text.count(marker) == 1
        head, tail = text.split(marker)
        assert len(head.encode()) == CAPTURE_HEAD_BYTES
        assert len(tail.encode()) == CAPTURE_TAIL_BYTES


def test_output_exactly_at_the_cap_is_kept_whole(tmp_path: Path) -> None:
    size = CAPTURE_HEAD_BYTES + CAPTURE_TAIL_BYTES
    code = f"import sys; sys.stdout.buffer.write(b'x' * {size - 1} + b'!')"
    result = run_command(py(code), cwd=tmp_path, stream=False)
    assert result.stdout == "x" * (size - 1) + "!"
    assert "omitted" not in result.stdout


def test_timeout_kills_the_child_and_exits_124(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_command(py("import time; print('started', flush=True); time.sleep(30)"),
                         cwd=tmp_path, stream=False, timeout_s=0.5)  # fmt: skip
    assert result.exit_code == 124
    assert result.stdout == "started\n"
    assert time.monotonic() - started < 10


def test_timeout_is_not_held_up_by_a_grandchild_keeping_the_pipes(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    argv = ["sh", "-c", f"sleep 20 & echo $! > {pidfile}; wait"]
    box: dict[str, object] = {}

    def run() -> None:
        box["result"] = run_command(argv, cwd=tmp_path, stream=False, timeout_s=0.3)

    worker = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    worker.start()
    try:
        worker.join(timeout=3)
        returned_in_time = not worker.is_alive()
    finally:
        if pidfile.exists():  # end the grandchild this test started, by its id
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
        worker.join(timeout=10)
    assert returned_in_time, f"still running {time.monotonic() - started:.1f}s after a 0.3s timeout"
    assert box["result"].exit_code == 124  # type: ignore[attr-defined]
