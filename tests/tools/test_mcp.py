"""The MCP bridge against real MCP server processes (tests/tools/mcp_servers/echo_server.py)."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.errors import MCPError, ToolError
from tether.llm.types import ToolCall
from tether.tools import ToolRunner
from tether.tools.mcp import MCPConnection, MCPServer, MCPTimeout, MCPToolSkipped

ECHO = Path(__file__).parent / "mcp_servers" / "echo_server.py"
SECRET_ENV = "tok-ENVSECRET-0123456789"
SECRET_HEADER = "hdr-HEADERSECRET-9876543210"


def echo_server(name: str = "echo", **options: object) -> MCPServer:
    options.setdefault("timeout_s", 0.5)
    options.setdefault("startup_timeout_s", 20)
    return MCPServer(name, command=sys.executable, args=[str(ECHO)], **options)  # type: ignore[arg-type]


def gone(pid: int) -> bool:
    """True when no process ``pid`` exists (a zombie still exists: it must also be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.02)
    return gone(pid)


@pytest.fixture(scope="module")
def stdio() -> Iterator[tuple[MCPConnection, list[warnings.WarningMessage]]]:
    """One stdio server shared by the read-only tests, and the warnings its start raised."""
    conn = echo_server(env={"API_TOKEN": SECRET_ENV}).connect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        conn.start()
    yield conn, list(caught)
    conn.close()


@pytest.fixture
def conn(stdio: tuple[MCPConnection, list[warnings.WarningMessage]]) -> MCPConnection:
    return stdio[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_http_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ECHO), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"HTTP MCP server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("HTTP MCP server did not listen within 20 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(5)


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    proc, url = start_http_server()
    yield url
    stop(proc)


# -- listing and schemas -----------------------------------------------------------------------


def test_tools_are_listed_with_prefixed_names_and_their_schemas(conn: MCPConnection) -> None:
    by_name = {t.name: t for t in conn.tools}
    assert set(by_name) == {
        "echo__echo", "echo__add", "echo__fail", "echo__sleep",
        "echo__crash", "echo__pid", "echo__show_env",
    }  # fmt: skip
    add = by_name["echo__add"]
    assert add.source == "mcp:echo"
    assert add.is_async and add.validator is None
    assert add.timeout_s == 0.5
    assert add.description == "Add two integers."
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.parameters["required"] == ["a"]
    assert add.definition().parameters == add.parameters


def test_invalid_schema_is_skipped_with_a_warning_naming_tool_and_server(
    stdio: tuple[MCPConnection, list[warnings.WarningMessage]],
) -> None:
    conn, caught = stdio
    skipped = [w for w in caught if issubclass(w.category, MCPToolSkipped)]
    assert len(skipped) == 1
    message = str(skipped[0].message)
    assert "'echo'" in message and "'broken'" in message and "properties/x/type" in message
    assert "echo__broken" not in {t.name for t in conn.tools}


# -- calls -------------------------------------------------------------------------------------


def test_call_returns_the_text_of_the_result(conn: MCPConnection) -> None:
    assert conn.call("echo", {"text": "hello"}) == "hello"
    assert conn.call("add", {"a": 40, "b": 2}) == "42"


def test_is_error_result_raises_tool_error_with_the_servers_message(conn: MCPConnection) -> None:
    with pytest.raises(ToolError) as info:
        conn.call("fail", {"reason": "disk full"})
    assert not isinstance(info.value, MCPError)
    assert "failed on purpose: disk full" in str(info.value)


def test_unknown_server_tool_is_a_tool_error(conn: MCPConnection) -> None:
    with pytest.raises(ToolError, match="nope"):
        conn.call("nope", {})


def test_hanging_tool_times_out_with_a_typed_error_naming_the_server(conn: MCPConnection) -> None:
    started = time.monotonic()
    with pytest.raises(MCPTimeout) as info:
        conn.call("sleep", {"seconds": 1.5})
    assert time.monotonic() - started < 2.5
    assert isinstance(info.value, MCPError) and isinstance(info.value, TimeoutError)
    assert info.value.server == "echo"
    assert "'sleep' did not answer within 0.5 s" in str(info.value)
    assert conn.call("echo", {"text": "still there"}) == "still there"


def test_mcp_timeout_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(MCPTimeout("slow", server="s")))
    assert (
        type(error) is MCPTimeout and error.server == "s" and str(error) == "MCP server 's': slow"
    )


# -- through the ToolRunner ----------------------------------------------------------------------


def test_tool_runner_sync_path(conn: MCPConnection) -> None:
    runner = ToolRunner(conn.tools)
    ok = runner.run(ToolCall("echo__echo", {"text": "hi"}, id="c1"))
    assert (ok.status, ok.content, ok.call_id) == ("ok", "hi", "c1")
    failed = runner.run(ToolCall("echo__fail", {"reason": "nope"}, id="c2"))
    assert failed.status == "error"
    assert "failed on purpose: nope" in json.loads(failed.content)["message"]
    hung = runner.run(ToolCall("echo__sleep", {"seconds": 1.5}, id="c3"))
    assert hung.status == "timeout"
    missing = runner.run(ToolCall("echo__add", {}, id="c4"))
    assert missing.status == "invalid_arguments"
    assert json.loads(missing.content)["problems"] == [
        {"field": "a", "problem": "required field missing"}
    ]


def test_tool_runner_async_path_and_arun_many_keep_order(conn: MCPConnection) -> None:
    runner = ToolRunner(conn.tools)

    async def main() -> list[str]:
        single = await runner.arun(ToolCall("echo__add", {"a": 1}, id="a"))
        assert single.status == "ok" and single.content == "2"
        hung = await runner.arun(ToolCall("echo__sleep", {"seconds": 1.5}, id="h"))
        assert hung.status == "timeout"
        calls = [ToolCall("echo__echo", {"text": str(i)}, id=str(i)) for i in range(5)]
        return [r.content for r in await runner.arun_many(calls)]

    assert asyncio.run(main()) == ["0", "1", "2", "3", "4"]


def test_async_context_manager_acall_and_plain_tool_names() -> None:
    async def main() -> tuple[set[str], str, str, int]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPToolSkipped)
            async with echo_server("aecho", tool_prefix="").connect() as conn:
                names = {t.name for t in conn.tools}
                text = await conn.acall("echo", {"text": "async"})
                by_tool = await next(t for t in conn.tools if t.name == "add").fn(a=1, b=2)
                pid = int(await conn.acall("pid"))
        return names, text, by_tool, pid

    names, text, by_tool, pid = asyncio.run(main())
    assert "echo" in names and "add" in names and not any("__" in n for n in names)
    assert (text, by_tool) == ("async", "3")
    assert wait_gone(pid)


# -- crashes, restarts, shutdown ------------------------------------------------------------------


def test_server_exiting_mid_call_is_restarted_once_then_unavailable() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPToolSkipped)
        conn = echo_server("crashy", timeout_s=5).connect().start()
    try:
        runner = ToolRunner(conn.tools)
        first_pid = int(conn.call("pid"))

        crashed = runner.run(ToolCall("crashy__crash", {}, id="1"))
        assert crashed.status == "unavailable"
        message = json.loads(crashed.content)["message"]
        assert "MCP server 'crashy'" in message and "exited during the call to 'crash'" in message
        assert "restarting it" in message

        second_pid = int(conn.call("pid"))  # waits for the restart
        assert second_pid != first_pid
        assert conn.restarts == 1 and conn.state == "ready"
        assert wait_gone(first_pid)

        again = runner.run(ToolCall("crashy__crash", {}, id="2"))
        assert again.status == "unavailable"
        assert "now unavailable" in json.loads(again.content)["message"]

        after = runner.run(ToolCall("crashy__echo", {"text": "x"}, id="3"))
        assert after.status == "unavailable"
        assert "unavailable" in json.loads(after.content)["message"]
        assert conn.state == "unavailable" and not conn.available
        assert conn.restarts == 1
        assert wait_gone(second_pid)
    finally:
        conn.close()


def test_no_restart_when_max_restarts_is_zero() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPToolSkipped)
        conn = echo_server("fragile", timeout_s=5, max_restarts=0).connect().start()
    with conn:
        with pytest.raises(MCPError, match="now unavailable"):
            conn.call("crash")
        with pytest.raises(MCPError, match="unavailable"):
            conn.call("echo", {"text": "x"})
        assert conn.restarts == 0


def test_close_stops_and_reaps_the_server_and_its_thread() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPToolSkipped)
        with echo_server("reaped").connect() as conn:
            pid = int(conn.call("pid"))
            assert not gone(pid)
            assert any(t.name == "tether-mcp-reaped" for t in threading.enumerate())
    assert wait_gone(pid, within_s=1.0)  # reaped by close(), not later
    assert not any(t.name == "tether-mcp-reaped" for t in threading.enumerate())
    assert conn.state == "closed"
    with pytest.raises(MCPError, match="closed"):
        conn.call("echo", {"text": "x"})
    conn.close()  # idempotent


def test_server_that_never_answers_gives_a_typed_error_naming_it() -> None:
    silent = MCPServer(
        "silent", command=sys.executable, args=["-c", "import sys; sys.stdin.read()"],
        startup_timeout_s=0.5,
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(MCPTimeout) as info:
        silent.connect().start()
    assert time.monotonic() - started < 5
    assert info.value.server == "silent"
    assert "did not start" in str(info.value) and "0.5 s" in str(info.value)


def test_missing_program_is_a_clear_error() -> None:
    server = MCPServer("ghost", command="/nonexistent/mcp-server", env={"API_KEY": SECRET_ENV})
    with pytest.raises(MCPError) as info:
        server.connect().start()
    assert info.value.server == "ghost"
    assert "cannot run 'mcp-server'" in str(info.value)
    assert SECRET_ENV not in str(info.value)


# -- secrets ---------------------------------------------------------------------------------------


def test_env_values_never_reach_errors_or_reprs(conn: MCPConnection) -> None:
    with pytest.raises(ToolError) as info:
        conn.call("show_env", {"name": "API_TOKEN"})  # the server puts the value in its error
    assert SECRET_ENV not in str(info.value)
    assert "[REDACTED]" in str(info.value)
    result = ToolRunner(conn.tools).run(ToolCall("echo__show_env", {"name": "API_TOKEN"}))
    assert result.status == "error" and SECRET_ENV not in result.content
    assert SECRET_ENV not in repr(conn.server) and SECRET_ENV not in repr(conn)


def test_header_values_never_reach_errors_or_reprs() -> None:
    server = MCPServer(
        "offline", url=f"http://127.0.0.1:{free_port()}/mcp",
        headers={"Authorization": f"Bearer {SECRET_HEADER}"}, startup_timeout_s=3,
    )  # fmt: skip
    assert SECRET_HEADER not in repr(server)
    with pytest.raises(MCPError) as info:
        server.connect().start()
    assert info.value.server == "offline" and "could not connect" in str(info.value)
    assert SECRET_HEADER not in str(info.value)


# -- streamable HTTP -------------------------------------------------------------------------------


def test_http_server_lists_and_calls(http_url: str) -> None:
    server = MCPServer("web", url=http_url, timeout_s=0.5, headers={"X-Api-Key": SECRET_HEADER})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPToolSkipped)
        with server.connect() as conn:
            assert "web__echo" in {t.name for t in conn.tools}
            runner = ToolRunner(conn.tools)
            assert runner.run(ToolCall("web__echo", {"text": "over http"})).content == "over http"
            failed = runner.run(ToolCall("web__fail", {"reason": "http"}))
            assert failed.status == "error" and "failed on purpose: http" in failed.content
            assert runner.run(ToolCall("web__sleep", {"seconds": 1.5})).status == "timeout"


def test_http_server_going_away_makes_tools_unavailable() -> None:
    proc, url = start_http_server()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MCPToolSkipped)
            conn = MCPServer("flaky", url=url, timeout_s=5, startup_timeout_s=3).connect().start()
        with conn:
            assert conn.call("echo", {"text": "up"}) == "up"
            proc.send_signal(signal.SIGKILL)
            proc.wait(5)
            with pytest.raises(MCPError) as info:
                conn.call("echo", {"text": "down"})
            assert info.value.server == "flaky"
            assert "went away" in str(info.value)
            with pytest.raises(MCPError, match="unavailable"):
                conn.call("echo", {"text": "still down"})
    finally:
        stop(proc)


# -- configuration and packaging -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of command"),
        ({"command": "x", "url": "http://h/mcp"}, "exactly one of command"),
        ({"command": "x", "timeout_s": 0}, "timeout_s must be a positive"),
        ({"command": "x", "startup_timeout_s": float("nan")}, "startup_timeout_s"),
        ({"command": "x", "max_restarts": -1}, "max_restarts"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(MCPError, match=match):
        MCPServer("s", **kwargs)  # type: ignore[arg-type]


def test_bad_server_name_is_refused() -> None:
    with pytest.raises(MCPError, match="server name"):
        MCPServer("has space", command="x")


def test_missing_mcp_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(MCPError, match=r"pip install 'tether\[mcp\]'"):
        MCPServer("s", command="x").connect()


def test_importing_tether_tools_does_not_import_mcp() -> None:
    code = (
        "import sys, tether, tether.tools, tether.tools.mcp\n"
        "from tether.tools import MCPServer\n"
        "MCPServer('s', command='x')\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_server_dying_between_calls_is_restarted_before_the_next_call() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPToolSkipped)
        conn = echo_server("idle", timeout_s=5).connect().start()
    with conn:
        first_pid = int(conn.call("pid"))
        os.kill(first_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not (conn.restarts == 1 and conn.state == "ready") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert conn.restarts == 1
        assert int(conn.call("pid")) != first_pid  # no error: the call went to the new server
        assert wait_gone(first_pid)


def test_call_in_flight_when_the_connection_closes_gets_a_typed_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPToolSkipped)
        conn = echo_server("closing", timeout_s=5).connect().start()
    outcome: list[BaseException | str] = []

    def call() -> None:
        try:
            outcome.append(conn.call("sleep", {"seconds": 0.6}))
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)
    conn.close()
    caller.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], MCPError)
    assert "closed" in str(outcome[0]) and outcome[0].server == "closing"
