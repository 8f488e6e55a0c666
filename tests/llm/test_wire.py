"""The real provider path up to the HTTP boundary.

Each test points ``LLM("<provider>/<model>", base_url=...)`` at a real HTTP
server on 127.0.0.1 (:mod:`tests.llm.fake_providers`) that answers in that
provider's wire format. The SDKs build and send real requests; the server
records them and counts hits, which is how "SDK retries are off" is proved:
one 429 is exactly two hits, never three or more.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("pydantic_ai")

from tests.llm.fake_providers import (
    Answer,
    FakeServer,
    anthropic_message,
    error,
    gemini_content,
    openai_chat,
    openai_stream,
    serve,
)
from tether.errors import (
    MissingKey,
    ProviderRejected,
    ProviderUnavailable,
    ToolsUnsupported,
    UnknownProvider,
)
from tether.llm import (
    LLM,
    AssistantMessage,
    RetryPolicy,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)

KEY = "sk-test-0123456789abcdef0123"
OPAQUE_KEY = (
    "opaque0123456789abcdefXYZ"  # matches no secret pattern: only the exact value can hide it
)

READ_FILE = ToolDefinition(
    "read_file",
    "Read a text file.",
    {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "relative path"},
            "limit": {"type": "integer"},
        },
        "required": ["path"],
    },
)

CONVERSATION = [
    SystemMessage("You fix builds."),
    UserMessage("Why did ./build.sh fail?"),
    AssistantMessage("Let me look.", (ToolCall("read_file", {"path": "build.sh"}, "call_1"),)),
    ToolResultMessage("call_1", "read_file", "#!/bin/sh\nmake all"),
    UserMessage("And now?"),
]


@dataclass(frozen=True)
class Wire:
    """How one provider is reached and answers."""

    model: str
    base: str  # appended to the server's URL to form base_url
    endpoint: str  # the path the SDK posts to
    ok: Callable[..., Answer]
    flavor: str
    env: str

    def __str__(self) -> str:
        return self.model.split("/")[0]


OPENAI = Wire(
    "openai/gpt-4.1-mini", "/v1", "/v1/chat/completions", openai_chat, "openai", "OPENAI_API_KEY"
)
ANTHROPIC = Wire(
    "anthropic/claude-sonnet-4-6",
    "",
    "/v1/messages",
    anthropic_message,
    "anthropic",
    "ANTHROPIC_API_KEY",
)
GEMINI = Wire(
    "gemini/gemini-2.0-flash",
    "",
    "/v1beta/models/gemini-2.0-flash:generateContent",
    gemini_content,
    "gemini",
    "GEMINI_API_KEY",
)
COPILOT = Wire(
    "copilot/gpt-4.1",
    "/copilot",
    "/copilot/chat/completions",
    openai_chat,
    "openai",
    "GITHUB_TOKEN",
)
COMPATIBLE = Wire(
    "openai-compatible/qwen2.5-coder-7b",
    "/v1",
    "/v1/chat/completions",
    openai_chat,
    "openai",
    "TETHER_LLM_API_KEY",
)
ALL = [OPENAI, ANTHROPIC, GEMINI, COPILOT, COMPATIBLE]
KEYED = [OPENAI, ANTHROPIC, GEMINI, COPILOT]


@pytest.fixture(autouse=True)
def allow_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests talk to a local server only: lift pydantic-ai's guard for them."""
    import pydantic_ai.models

    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    yield from serve()


@pytest.fixture
def server2() -> Iterator[FakeServer]:
    yield from serve()


@pytest.fixture
def make(sleeps: list[float]) -> Iterator[Callable[..., LLM]]:
    """Build LLMs with a recording sleep and a fixed jitter; close them afterwards."""
    made: list[LLM] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def build(model: str, **kwargs: Any) -> LLM:
        kwargs.setdefault("sleep", sleep)
        kwargs.setdefault("rng", lambda: 0.5)  # jitter factor exactly 1
        llm = LLM(model, **kwargs)
        made.append(llm)
        return llm

    yield build
    for llm in made:
        llm.close()


def _auth(wire: Wire, headers: dict[str, str]) -> str:
    if wire is GEMINI:
        return headers["x-goog-api-key"]
    if wire is ANTHROPIC and "x-api-key" in headers:
        return headers["x-api-key"]
    return headers["authorization"].removeprefix("Bearer ")


# -- requests as built by the SDKs ----------------------------------------------------------------


def test_openai_request_carries_key_model_messages_tools_and_limits(server, make):
    server.push(openai_chat("fine"))
    llm = make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY)
    llm.complete(CONVERSATION, [READ_FILE], max_tokens=321, temperature=0.2)

    seen = server.last
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["x-stainless-retry-count"] == "0"
    body = seen.json
    assert body["model"] == "gpt-4.1-mini"
    assert body["max_completion_tokens"] == 321
    assert body["temperature"] == 0.2
    assert body["messages"] == [
        {"role": "system", "content": "You fix builds."},
        {"role": "user", "content": "Why did ./build.sh fail?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path":"build.sh"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "#!/bin/sh\nmake all"},
        {"role": "user", "content": "And now?"},
    ]
    (fn,) = body["tools"]
    assert fn["type"] == "function"
    assert fn["function"]["name"] == "read_file"
    assert fn["function"]["description"] == "Read a text file."
    params = fn["function"]["parameters"]
    assert params["properties"] == READ_FILE.parameters["properties"]
    assert params["required"] == ["path"]


def test_anthropic_request_carries_key_system_tool_blocks_and_max_tokens(server, make):
    server.push(anthropic_message("fine"))
    llm = make(ANTHROPIC.model, base_url=server.url, api_key=KEY)
    llm.complete(CONVERSATION, [READ_FILE], max_tokens=321)

    seen = server.last
    assert seen.path == "/v1/messages"
    assert _auth(ANTHROPIC, seen.headers) == KEY
    assert seen.headers["x-stainless-retry-count"] == "0"
    assert "anthropic-version" in seen.headers
    body = seen.json
    assert body["model"] == "claude-sonnet-4-6"
    assert body["max_tokens"] == 321
    assert body["system"] == "You fix builds."
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]
    assistant = body["messages"][1]["content"]
    assert {"type": "text", "text": "Let me look."} in assistant
    use = next(b for b in assistant if b["type"] == "tool_use")
    assert (use["id"], use["name"], use["input"]) == ("call_1", "read_file", {"path": "build.sh"})
    result = next(b for b in body["messages"][2]["content"] if b["type"] == "tool_result")
    assert result["tool_use_id"] == "call_1"
    assert "make all" in str(result["content"])
    assert body["tools"] == [
        {
            "name": "read_file",
            "description": "Read a text file.",
            "input_schema": READ_FILE.parameters,
        }
    ]


def test_gemini_request_carries_key_contents_function_declarations_and_limit(server, make):
    server.push(gemini_content("fine"))
    llm = make(GEMINI.model, base_url=server.url, api_key=KEY)
    llm.complete(CONVERSATION, [READ_FILE], max_tokens=321, temperature=0.0)

    seen = server.last
    assert seen.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert seen.headers["x-goog-api-key"] == KEY
    body = seen.json
    assert body["systemInstruction"]["parts"] == [{"text": "You fix builds."}]
    assert body["generationConfig"]["maxOutputTokens"] == 321
    assert body["generationConfig"]["temperature"] == 0.0
    roles = [c["role"] for c in body["contents"]]
    assert roles[:2] == ["user", "model"] and set(roles[2:]) == {"user"}
    call = next(p for p in body["contents"][1]["parts"] if "functionCall" in p)["functionCall"]
    assert (call["name"], call["args"]) == ("read_file", {"path": "build.sh"})
    later = [p for c in body["contents"][2:] for p in c["parts"]]
    answer = next(p for p in later if "functionResponse" in p)
    assert answer["functionResponse"]["name"] == "read_file"
    assert {"text": "And now?"} in later
    (decl,) = body["tools"][0]["functionDeclarations"]
    assert decl["name"] == "read_file"
    assert decl["description"] == "Read a text file."
    schema = decl.get("parameters_json_schema") or decl.get("parametersJsonSchema")
    assert schema == READ_FILE.parameters


def test_copilot_request_goes_to_its_base_url_with_integration_header(server, make, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", KEY)
    server.push(openai_chat("fine", model="gpt-4.1"))
    llm = make(COPILOT.model, base_url=server.url + "/copilot")
    reply = llm.complete([UserMessage("hi")], [READ_FILE], max_tokens=64)

    seen = server.last
    assert seen.path == "/copilot/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["copilot-integration-id"] == "vscode-chat"
    assert seen.json["model"] == "gpt-4.1"
    assert seen.json["max_completion_tokens"] == 64
    assert seen.json["tools"][0]["function"]["name"] == "read_file"
    assert reply.text == "fine"
    assert reply.model == "copilot/gpt-4.1"


def test_openai_compatible_server_from_env_needs_no_key(server, make, monkeypatch):
    monkeypatch.setenv("TETHER_LLM_BASE_URL", server.url + "/v1")
    server.push(openai_chat("local answer"))
    reply = make(COMPATIBLE.model).complete([UserMessage("hi")])
    assert server.last.path == "/v1/chat/completions"
    assert server.last.json["model"] == "qwen2.5-coder-7b"
    assert reply.text == "local answer"
    assert reply.cost_usd is None  # local models are not in the price table


def test_ollama_base_url_from_env(server, make, monkeypatch):
    monkeypatch.setenv("OLLAMA_BASE_URL", server.url + "/v1")
    server.push(openai_chat("llama says hi"))
    reply = make("ollama/llama3.2").complete([UserMessage("hi")])
    assert server.last.json["model"] == "llama3.2"
    assert reply.text == "llama says hi"


@pytest.mark.parametrize("wire", KEYED, ids=str)
def test_key_is_read_from_the_providers_env_var(wire, server, make, monkeypatch):
    monkeypatch.setenv(wire.env, KEY)
    server.push(wire.ok("from env"))
    reply = make(wire.model, base_url=server.url + wire.base).complete([UserMessage("hi")])
    assert reply.text == "from env"
    assert _auth(wire, server.last.headers) == KEY


@pytest.mark.parametrize(
    ("wire", "env"),
    [
        (GEMINI, "GOOGLE_API_KEY"),
        (COPILOT, "GITHUB_COPILOT_API_KEY"),
        (COPILOT, "COPILOT_GITHUB_TOKEN"),
    ],
    ids=lambda v: str(v),
)
def test_alternative_key_variables(wire, env, server, make, monkeypatch):
    monkeypatch.setenv(env, KEY)
    server.push(wire.ok("ok"))
    make(wire.model, base_url=server.url + wire.base).complete([UserMessage("hi")])
    assert _auth(wire, server.last.headers) == KEY


def test_explicit_key_beats_the_environment(server, make, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-000000000000000000")
    server.push(openai_chat("ok"))
    make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY).complete([UserMessage("hi")])
    assert server.last.headers["authorization"] == f"Bearer {KEY}"


# -- responses parsed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "answer", "usage"),
    [
        (
            OPENAI,
            openai_chat(
                "Reading.",
                calls=(("c1", "read_file", {"path": "a.txt", "limit": 5}),),
                finish="tool_calls",
                usage=(120, 30, 100),
            ),
            (120, 30, 100),
        ),
        (
            ANTHROPIC,
            # Anthropic reports uncached input apart from cache reads; tether's input includes both.
            anthropic_message(
                "Reading.",
                calls=(("c1", "read_file", {"path": "a.txt", "limit": 5}),),
                stop="tool_use",
                usage=(20, 30, 100),
            ),
            (120, 30, 100),
        ),
        (
            GEMINI,
            gemini_content(
                "Reading.",
                calls=(("c1", "read_file", {"path": "a.txt", "limit": 5}),),
                usage=(120, 30, 100),
            ),
            (120, 30, 100),
        ),
        (
            COPILOT,
            openai_chat(
                "Reading.",
                calls=(("c1", "read_file", {"path": "a.txt", "limit": 5}),),
                finish="tool_calls",
                usage=(120, 30, 100),
            ),
            (120, 30, 100),
        ),
    ],
    ids=lambda v: str(v) if isinstance(v, Wire) else "",
)
def test_tool_call_response_is_parsed(wire, answer, usage, server, make):
    server.push(answer)
    llm = make(wire.model, base_url=server.url + wire.base, api_key=KEY)
    reply = llm.complete([UserMessage("read a.txt")], [READ_FILE])

    assert reply.text == "Reading."
    assert len(reply.tool_calls) == 1
    call = reply.tool_calls[0]
    assert (call.name, call.arguments) == ("read_file", {"path": "a.txt", "limit": 5})
    assert call.id == "c1"
    assert reply.finish_reason == "tool_calls"
    got = reply.usage
    assert (got.input_tokens, got.output_tokens, got.cache_read_tokens) == usage
    assert got.requests == 1 and reply.attempts == 1
    assert reply.model == wire.model
    assert llm.usage.input_tokens == usage[0]


@pytest.mark.parametrize(
    ("wire", "answer"),
    [
        (OPENAI, openai_chat("cut", finish="length")),
        (ANTHROPIC, anthropic_message("cut", stop="max_tokens")),
        (GEMINI, gemini_content("cut", finish="MAX_TOKENS")),
    ],
    ids=lambda v: str(v) if isinstance(v, Wire) else "",
)
def test_output_limit_is_finish_reason_length(wire, answer, server, make):
    server.push(answer)
    reply = make(wire.model, base_url=server.url + wire.base, api_key=KEY).complete(
        [UserMessage("write a novel")], max_tokens=3
    )
    assert (reply.text, reply.finish_reason) == ("cut", "length")


@pytest.mark.parametrize("wire", [OPENAI, ANTHROPIC, GEMINI], ids=str)
def test_plain_text_answer_is_stop_and_priced(wire, server, make):
    server.push(wire.ok("All good.", usage=(1_000_000, 0, 0)))
    reply = make(wire.model, base_url=server.url + wire.base, api_key=KEY).complete(
        [UserMessage("hi")]
    )
    assert (reply.text, reply.tool_calls, reply.finish_reason) == ("All good.", [], "stop")
    price = make(wire.model).prices.price(wire.model)
    assert price is not None
    assert reply.cost_usd == pytest.approx(price.input)


def test_malformed_tool_arguments_reach_the_caller_as_text(server, make):
    body = openai_chat(calls=(("c1", "read_file", {}),), finish="tool_calls").body
    body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = '{"path": "a.txt"'
    server.push(Answer(200, body))
    reply = make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY).complete(
        [UserMessage("hi")], [READ_FILE]
    )
    assert reply.tool_calls[0].arguments == '{"path": "a.txt"'


# -- retries, fallback, rejections -----------------------------------------------------------------


@pytest.mark.parametrize("wire", ALL, ids=str)
def test_429_with_retry_after_is_retried_exactly_once(wire, server, make, sleeps):
    server.push(error(429, "slow down", flavor=wire.flavor, retry_after="7"), wire.ok("done"))
    llm = make(wire.model, base_url=server.url + wire.base, api_key=KEY)
    reply = llm.complete([UserMessage("hi")])

    assert reply.text == "done"
    assert server.hits == 2  # the SDK did not retry on its own
    assert len(sleeps) == 1 and sleeps[0] >= 7.0
    assert reply.attempts == 2 and reply.usage.requests == 2


def test_retry_after_beyond_max_wait_falls_back_without_sleeping(server, server2, make, sleeps,
                                                                  monkeypatch):  # fmt: skip
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.push(error(429, "come back in an hour", flavor="anthropic", retry_after="3600"))
    server2.push(openai_chat("secondary"))
    llm = make(ANTHROPIC.model, base_url=server.url, api_key=KEY, secondary=OPENAI.model,
               secondary_base_url=server2.url + "/v1", retry=RetryPolicy(max_wait_s=60))  # fmt: skip
    reply = llm.complete([UserMessage("hi")])
    assert reply.text == "secondary"
    assert (server.hits, server2.hits, sleeps) == (1, 1, [])


@pytest.mark.parametrize("wire", ALL, ids=str)
def test_500_on_primary_falls_back_to_secondary(wire, server, server2, make, sleeps, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.default = error(500, "boom", flavor=wire.flavor)
    server2.push(openai_chat("from the secondary", model="gpt-4o-mini"))
    llm = make(wire.model, base_url=server.url + wire.base, api_key=KEY,
               secondary="openai/gpt-4o-mini", secondary_base_url=server2.url + "/v1",
               retry=RetryPolicy(attempts=2, backoff_s=1.0))  # fmt: skip
    reply = llm.complete([UserMessage("hi")])

    assert reply.text == "from the secondary"
    assert reply.model == "openai/gpt-4o-mini"
    assert (server.hits, server2.hits) == (2, 1)
    assert sleeps == [1.0]
    assert reply.attempts == 3
    assert server2.last.json["model"] == "gpt-4o-mini"


def test_500_without_secondary_is_unavailable_after_the_attempts(server, make, sleeps):
    server.default = error(503, "overloaded")
    llm = make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY,
               retry=RetryPolicy(attempts=3, backoff_s=0.5))  # fmt: skip
    with pytest.raises(ProviderUnavailable) as info:
        llm.complete([UserMessage("hi")])
    assert server.hits == 3
    assert sleeps == [0.5, 1.0]
    assert info.value.attempts == 3
    assert "503" in str(info.value)


@pytest.mark.parametrize("wire", ALL, ids=str)
@pytest.mark.parametrize(("status", "kind"), [(400, "bad_request"), (401, "auth")])
def test_400_and_401_are_never_retried(wire, status, kind, server, make, sleeps):
    server.default = error(status, "no such parameter", flavor=wire.flavor)
    llm = make(wire.model, base_url=server.url + wire.base, api_key=KEY)
    with pytest.raises(ProviderRejected) as info:
        llm.complete([UserMessage("hi")])
    assert server.hits == 1
    assert sleeps == []
    assert (info.value.status, info.value.kind) == (status, kind)
    assert info.value.provider == wire.model.split("/")[0]


def test_rejected_primary_falls_back_once_to_the_secondary(server, server2, make, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    server.default = error(401, "bad key", flavor="anthropic")
    server2.push(gemini_content("gemini here"))
    llm = make(ANTHROPIC.model, base_url=server.url, api_key=KEY, secondary=GEMINI.model,
               secondary_base_url=server2.url)  # fmt: skip
    reply = llm.complete([UserMessage("hi")])
    assert reply.text == "gemini here"
    assert (server.hits, server2.hits) == (1, 1)


def test_context_window_error_is_rejected_with_its_kind(server, make):
    server.default = error(
        400,
        "This model's maximum context length is 128000 tokens.",
        flavor="openai",
    )
    server.default.body["error"]["code"] = "context_length_exceeded"
    llm = make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY)
    with pytest.raises(ProviderRejected) as info:
        llm.complete([UserMessage("x" * 100)])
    assert server.hits == 1
    assert info.value.kind in ("context_window", "bad_request")


# -- configuration errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("wire", KEYED, ids=str)
def test_missing_key_is_raised_at_first_use_naming_the_variable(wire, server, make):
    llm = make(wire.model, base_url=server.url + wire.base)  # constructing is fine
    with pytest.raises(MissingKey) as info:
        llm.complete([UserMessage("hi")])
    assert wire.env in str(info.value)
    assert wire.env in info.value.env
    assert server.hits == 0


def test_openai_compatible_without_address_names_the_variable(make):
    llm = make(COMPATIBLE.model)
    with pytest.raises(MissingKey, match="TETHER_LLM_BASE_URL"):
        llm.complete([UserMessage("hi")])


def test_unknown_provider_suggests_the_closest_name():
    with pytest.raises(UnknownProvider) as info:
        LLM("antropic/claude-sonnet-4-6")
    assert "did you mean 'anthropic'" in str(info.value)
    assert info.value.provider == "antropic"


def test_model_without_provider_prefix_lists_the_providers():
    with pytest.raises(UnknownProvider, match=r"provider prefix.*anthropic"):
        LLM("gpt-4o")


# -- tools on local servers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "registry.ollama.ai/library/gemma:2b does not support tools",
        "tools param requires --jinja flag",
        '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
    ],
)
def test_local_server_refusing_tools_raises_tools_unsupported(message, server, make):
    server.default = error(400, message)
    llm = make(COMPATIBLE.model, base_url=server.url + "/v1")
    with pytest.raises(ToolsUnsupported, match="cannot call tools"):
        llm.complete([UserMessage("hi")], [READ_FILE])
    assert server.hits == 1


def test_tools_hint_without_tools_is_a_plain_rejection(server, make):
    server.default = error(400, "does not support tools")
    llm = make(COMPATIBLE.model, base_url=server.url + "/v1")
    with pytest.raises(ProviderRejected):
        llm.complete([UserMessage("hi")])


def test_cloud_provider_mentioning_tools_is_a_plain_rejection(server, make):
    server.default = error(400, "tools[0].function.name: invalid")
    llm = make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY)
    with pytest.raises(ProviderRejected) as info:
        llm.complete([UserMessage("hi")], [READ_FILE])
    assert not isinstance(info.value, ToolsUnsupported)


# -- streaming ----------------------------------------------------------------------------------------


def test_openai_stream_delivers_deltas_in_order(server, make):
    server.push(openai_stream(["The ", "build ", "needs ", "make."], usage=(40, 4)))
    deltas: list[str] = []
    llm = make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY)
    reply = llm.complete([UserMessage("hi")], on_delta=deltas.append)

    assert deltas == ["The ", "build ", "needs ", "make."]
    assert reply.text == "The build needs make."
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (40, 4)
    assert server.last.json["stream"] is True


def test_stream_is_retried_after_a_429(server, make, sleeps):
    server.push(error(429, "slow", retry_after="2"), openai_stream(["ok"]))
    deltas: list[str] = []
    llm = make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY)
    reply = llm.complete([UserMessage("hi")], on_delta=deltas.append)
    assert (reply.text, deltas, server.hits) == ("ok", ["ok"], 2)
    assert sleeps[0] >= 2.0


def test_acomplete_on_the_callers_loop(server, make):
    server.push(openai_chat("async"), openai_chat("again"))
    llm = make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY)
    assert asyncio.run(llm.acomplete([UserMessage("hi")])).text == "async"
    assert asyncio.run(llm.acomplete([UserMessage("hi")])).text == "again"  # a new loop


# -- secrets --------------------------------------------------------------------------------------------


def _everything_printed(exc: BaseException) -> str:
    return "\n".join(
        [str(exc), repr(exc), *traceback.format_exception(type(exc), exc, exc.__traceback__)]
    )


@pytest.mark.parametrize("wire", ALL, ids=str)
@pytest.mark.parametrize("key", [KEY, OPAQUE_KEY])
@pytest.mark.parametrize("status", [401, 500])
def test_errors_and_reprs_never_contain_the_key(wire, key, status, server, make):
    # A server that echoes the key back (some proxies do) must not get it into tether's errors.
    server.default = error(status, f"invalid api key {key} for this project", flavor=wire.flavor)
    llm = make(wire.model, base_url=server.url + wire.base, api_key=key,
               retry=RetryPolicy(attempts=1))  # fmt: skip
    with pytest.raises((ProviderRejected, ProviderUnavailable)) as info:
        llm.complete([UserMessage("hi")])
    printed = _everything_printed(info.value)
    assert key not in printed
    assert key not in repr(llm)
    assert key not in repr(llm.slots)


def test_env_key_is_absent_from_missing_key_and_reprs(server, make, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", OPAQUE_KEY)
    server.default = error(401, f"bad key {OPAQUE_KEY}", flavor="anthropic")
    llm = make(ANTHROPIC.model, base_url=server.url)
    with pytest.raises(ProviderRejected) as info:
        llm.complete([UserMessage("hi")])
    assert OPAQUE_KEY not in _everything_printed(info.value)
    assert OPAQUE_KEY not in repr(llm)


# -- connection failures ----------------------------------------------------------------------------


@pytest.fixture
def closed_port_url() -> str:
    """An address where nothing listens: connections are refused at once."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("wire", [OPENAI, ANTHROPIC, GEMINI], ids=str)
def test_connection_refused_is_transient_and_retried(wire, closed_port_url, make, sleeps):
    # google-genai lets httpx's ConnectError through unwrapped: it must still count as transient.
    llm = make(wire.model, base_url=closed_port_url + wire.base, api_key=KEY,
               retry=RetryPolicy(attempts=3, backoff_s=1.0))  # fmt: skip
    with pytest.raises(ProviderUnavailable) as info:
        llm.complete([UserMessage("hi")])
    assert info.value.attempts == 3
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("wire", [OPENAI, GEMINI], ids=str)
def test_connection_refused_falls_back(wire, closed_port_url, server, make, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.push(openai_chat("reachable"))
    llm = make(wire.model, base_url=closed_port_url + wire.base, api_key=KEY,
               secondary=OPENAI.model, secondary_base_url=server.url + "/v1",
               retry=RetryPolicy(attempts=2))  # fmt: skip
    assert llm.complete([UserMessage("hi")]).text == "reachable"
    assert server.hits == 1


def test_model_requests_guard_is_not_mistaken_for_a_provider_error(server, make, monkeypatch):
    import pydantic_ai.models

    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", False)
    llm = make(OPENAI.model, base_url=server.url + "/v1", api_key=KEY, secondary=OPENAI.model)
    with pytest.raises(RuntimeError, match="ALLOW_MODEL_REQUESTS"):
        llm.complete([UserMessage("hi")])
    assert server.hits == 0


def test_missing_primary_key_is_raised_not_hidden_by_the_secondary(server, make, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    llm = make(ANTHROPIC.model, base_url=server.url, secondary=OPENAI.model,
               secondary_base_url=server.url + "/v1")  # fmt: skip
    with pytest.raises(MissingKey, match="ANTHROPIC_API_KEY"):
        llm.complete([UserMessage("hi")])
    assert server.hits == 0


def test_tools_unsupported_still_counts_the_request(server, make):
    server.default = error(400, "does not support tools")
    llm = make(COMPATIBLE.model, base_url=server.url + "/v1")
    with pytest.raises(ToolsUnsupported):
        llm.complete([UserMessage("hi")], [READ_FILE])
    assert llm.usage.requests == 1
