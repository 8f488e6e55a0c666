"""transient-network and transient-database-busy: real clients, real servers, no real waiting.

The injected ``sleep`` is where time would pass; here it is where the server
comes up or the other writer lets go, so the retry really succeeds on its
first re-run and nothing waits.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import socket

import pytest

from tests.helpers import PYTHON
from tests.starter.support import Sleeper, free_port, need, real_context, rule_names
from tether import Tether


def within_backoff(waits: list[float], base: float, cap: float) -> bool:
    """Each wait is ``base * 2**n`` capped at ``cap``, plus at most 25% jitter."""
    for n, wait in enumerate(waits):
        nominal = min(base * 2**n, cap)
        if not nominal <= wait <= nominal * 1.25:
            return False
    return True


# -- transient-network ------------------------------------------------------------------------


class _Pong(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"pong\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class LateServer:
    """An HTTP server on ``port`` that starts only when :meth:`start` is called."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _Pong)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def late_server() -> Iterator[LateServer]:
    server = LateServer(free_port())
    try:
        yield server
    finally:
        server.stop()


def curl(port: int) -> list[str]:
    return [need("curl"), "-sS", "--noproxy", "*", "--max-time", "5", f"http://127.0.0.1:{port}/"]


def test_network_rule_resolves_for_curl(late_server: LateServer, work: Path, home: Path) -> None:
    context = real_context(curl(late_server.port), work)
    assert context["exit_code"] == 7
    assert rule_names(Tether(home=home), context) == ["transient-network"]


def test_curl_is_retried_until_the_server_is_up(
    late_server: LateServer, work: Path, home: Path
) -> None:
    sleeper = Sleeper(on_first=late_server.start)
    engine = Tether(home=home, sleep=sleeper)
    result, outcome = engine.run_command(curl(late_server.port), cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "pong\n"
    assert outcome is not None and outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [("transient-network", "success")]
    assert len(sleeper.calls) == 1 and within_backoff(sleeper.calls, 1, 8)


CONNECT = "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 5).close()"


class LateListener:
    """A bare TCP listener on ``port`` that opens only when :meth:`start` is called."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket | None = None

    def start(self) -> None:
        self.sock = socket()
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)


def test_python_client_is_retried_until_the_port_listens(work: Path, home: Path) -> None:
    listener = LateListener(free_port())
    argv = [PYTHON, "-c", CONNECT, str(listener.port)]
    context = real_context(argv, work)
    assert "ConnectionRefusedError" in context["stderr"]
    sleeper = Sleeper(on_first=listener.start)
    engine = Tether(home=home, sleep=sleeper)
    assert rule_names(engine, context) == ["transient-network"]
    try:
        result, outcome = engine.run_command(argv, cwd=work, stream=False)
    finally:
        if listener.sock is not None:
            listener.sock.close()
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    assert len(sleeper.calls) == 1


def test_network_retries_stop_after_the_policy_and_keep_the_exit_code(
    work: Path, engine: Tether, sleeps: list[float]
) -> None:
    argv = curl(free_port())  # nothing ever listens
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 7
    assert outcome is not None and not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [("transient-network", "failure")]
    assert len(sleeps) == 4 and within_backoff(sleeps, 1, 8)


# -- transient-database-busy ------------------------------------------------------------------

HOLDER = """\
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
con.execute("COMMIT")
con.close()
"""


class Writer:
    """Another real process holding ``BEGIN EXCLUSIVE`` on the database until released."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", HOLDER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "locked\n"

    def release(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.close()
        assert self.proc.wait(timeout=10) == 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def db(work: Path) -> Path:
    path = work / "app.db"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE events (name TEXT)")
    con.close()
    return path


@pytest.fixture
def writer(db: Path) -> Iterator[Writer]:
    holder = Writer(db)
    try:
        yield holder
    finally:
        holder.kill()


def rows(db: Path) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return [name for (name,) in con.execute("SELECT name FROM events")]
    finally:
        con.close()


INSERT = "INSERT INTO events VALUES ('deployed');"
PY_INSERT = (
    "import sqlite3; con = sqlite3.connect('app.db', timeout=0); "
    f'con.execute("{INSERT}"); con.commit()'
)


def insert_commands() -> list[list[str]]:
    """The sqlite3 CLI when installed, and Python's sqlite3 module in a child process."""
    commands = [[PYTHON, "-c", PY_INSERT]]
    if shutil.which("sqlite3"):
        commands.insert(0, ["sqlite3", "app.db", INSERT])
    return commands


@pytest.mark.parametrize("argv", insert_commands(), ids=lambda argv: Path(argv[0]).name)
def test_database_rule_resolves_while_another_writer_holds_the_lock(
    argv: list[str], db: Path, writer: Writer, work: Path, engine: Tether
) -> None:
    context = real_context(argv, work)
    assert "database is locked" in context["stderr"]
    assert rule_names(engine, context) == ["transient-database-busy"]


@pytest.mark.parametrize("argv", insert_commands(), ids=lambda argv: Path(argv[0]).name)
def test_insert_is_retried_until_the_writer_commits(
    argv: list[str], db: Path, writer: Writer, work: Path, home: Path
) -> None:
    sleeper = Sleeper(on_first=writer.release)
    engine = Tether(home=home, sleep=sleeper)
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == 0, result.stderr
    assert outcome is not None and outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [
        ("transient-database-busy", "success")
    ]
    assert rows(db) == ["deployed"]
    assert len(sleeper.calls) == 1 and within_backoff(sleeper.calls, 0.5, 8)


def test_database_retries_stop_after_the_policy_and_keep_the_exit_code(
    db: Path, writer: Writer, work: Path, engine: Tether, sleeps: list[float]
) -> None:
    argv = insert_commands()[0]
    first = real_context(argv, work)
    result, outcome = engine.run_command(argv, cwd=work, stream=False)
    assert result.exit_code == first["exit_code"] != 0
    assert outcome is not None and not outcome.recovered
    assert [(a.rule, a.outcome) for a in outcome.attempts] == [
        ("transient-database-busy", "failure")
    ]
    assert len(sleeps) == 5 and within_backoff(sleeps, 0.5, 8)
    writer.release()
    assert rows(db) == []
