"""Anthropic message → OpenAI chat.completion."""

from __future__ import annotations

import pytest
from openai.types.chat import ChatCompletion

from modelmux.convert import ConvertOptions, new_completion_id, to_anthropic, to_openai
from modelmux.convert.response import FINISH_REASONS, finish_reason

MODEL_ID = "claude-sonnet-4-5@20250929"


def _req(**kw):
    body = {"model": "my-alias", "messages": [{"role": "user", "content": "x"}], **kw}
    return to_anthropic(body, model_id=MODEL_ID, options=ConvertOptions())


def _msg(content, stop="end_turn", usage=None):
    return {
        "id": "msg_vrtx_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 10, "output_tokens": 5},
    }


def test_text_response_shape() -> None:
    out = to_openai(
        _msg([{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}]), _req(), created=123
    )
    ChatCompletion.model_validate(out)
    assert out["object"] == "chat.completion" and out["created"] == 123
    assert out["model"] == "my-alias"
    assert out["id"].startswith("chatcmpl-")
    assert out["service_tier"] == "default" and out["system_fingerprint"] is None
    choice = out["choices"][0]
    assert choice == {
        "index": 0,
        "message": {"role": "assistant", "content": "Hello", "refusal": None, "annotations": []},
        "logprobs": None,
        "finish_reason": "stop",
    }


def test_tool_calls_content_null_and_compact_non_ascii_arguments() -> None:
    out = to_openai(
        _msg(
            [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Zürich", "n": [1, 2]},
                }
            ],
            stop="tool_use",
        ),
        _req(),
    )
    ChatCompletion.model_validate(out)
    m = out["choices"][0]["message"]
    assert m["content"] is None
    assert m["tool_calls"] == [
        {
            "id": "toolu_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Zürich","n":[1,2]}'},
        }
    ]
    assert out["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_use_present_wins_over_end_turn() -> None:
    out = to_openai(
        _msg(
            [
                {"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "t", "name": "f", "input": {}},
            ],
            stop="end_turn",
        ),
        _req(),
    )
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["choices"][0]["message"]["content"] == "ok"
    assert out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "{}"


@pytest.mark.parametrize(
    ("stop", "want"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "stop"),  # tool_use with no client-visible call (JSON mode)
        ("refusal", "content_filter"),
        ("something_new", "stop"),
        (None, "stop"),
        (42, "stop"),
    ],
)
def test_finish_reason_map_is_total(stop, want) -> None:
    assert finish_reason(stop, False) == want
    assert finish_reason(stop, True) in ("tool_calls", "length")


def test_finish_map_values_are_openai_literals() -> None:
    assert set(FINISH_REASONS.values()) <= {"stop", "length", "tool_calls", "content_filter"}


def test_usage_all_three_input_classes() -> None:
    usage = {
        "input_tokens": 7,
        "output_tokens": 11,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
    }
    out = to_openai(_msg([{"type": "text", "text": "x"}], usage=usage), _req())
    assert out["usage"] == {
        "prompt_tokens": 1107,
        "completion_tokens": 11,
        "total_tokens": 1118,
        "prompt_tokens_details": {"cached_tokens": 1000, "audio_tokens": 0},
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
    }


def test_usage_null_cache_fields() -> None:
    usage = {
        "input_tokens": 3,
        "output_tokens": 4,
        "cache_creation_input_tokens": None,
        "cache_read_input_tokens": None,
    }
    out = to_openai(_msg([{"type": "text", "text": "x"}], usage=usage), _req())
    assert out["usage"]["prompt_tokens"] == 3 and out["usage"]["total_tokens"] == 7
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 0


def test_thinking_as_reasoning_content_and_option_off() -> None:
    content = [
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "redacted_thinking", "data": "x"},
        {"type": "text", "text": "42"},
    ]
    on = to_openai(_msg(content), _req())["choices"][0]["message"]
    assert on["reasoning_content"] == "hmm" and on["content"] == "42"
    req = to_anthropic(
        {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        model_id=MODEL_ID,
        options=ConvertOptions(reasoning_content=False),
    )
    off = to_openai(_msg(content), req)["choices"][0]["message"]
    assert "reasoning_content" not in off


def test_json_schema_forced_tool_unwrapped_exactly() -> None:
    schema = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/I"}}},
        "$defs": {"I": {"type": "string"}},
    }
    req = _req(
        response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    )
    out = to_openai(
        _msg(
            [
                {
                    "type": "tool_use",
                    "id": "t",
                    "name": "json_response",
                    "input": {"items": ["a", "é"]},
                }
            ],
            stop="tool_use",
        ),
        req,
    )
    m = out["choices"][0]
    assert m["message"]["content"] == '{"items":["a","é"]}'
    assert "tool_calls" not in m["message"]
    assert m["finish_reason"] == "stop"


def test_json_schema_non_object_root_unwrapped() -> None:
    req = _req(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "array", "items": {"type": "integer"}}},
        }
    )
    out = to_openai(
        _msg(
            [{"type": "tool_use", "id": "t", "name": "json_response", "input": {"value": [1, 2]}}],
            stop="tool_use",
        ),
        req,
    )
    assert out["choices"][0]["message"]["content"] == "[1,2]"


def test_json_mode_offered_tool_with_user_tool_call() -> None:
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    req = _req(
        tools=tools,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}},
        },
    )
    out = to_openai(
        _msg(
            [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}},
            ],
            stop="tool_use",
        ),
        req,
    )
    c = out["choices"][0]
    assert c["finish_reason"] == "tool_calls" and c["message"]["content"] == "Let me look."
    assert c["message"]["tool_calls"][0]["function"]["name"] == "lookup"


def test_json_object_passes_text_through() -> None:
    req = _req(response_format={"type": "json_object"})
    out = to_openai(_msg([{"type": "text", "text": '{"a": 1}'}]), req)
    assert out["choices"][0]["message"]["content"] == '{"a": 1}'


def test_refusal_and_empty() -> None:
    out = to_openai(_msg([], stop="refusal"), _req())
    assert out["choices"][0]["finish_reason"] == "content_filter"
    assert out["choices"][0]["message"]["content"] == ""
    ChatCompletion.model_validate(out)


def test_completion_ids_are_unique() -> None:
    ids = {new_completion_id() for _ in range(10000)}
    assert len(ids) == 10000
    assert all(i.startswith("chatcmpl-") and len(i) > 20 for i in ids)
