"""Message shapes, their JSON round trip, and that importing them loads no provider code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.llm.types import (
    AssistantMessage,
    LLMResponse,
    Message,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
    message_from_dict,
    message_to_dict,
)

_json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_arguments = st.dictionaries(st.text(max_size=10), _json, max_size=4) | st.text(max_size=30)
_calls = st.builds(ToolCall, st.text(min_size=1, max_size=20), _arguments, st.text(max_size=12))
messages = st.one_of(
    st.builds(SystemMessage, st.text()),
    st.builds(UserMessage, st.text()),
    st.builds(AssistantMessage, st.text(), st.lists(_calls, max_size=3).map(tuple)),
    st.builds(ToolResultMessage, st.text(), st.text(), st.text(), st.booleans()),
)


@given(messages)
def test_message_round_trips_through_json(message: Message):
    data = json.loads(json.dumps(message_to_dict(message)))
    assert message_from_dict(data) == message


def test_assistant_dict_shape():
    message = AssistantMessage("ok", (ToolCall("read_file", {"path": "a"}, "c1"),))
    assert message_to_dict(message) == {
        "role": "assistant",
        "text": "ok",
        "tool_calls": [{"name": "read_file", "arguments": {"path": "a"}, "id": "c1"}],
    }


def test_missing_optional_fields_take_defaults():
    assert message_from_dict({"role": "assistant"}) == AssistantMessage()
    assert message_from_dict(
        {"role": "assistant", "tool_calls": [{"name": "t", "arguments": {}}]}
    ) == (AssistantMessage("", (ToolCall("t", {}, ""),)))
    assert message_from_dict({"role": "tool", "call_id": "c", "name": "t", "content": "x"}) == (
        ToolResultMessage("c", "t", "x", False)
    )


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"role": "robot", "text": "x"}, "unknown message role 'robot'"),
        ({"text": "x"}, "unknown message role None"),
        ({"role": "user"}, "role 'user': missing or bad field 'text'"),
        ({"role": "tool", "name": "t", "content": "x"}, "'call_id'"),
        ({"role": "assistant", "tool_calls": ["read_file"]}, "role 'assistant'"),
    ],
)
def test_bad_dicts_are_value_errors(data, match):
    with pytest.raises(ValueError, match=match):
        message_from_dict(data)


def test_usage_adds_up():
    total = Usage()
    total.add(Usage(10, 2, 5, 1, 1))
    total.add(Usage(20, 3, 0, 0, 2))
    assert total == Usage(30, 5, 5, 1, 3)
    assert total.total_tokens == 35


def test_response_becomes_the_next_assistant_turn():
    calls = [ToolCall("grep", {"pattern": "x"}, "c9")]
    response = LLMResponse("looking", calls, "tool_calls")
    assert response.message() == AssistantMessage("looking", tuple(calls))


def test_messages_are_immutable():
    with pytest.raises(AttributeError):
        UserMessage("x").text = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    "code",
    [
        "import tether",
        "import tether.llm",
        "import tether.llm.types, tether.llm.providers",
        "from tether.llm import LLM, UserMessage; LLM('openai/gpt-4o')",
    ],
)
def test_importing_loads_no_provider_code(code):
    probe = (
        f"import sys\n{code}\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic_ai', 'openai', 'anthropic', 'google', 'httpx', 'httpx2'))\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
