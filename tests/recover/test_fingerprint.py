"""Failure fingerprints: volatile text masked, real differences kept.

The volatile text is produced by really running code (a child process that
prints its own pid, the time, an object's address, a fresh temporary
directory, a free port and a measured duration), never typed in by hand.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pytest

from tether.process.command import run_command
from tether.recover.fingerprint import fingerprint, normalise

VOLATILE = r"""
import datetime, json, os, socket, sys, tempfile, time
started = time.perf_counter()
scratch = tempfile.mkdtemp()
handler = object()
with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
elapsed_ms = (time.perf_counter() - started) * 1000
now = datetime.datetime.now()
facts = {"pid": os.getpid(), "port": port, "addr": hex(id(handler)), "scratch": scratch,
         "iso": now.isoformat(), "clock": now.strftime("%H:%M:%S"), "ms": f"{elapsed_ms:.3f}ms"}
print(json.dumps(facts))
print(f"{facts['iso']} worker pid {facts['pid']} could not bind port {port}", file=sys.stderr)
print(f"[{facts['clock']}] handler {handler!r} gave up after {facts['ms']}", file=sys.stderr)
print(f"state kept in {scratch}/state.db", file=sys.stderr)
os.rmdir(scratch)
sys.exit(3)
"""


def volatile_run(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the volatile script for real; its failure context and the values it printed."""
    env = {**os.environ, "TMPDIR": "/tmp"}
    result = run_command([sys.executable, "-c", VOLATILE], cwd=tmp_path, env=env, stream=False)
    assert result.exit_code == 3, result.stderr
    return result.context(), json.loads(result.stdout)


def test_volatile_text_is_masked(tmp_path: Path) -> None:
    context, facts = volatile_run(tmp_path)
    stderr = context["stderr"]
    for key in ("iso", "clock", "addr", "scratch", "ms"):
        assert facts[key] in stderr  # the raw text really holds each volatile value
    masked = normalise(stderr)
    for key in ("iso", "clock", "addr", "scratch", "ms"):
        assert facts[key] not in masked, key
    assert f"pid {facts['pid']}" not in masked
    assert f"port {facts['port']}" not in masked
    for placeholder in ("<time>", "<addr>", "<pid>", "<tmp>", "<dur>", "port <n>"):
        assert placeholder in masked, placeholder


def test_two_runs_differing_only_in_volatile_text_share_a_fingerprint(tmp_path: Path) -> None:
    first, facts1 = volatile_run(tmp_path)
    second, facts2 = volatile_run(tmp_path)
    assert facts1["pid"] != facts2["pid"] and facts1["scratch"] != facts2["scratch"]
    assert first["stderr"] != second["stderr"]
    assert fingerprint(first) == fingerprint(second)


def test_where_and_what_ran_are_left_out(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    code = "import sys; print('progress', sys.argv[1]); sys.exit('fatal: repository not found')"
    one = run_command([sys.executable, "-c", code, "1"], cwd=tmp_path / "a", stream=False)
    two = run_command([sys.executable, "-c", code, "22"], cwd=tmp_path / "b", stream=False)
    assert one.stdout != two.stdout and one.argv != two.argv and one.cwd != two.cwd
    assert fingerprint(one.context()) == fingerprint(two.context())
    # but what failed is not left out
    assert fingerprint(one.context()) != fingerprint({**one.context(), "exit_code": 2})


def exception_context(exc: BaseException) -> dict[str, Any]:
    """The built-in part of a marked function's failure context."""
    return {
        "error": str(exc),
        "error_type": type(exc).__name__,
        "traceback": "".join(traceback.format_exception(exc)),
    }


def failure_of(action: Any) -> dict[str, Any]:
    try:
        action()
    except Exception as exc:
        return exception_context(exc)
    raise AssertionError("expected a failure")


def read(path: Path) -> str:
    return path.read_text()


def test_the_same_error_in_two_temporary_directories_shares_a_fingerprint(
    tmp_path: Path,
) -> None:
    if not str(tmp_path).startswith("/tmp/"):
        pytest.skip("needs pytest's tmp_path under /tmp")
    one, two = (failure_of(lambda d=d: read(Path(d) / "settings.ini"))
                for d in (tempfile.mkdtemp(dir=tmp_path), tempfile.mkdtemp(dir=tmp_path)))  # fmt: skip
    assert one["error"] != two["error"]
    assert fingerprint(one) == fingerprint(two)


def test_different_errors_have_different_fingerprints(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    contexts = [
        failure_of(lambda: read(tmp_path / "missing.txt")),  # FileNotFoundError
        failure_of(lambda: read(tmp_path)),  # IsADirectoryError
        failure_of(lambda: json.loads(read(tmp_path / "bad.json"))),  # JSONDecodeError
        failure_of(lambda: int("twelve")),  # ValueError
    ]
    # without the tracebacks (whose call sites differ anyway): the error itself must tell them apart
    prints = [fingerprint({k: c[k] for k in ("error", "error_type")}) for c in contexts]
    assert len(set(prints)) == len(prints)
    codes = [
        run_command([sys.executable, "-c", f"import sys; sys.exit({n})"], stream=False).context()
        for n in (1, 2)
    ]
    assert fingerprint(codes[0]) != fingerprint(codes[1])


def test_different_missing_files_under_tmp_have_different_fingerprints(tmp_path: Path) -> None:
    if not str(tmp_path).startswith("/tmp/"):
        pytest.skip("needs pytest's tmp_path under /tmp")
    settings = run_command(["cat", str(tmp_path / "settings.ini")], stream=False).context()
    report = run_command(["cat", str(tmp_path / "report.txt")], stream=False).context()
    assert settings["stderr"] != report["stderr"]
    assert fingerprint(settings) != fingerprint(report)
