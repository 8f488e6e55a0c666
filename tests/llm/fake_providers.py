"""A real HTTP server on 127.0.0.1 that answers in each provider's wire format.

The provider SDKs (openai, anthropic, google-genai) talk to it over a real
socket, so everything up to the HTTP boundary runs for real: tether's
conversion, pydantic-ai's model classes, the SDK's request building, its
error mapping and its retry settings. Each server records every request it
received (path, headers, JSON body) and plays back a queue of answers; when
the queue is empty it repeats its ``default`` answer.

Answers are built with the helpers below: :func:`openai_chat`,
:func:`anthropic_message`, :func:`gemini_content` (success bodies),
:func:`openai_stream` (an SSE body), and :func:`error` for a status with a
provider-shaped error body and optional headers (``Retry-After``).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "Answer",
    "FakeServer",
    "Seen",
    "anthropic_message",
    "error",
    "gemini_content",
    "openai_chat",
    "openai_stream",
]


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, headers and a body (bytes, or JSON-ready data)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body if self.body is not None else {}).encode()


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def json(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), self.body
        return self.body


class FakeServer:
    """A threaded HTTP server on a free port of 127.0.0.1.

    Args:
        default: the answer given when the queue is empty.

    Use as a context manager; :attr:`url` is ``http://127.0.0.1:<port>``.
    """

    def __init__(self, default: Answer | None = None) -> None:
        self.default = default or Answer(404, {"error": "no answer scripted"})
        self.queue: deque[Answer] = deque()
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed ACK

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                seen = Seen(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                answer = server._record(seen)
                data = answer.encoded()
                self.send_response(answer.status)
                self.send_header("content-type", answer.content_type)
                self.send_header("content-length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def _record(self, seen: Seen) -> Answer:
        with self._lock:
            self.requests.append(seen)
            return self.queue.popleft() if self.queue else self.default

    def push(self, *answers: Answer) -> FakeServer:
        """Queue answers for the next requests, in order."""
        self.queue.extend(answers)
        return self

    @property
    def hits(self) -> int:
        """Requests received so far."""
        return len(self.requests)

    @property
    def last(self) -> Seen:
        """The latest request."""
        return self.requests[-1]

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(default: Answer | None = None) -> Iterator[FakeServer]:
    """A generator for pytest fixtures: a started server, stopped afterwards."""
    with FakeServer(default) as server:
        yield server


# -- wire formats ----------------------------------------------------------------------------------

Call = tuple[str, str, dict[str, Any]]
"""A tool call: (id, name, arguments)."""


def openai_chat(
    text: str | None = "",
    *,
    calls: tuple[Call, ...] = (),
    finish: str = "stop",
    usage: tuple[int, int, int] = (11, 7, 0),
    model: str = "gpt-4.1-mini",
) -> Answer:
    """An OpenAI Chat Completions answer (also Copilot's and any OpenAI-compatible server's)."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for i, n, a in calls
        ]
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
            "prompt_tokens_details": {"cached_tokens": usage[2]},
        },
    }
    return Answer(200, body)


def openai_stream(
    deltas: list[str], *, usage: tuple[int, int] = (5, 3), model: str = "gpt-4.1-mini"
) -> Answer:
    """An OpenAI Chat Completions SSE stream: one chunk per text delta, then usage and DONE."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": "chatcmpl-s",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(data)}\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": d}) for d in deltas]
    events.append(chunk({}, "stop"))
    tail = {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        },
    }
    events.append(f"data: {json.dumps(tail)}\n\n")
    events.append("data: [DONE]\n\n")
    return Answer(200, "".join(events).encode(), content_type="text/event-stream")


def anthropic_message(
    text: str = "",
    *,
    calls: tuple[Call, ...] = (),
    stop: str = "end_turn",
    usage: tuple[int, int, int] = (11, 7, 0),
    model: str = "claude-sonnet-4-6",
) -> Answer:
    """An Anthropic Messages answer; ``usage`` is (uncached input, output, cache read)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in calls]
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "cache_read_input_tokens": usage[2],
            "cache_creation_input_tokens": 0,
        },
    }
    return Answer(200, body)


def gemini_content(
    text: str = "",
    *,
    calls: tuple[Call, ...] = (),
    finish: str = "STOP",
    usage: tuple[int, int, int] = (11, 7, 0),
    model: str = "gemini-2.0-flash",
) -> Answer:
    """A Gemini ``generateContent`` answer; ``usage`` is (prompt, candidates, cached)."""
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts += [{"functionCall": {"id": i, "name": n, "args": a}} for i, n, a in calls]
    meta: dict[str, Any] = {
        "promptTokenCount": usage[0],
        "candidatesTokenCount": usage[1],
        "totalTokenCount": usage[0] + usage[1],
    }
    if usage[2]:
        meta["cachedContentTokenCount"] = usage[2]
    body = {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
        ],
        "usageMetadata": meta,
        "modelVersion": model,
        "responseId": "resp-1",
    }
    return Answer(200, body)


def error(
    status: int, message: str = "failed", *, flavor: str = "openai", **headers: str
) -> Answer:
    """An error answer shaped like ``flavor``'s (``openai``, ``anthropic``, ``gemini``).

    Header names are given with underscores (``retry_after="2"`` -> ``retry-after: 2``).
    """
    if flavor == "anthropic":
        kinds = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error"}
        kind = kinds.get(status, "api_error")
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
    elif flavor == "gemini":
        body = {"error": {"code": status, "message": message, "status": "ERROR"}}
    else:
        body = {"error": {"message": message, "type": "error", "code": None}}
    return Answer(status, body, {k.replace("_", "-"): v for k, v in headers.items()})
