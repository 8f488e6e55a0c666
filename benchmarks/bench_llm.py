"""Overhead of one model call through ``tether.llm.LLM``, tool schema and validation costs.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_llm.py [--calls 300] [--rounds 7] [--runs 15]

**Model call.** The same one-message request (no tools, ``max_tokens=64``) to an
OpenAI-compatible endpoint that answers at once with a canned Chat Completions
body, sent two ways on the same endpoint:

- *direct*: ``pydantic_ai.direct.model_request`` on an ``OpenAIChatModel`` whose
  ``AsyncOpenAI`` client is built like tether's (``max_retries=0``), messages
  already in pydantic-ai's form;
- *tether*: ``LLM("openai/gpt-4.1-mini").acomplete([UserMessage(...)])``, which
  also converts the messages, classifies, converts the answer back, and
  accounts usage and cost.

Two endpoints: an in-process ``httpx2.MockTransport`` given as ``http_client``
(no socket: the noise-free comparison), and a real ``ThreadingHTTPServer`` on
127.0.0.1 (each side with its own SDK client and keep-alive pool). The sync
``LLM.complete`` (a private loop thread) is compared with
``direct.model_request_sync``. Each side runs ``--calls`` calls per round,
alternating, for ``--rounds`` rounds after a warm-up; the best round of each is
taken. Ratio = tether / direct; target <= 1.2.

**Tools.** ``Tool.from_function`` on a 4-parameter function (µs per build),
``ToolRunner._prepare`` (validation of one call's arguments) and
``ToolRunner.arun`` (validation + running a trivial tool), µs per call.

**Import.** ``python -c "import tether"`` median wall time over ``--runs``, net of
``python -c pass``, and whether it loaded pydantic-ai or an SDK (it must not).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

TARGET_RATIO = 1.2
MODEL = "gpt-4.1-mini"
BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The build needs make."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
).encode()


# -- endpoints ---------------------------------------------------------------------------------------


def mock_client() -> Any:
    import httpx2

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=BODY, headers={"content-type": "application/json"})

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handler), timeout=30)


class Server:
    """A keep-alive HTTP server on 127.0.0.1 answering every POST with ``BODY``."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- the two sides -----------------------------------------------------------------------------------


def direct_model(base_url: str, http_client: Any) -> Any:
    from openai import AsyncOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    client = AsyncOpenAI(api_key="bench-key", base_url=base_url, max_retries=0, timeout=120.0,
                         http_client=http_client)  # fmt: skip
    return OpenAIChatModel(MODEL, provider=OpenAIProvider(openai_client=client))


def sides(base_url: str, http_client: Any) -> tuple[Callable[[], Awaitable[Any]], ...]:
    from pydantic_ai import direct
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    from tether.llm import LLM, UserMessage

    model = direct_model(base_url, http_client)
    wire = [ModelRequest(parts=[UserPromptPart("Why did make fail?")])]
    llm = LLM(f"openai/{MODEL}", api_key="bench-key", base_url=base_url, http_client=http_client)
    messages = [UserMessage("Why did make fail?")]

    async def via_direct() -> Any:
        return await direct.model_request(
            model, wire, model_settings={"max_tokens": 64}, instrument=False
        )

    async def via_tether() -> Any:
        return await llm.acomplete(messages, max_tokens=64)

    return via_direct, via_tether


async def race(calls: int, rounds: int, *fns: Callable[[], Awaitable[Any]]) -> list[float]:
    """Best µs per call of each function, rounds alternating between them."""
    for fn in fns:  # warm-up: connections, imports, caches
        for _ in range(max(10, calls // 10)):
            await fn()
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(calls):
                await fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / calls * 1e6)
    return best


def race_sync(
    calls: int, rounds: int, base_url: str, http: Literal["mock", "server"]
) -> list[float]:
    """``direct.model_request_sync`` vs ``LLM.complete``, best µs per call."""
    from pydantic_ai import direct
    from pydantic_ai.messages import ModelRequest, UserPromptPart

    from tether.llm import LLM, UserMessage

    model = direct_model(base_url, mock_client() if http == "mock" else None)
    wire = [ModelRequest(parts=[UserPromptPart("Why did make fail?")])]
    llm = LLM(f"openai/{MODEL}", api_key="bench-key", base_url=base_url,
              http_client=mock_client() if http == "mock" else None)  # fmt: skip
    messages = [UserMessage("Why did make fail?")]
    fns: list[Callable[[], Any]] = [
        lambda: direct.model_request_sync(
            model, wire, model_settings={"max_tokens": 64}, instrument=False
        ),
        lambda: llm.complete(messages, max_tokens=64),
    ]
    for fn in fns:
        for _ in range(max(10, calls // 10)):
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best[i] = min(best[i], (time.perf_counter() - t0) / calls * 1e6)
    llm.close()
    return best


# -- tools -------------------------------------------------------------------------------------------


def bench_tools(loops: int) -> list[tuple[str, float]]:
    from tether.llm import ToolCall
    from tether.tools import Tool
    from tether.tools.invoke import ToolRunner

    def grep(pattern: str, path: str = ".", max_hits: int = 50, ignore_case: bool = False) -> str:
        """Search files for a pattern.

        Args:
            pattern: the regular expression.
            path: where to search.
            max_hits: stop after this many matches.
            ignore_case: match case-insensitively.
        """
        return pattern

    def echo(text: str) -> str:
        """Return the text."""
        return text

    build_us = min(timeit.repeat(lambda: Tool.from_function(grep), number=loops, repeat=5))
    runner = ToolRunner([Tool.from_function(grep), Tool.from_function(echo)])
    grep_call = ToolCall("grep", {"pattern": "TODO", "path": "src", "max_hits": 5}, "c1")
    echo_call = ToolCall("echo", {"text": "hi"}, "c2")
    json_call = ToolCall("grep", '{"pattern": "TODO", "ignore_case": true}', "c3")
    prep = min(timeit.repeat(lambda: runner._prepare(grep_call), number=loops * 10, repeat=5))
    prep_json = min(timeit.repeat(lambda: runner._prepare(json_call), number=loops * 10, repeat=5))

    async def run_many(n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await runner.arun(echo_call)
        return time.perf_counter() - t0

    arun = min(asyncio.run(run_many(loops)) for _ in range(5))
    return [
        ("Tool.from_function, 4 parameters + docstring", build_us / loops * 1e6),
        ("ToolRunner._prepare, dict arguments (validate)", prep / (loops * 10) * 1e6),
        ("ToolRunner._prepare, JSON-text arguments", prep_json / (loops * 10) * 1e6),
        ("ToolRunner.arun, trivial tool (validate + run)", arun / loops * 1e6),
    ]


# -- import ------------------------------------------------------------------------------------------


def bench_import(runs: int) -> tuple[float, float, list[str]]:
    def median_ms(code: str) -> float:
        subprocess.run([sys.executable, "-c", code], check=True)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    probe = (
        "import sys, tether, tether.llm\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic_ai', 'openai', 'anthropic', 'google', 'httpx', 'httpx2'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return median_ms("import tether"), median_ms("pass"), json.loads(out.stdout.replace("'", '"'))


# -- main --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per side per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tool-loops", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=15, help="import timing subprocesses")
    args = parser.parse_args()

    import pydantic_ai.models

    pydantic_ai.models.ALLOW_MODEL_REQUESTS = True
    rows: list[tuple[str, float, float]] = []

    async def async_rows() -> None:
        direct_fn, tether_fn = sides("http://bench.invalid/v1", mock_client())
        print("acomplete, MockTransport ...", file=sys.stderr)
        rows.append(("acomplete, httpx2.MockTransport", *await race(args.calls, args.rounds,
                                                                   direct_fn, tether_fn)))  # fmt: skip
        server = Server()
        try:
            direct_fn, tether_fn = sides(server.url, None)
            print("acomplete, 127.0.0.1 server ...", file=sys.stderr)
            rows.append(("acomplete, 127.0.0.1 HTTP server", *await race(args.calls, args.rounds,
                                                                        direct_fn, tether_fn)))  # fmt: skip
        finally:
            server.stop()

    asyncio.run(async_rows())
    print("complete (sync) ...", file=sys.stderr)
    rows.append(("complete, httpx2.MockTransport",
                 *race_sync(args.calls, args.rounds, "http://bench.invalid/v1", "mock")))  # fmt: skip
    server = Server()
    try:
        rows.append(("complete, 127.0.0.1 HTTP server",
                     *race_sync(args.calls, args.rounds, server.url, "server")))  # fmt: skip
    finally:
        server.stop()

    print("tools ...", file=sys.stderr)
    tools = bench_tools(args.tool_loops)
    print("import ...", file=sys.stderr)
    import_ms, bare_ms, heavy = bench_import(args.runs)

    print(f"\nLLM call overhead (best of {args.rounds} rounds x {args.calls} calls, "
          f"python {sys.version.split()[0]})\n")  # fmt: skip
    print("| call | direct µs | tether µs | overhead µs | ratio | target | verdict |")
    print("|---|---|---|---|---|---|---|")
    for label, direct_us, tether_us in rows:
        ratio = tether_us / direct_us
        verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
        print(f"| {label} | {direct_us:.0f} | {tether_us:.0f} | {tether_us - direct_us:.0f} | "
              f"{ratio:.2f}x | <= {TARGET_RATIO}x | {verdict} |")  # fmt: skip
    print("\n| tools | µs per call |")
    print("|---|---|")
    for label, us in tools:
        print(f"| {label} | {us:.1f} |")
    print("\n| import | median ms | net of bare python ms | provider modules loaded |")
    print("|---|---|---|---|")
    print(f"| `import tether` | {import_ms:.0f} | {import_ms - bare_ms:.0f} | "
          f"{', '.join(heavy) or 'none'} |")  # fmt: skip


if __name__ == "__main__":
    main()
