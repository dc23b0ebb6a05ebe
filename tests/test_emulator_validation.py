"""validate_messages_request: each Vertex rule rejects, and realistic bodies pass (pure, no I/O)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from emulator_support import MODEL, Emu, emu, make_body

from modelmux.emulator import ValidationFailed, validate_messages_request
from modelmux.emulator.validation import model_rules, validate_count_tokens_request

__all__ = ["emu"]

PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
TOOL = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}
TOOL2 = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}
THINK = {"type": "thinking", "thinking": "hmm", "signature": "sig"}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def tool_use(tool_id: str = "toolu_1", name: str = "get_weather", inp: Any = None) -> dict:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": {} if inp is None else inp}


def tool_result(tool_id: str = "toolu_1", content: Any = "sunny") -> dict:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content}


def with_messages(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = make_body(**extra)
    body["messages"] = list(messages)
    return body


def tool_loop(**extra: Any) -> dict[str, Any]:
    return with_messages(
        user("weather?"),
        assistant([tool_use()]),
        user([tool_result()]),
        tools=[TOOL],
        **extra,
    )


VALID: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("minimal", make_body(), {}),
    ("stream", make_body(stream=True), {"streaming": True}),
    ("string system", make_body(system="be brief"), {}),
    ("block system", make_body(system=[{"type": "text", "text": "be brief"}]), {}),
    ("sampling", make_body(temperature=0.0, top_k=5, stop_sequences=["END"]), {}),
    ("top_p alone on new model", make_body(top_p=0.5), {"model": MODEL}),
    (
        "both on old model",
        make_body(temperature=1, top_p=0.9),
        {"model": "claude-sonnet-4@20250514"},
    ),
    ("both without model", make_body(temperature=1, top_p=0.9), {}),
    ("metadata", make_body(metadata={"user_id": "u-1"}), {}),
    ("prefill", with_messages(user("hi"), assistant("Sure")), {}),
    ("empty final assistant", with_messages(user("hi"), assistant("")), {}),
    ("image", make_body([{"type": "image", "source": PNG}, {"type": "text", "text": "what?"}]), {}),
    (
        "pdf and text documents",
        make_body(
            [
                {
                    "type": "document",
                    "source": {
                        "type": "base64",
                        "media_type": "application/pdf",
                        "data": "JVBERi0=",
                    },
                },
                {
                    "type": "document",
                    "title": "t",
                    "source": {"type": "text", "media_type": "text/plain", "data": "plain"},
                },
                {"type": "text", "text": "summarise"},
            ]
        ),
        {},
    ),
    ("tool loop", tool_loop(), {}),
    (
        "parallel tools, results first then text",
        with_messages(
            user("go"),
            assistant(
                [{"type": "text", "text": "calling"}, tool_use("a_1"), tool_use("b-2", "lookup")]
            ),
            user(
                [
                    tool_result("b-2"),
                    tool_result("a_1", [{"type": "text", "text": "ok"}]),
                    {"type": "text", "text": "thanks"},
                ]
            ),
            tools=[TOOL, TOOL2],
        ),
        {},
    ),
    (
        "tool_result is_error",
        with_messages(
            user("go"),
            assistant([tool_use()]),
            user(
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "is_error": True,
                        "content": "x",
                    }
                ]
            ),
            tools=[TOOL],
        ),
        {},
    ),
    ("tool_choice auto", make_body(tools=[TOOL], tool_choice={"type": "auto"}), {}),
    (
        "tool_choice any",
        make_body(tools=[TOOL], tool_choice={"type": "any", "disable_parallel_tool_use": True}),
        {},
    ),
    (
        "tool_choice tool",
        make_body(tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather"}),
        {},
    ),
    ("tool_choice none", make_body(tools=[TOOL], tool_choice={"type": "none"}), {}),
    (
        "thinking enabled",
        make_body(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 1024}),
        {},
    ),
    (
        "thinking adaptive new model",
        make_body(thinking={"type": "adaptive"}),
        {"model": "claude-opus-4-6"},
    ),
    ("thinking disabled", make_body(thinking={"type": "disabled"}), {}),
    (
        "thinking tool loop with thinking block",
        with_messages(
            user("w?"),
            assistant([THINK, tool_use()]),
            user([tool_result()]),
            tools=[TOOL],
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 2048},
        ),
        {},
    ),
    (
        "redacted thinking passed back",
        with_messages(
            user("a"),
            assistant([{"type": "redacted_thinking", "data": "xx"}, {"type": "text", "text": "b"}]),
            user("c"),
        ),
        {},
    ),
    (
        "cache_control",
        make_body([{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]),
        {},
    ),
]


@pytest.mark.parametrize(
    ("body", "kwargs"), [(b, k) for _, b, k in VALID], ids=[name for name, _, _ in VALID]
)
def test_valid_bodies_pass(body, kwargs):
    kwargs = {"streaming": False, **kwargs}
    validate_messages_request(copy.deepcopy(body), **kwargs)


def _drop(key):
    def change(body):
        del body[key]

    return change


def _set(**values):
    def change(body):
        body.update(values)

    return change


def _msgs(*messages):
    def change(body):
        body["messages"] = list(messages)

    return change


def _content(content):
    return _msgs(user(content))


def _loop(*messages, **extra):
    def change(body):
        body["messages"] = list(messages)
        body["tools"] = [TOOL, TOOL2]
        body.update(extra)

    return change


REJECT: list[tuple[str, Any, str, dict[str, Any]]] = [
    (
        "anthropic_version missing",
        _drop("anthropic_version"),
        "anthropic_version: Field required",
        {},
    ),
    (
        "anthropic_version wrong",
        _set(anthropic_version="2023-06-01"),
        "anthropic_version: Input should be",
        {},
    ),
    ("model in body", _set(model="claude"), "model: Extra inputs are not permitted", {}),
    ("unknown field", _set(n=2), "n: Extra inputs are not permitted", {}),
    (
        "output_config by default",
        _set(output_config={"effort": "low"}),
        "output_config: Extra inputs",
        {},
    ),
    ("max_tokens missing", _drop("max_tokens"), "max_tokens: Field required", {}),
    (
        "max_tokens zero",
        _set(max_tokens=0),
        "max_tokens: Input should be greater than or equal to 1",
        {},
    ),
    ("max_tokens float", _set(max_tokens=10.5), "max_tokens: Input should be a valid integer", {}),
    ("max_tokens bool", _set(max_tokens=True), "max_tokens: Input should be a valid integer", {}),
    ("messages missing", _drop("messages"), "messages: Field required", {}),
    ("messages empty", _msgs(), "messages: at least one message is required", {}),
    (
        "messages not list",
        _set(messages={"role": "user"}),
        "messages: Input should be a valid list",
        {},
    ),
    (
        "bad role",
        _msgs({"role": "system", "content": "x"}),
        "messages.0.role: Input should be 'user' or 'assistant'",
        {},
    ),
    (
        "message extra key",
        _msgs({"role": "user", "content": "x", "name": "bob"}),
        "messages.0.name: Extra inputs",
        {},
    ),
    ("content missing", _msgs({"role": "user"}), "messages.0.content: Field required", {}),
    (
        "first assistant",
        _msgs(assistant("hi"), user("x")),
        'first message must use the "user" role',
        {},
    ),
    ("consecutive user", _msgs(user("a"), user("b")), "messages.1: roles must alternate", {}),
    (
        "consecutive assistant",
        _msgs(user("a"), assistant("b"), assistant("c")),
        'found multiple "assistant" roles',
        {},
    ),
    (
        "empty string user",
        _content(""),
        "messages.0: all messages must have non-empty content except for the optional final assistant message",
        {},
    ),
    ("empty list user", _content([]), "messages.0: all messages must have non-empty content", {}),
    (
        "empty assistant mid",
        _msgs(user("a"), assistant(""), user("b")),
        "messages.1: all messages must have non-empty content",
        {},
    ),
    (
        "empty text block",
        _msgs(user("a"), assistant([{"type": "text", "text": ""}]), user("b")),
        "messages.1.content.0.text: text content blocks must be non-empty",
        {},
    ),
    (
        "whitespace text block",
        _content([{"type": "text", "text": "  \n"}]),
        "messages.0.content.0.text: text content blocks must contain non-whitespace text",
        {},
    ),
    (
        "whitespace final assistant",
        _msgs(user("a"), assistant("   ")),
        "final assistant content cannot end with trailing whitespace",
        {},
    ),
    (
        "trailing whitespace final assistant block",
        _msgs(user("a"), assistant([{"type": "text", "text": "Sure "}])),
        "messages.1.content.0.text: final assistant content cannot end with trailing whitespace",
        {},
    ),
    (
        "unknown block type",
        _content([{"type": "image_url", "image_url": {"url": "x"}}]),
        "messages.0.content.0.type: Input should be",
        {},
    ),
    (
        "block missing type",
        _content([{"text": "x"}]),
        "messages.0.content.0.type: Field required",
        {},
    ),
    (
        "block extra key",
        _content([{"type": "text", "text": "x", "foo": 1}]),
        "messages.0.content.0.text.foo: Extra inputs are not permitted",
        {},
    ),
    (
        "text not string",
        _content([{"type": "text", "text": 5}]),
        "messages.0.content.0.text: Input should be a valid string",
        {},
    ),
    (
        "image url source",
        _content([{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]),
        "messages.0.content.0.source.base64.data: URL sources are not supported",
        {},
    ),
    (
        "image bad media type",
        _content([{"type": "image", "source": {**PNG, "media_type": "image/bmp"}}]),
        "media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'",
        {},
    ),
    (
        "image missing data",
        _content([{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}]),
        "source.base64.data: Field required",
        {},
    ),
    (
        "image in assistant",
        _msgs(user("a"), assistant([{"type": "image", "source": PNG}])),
        "not allowed in assistant messages",
        {},
    ),
    (
        "document url",
        _content([{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]),
        "URL sources are not supported",
        {},
    ),
    (
        "document wrong media",
        _content(
            [
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "image/png", "data": "x"},
                }
            ]
        ),
        "Input should be 'application/pdf'",
        {},
    ),
    (
        "document text wrong media",
        _content(
            [
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/html", "data": "x"},
                }
            ]
        ),
        "Input should be 'text/plain'",
        {},
    ),
    (
        "tool_use bad id",
        _loop(user("a"), assistant([tool_use("call.1:x")]), user([tool_result("call.1:x")])),
        "messages.1.content.0.id: String should match pattern '^[a-zA-Z0-9_-]+$'",
        {},
    ),
    (
        "tool_use input string",
        _loop(user("a"), assistant([tool_use(inp='{"a":1}')]), user([tool_result()])),
        "messages.1.content.0.input: Input should be a valid dictionary",
        {},
    ),
    (
        "tool_use missing name",
        _loop(
            user("a"),
            assistant([{"type": "tool_use", "id": "t", "input": {}}]),
            user([tool_result("t")]),
        ),
        "messages.1.content.0.name: Field required",
        {},
    ),
    ("tool_use in user", _content([tool_use()]), "not allowed in user messages", {}),
    (
        "duplicate tool ids",
        _loop(user("a"), assistant([tool_use("t1"), tool_use("t1")]), user([tool_result("t1")])),
        "`tool_use` ids must be unique",
        {},
    ),
    (
        "tool_use unanswered",
        _loop(user("a"), assistant([tool_use()]), user("next")),
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1",
        {},
    ),
    (
        "tool_use last message",
        _loop(user("a"), assistant([tool_use()])),
        "`tool_use` ids were found without `tool_result` blocks",
        {},
    ),
    (
        "one of two unanswered",
        _loop(user("a"), assistant([tool_use("t1"), tool_use("t2")]), user([tool_result("t1")])),
        "immediately after: t2",
        {},
    ),
    (
        "tool_result not first",
        _loop(
            user("a"),
            assistant([tool_use()]),
            user([{"type": "text", "text": "here"}, tool_result()]),
        ),
        "messages.2.content.1: `tool_result` blocks must come first",
        {},
    ),
    (
        "orphan tool_result",
        _loop(user("a"), assistant("no tools"), user([tool_result("t9")])),
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: t9",
        {},
    ),
    (
        "tool_result for older turn",
        _loop(
            user("a"),
            assistant([tool_use("t1")]),
            user([tool_result("t1")]),
            assistant("ok"),
            user([tool_result("t1")]),
        ),
        "unexpected `tool_use_id`",
        {},
    ),
    (
        "tool_result bad inner block",
        _loop(
            user("a"), assistant([tool_use()]), user([tool_result(content=[{"type": "tool_use"}])])
        ),
        "messages.2.content.0.content.0.type: Input should be",
        {},
    ),
    (
        "tool_result empty inner text",
        _loop(
            user("a"),
            assistant([tool_use()]),
            user([tool_result(content=[{"type": "text", "text": ""}])]),
        ),
        "text content blocks must be non-empty",
        {},
    ),
    (
        "thinking missing signature",
        _msgs(
            user("a"),
            assistant([{"type": "thinking", "thinking": "x"}, {"type": "text", "text": "b"}]),
            user("c"),
        ),
        "messages.1.content.0.signature: Field required",
        {},
    ),
    ("system number", _set(system=5), "system: Input should be a valid string or list", {}),
    (
        "system empty block",
        _set(system=[{"type": "text", "text": ""}]),
        "system.0.text: text content blocks must be non-empty",
        {},
    ),
    (
        "system image block",
        _set(system=[{"type": "image", "source": PNG}]),
        "system.0.type: Input should be 'text'",
        {},
    ),
    (
        "stop_sequences string",
        _set(stop_sequences="END"),
        "stop_sequences: Input should be a valid list",
        {},
    ),
    (
        "stop_sequences whitespace",
        _set(stop_sequences=["END", " \n"]),
        "stop_sequences.1: stop sequences must contain non-whitespace",
        {},
    ),
    (
        "stop_sequences non-string",
        _set(stop_sequences=[1]),
        "stop_sequences.0: Input should be a valid string",
        {},
    ),
    (
        "temperature high",
        _set(temperature=1.5),
        "temperature: Input should be less than or equal to 1",
        {},
    ),
    (
        "temperature negative",
        _set(temperature=-0.1),
        "temperature: Input should be greater than or equal to 0",
        {},
    ),
    (
        "temperature string",
        _set(temperature="0.5"),
        "temperature: Input should be a valid number",
        {},
    ),
    ("top_p high", _set(top_p=2), "top_p: Input should be less than or equal to 1", {}),
    ("top_k float", _set(top_k=0.5), "top_k: Input should be a valid integer", {}),
    (
        "temperature+top_p sonnet 4.5",
        _set(temperature=0.5, top_p=0.9),
        "`temperature` and `top_p` cannot both be specified for this model",
        {"model": "claude-sonnet-4-5@20250929"},
    ),
    (
        "temperature+top_p opus 4.1",
        _set(temperature=0.5, top_p=0.9),
        "cannot both be specified",
        {"model": "claude-opus-4-1@20250805"},
    ),
    (
        "temperature+top_p haiku 4.5",
        _set(temperature=0.5, top_p=0.9),
        "cannot both be specified",
        {"model": "claude-haiku-4-5@20251001"},
    ),
    (
        "temperature+top_p opus 4.5",
        _set(temperature=0.5, top_p=0.9),
        "cannot both be specified",
        {"model": "claude-opus-4-5@20251101"},
    ),
    (
        "temperature+top_p sonnet 4.6",
        _set(temperature=0.5, top_p=0.9),
        "cannot both be specified",
        {"model": "claude-sonnet-4-6"},
    ),
    (
        "temperature+top_p opus 4.7",
        _set(temperature=0.5, top_p=0.9),
        "cannot both be specified",
        {"model": "claude-opus-4-7"},
    ),
    ("tools not list", _set(tools={"name": "x"}), "tools: Input should be a valid list", {}),
    (
        "tool bad name",
        _set(tools=[{**TOOL, "name": "get.weather"}]),
        "tools.0.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
        {},
    ),
    (
        "tool name too long",
        _set(tools=[{**TOOL, "name": "x" * 65}]),
        "tools.0.name: String should match pattern",
        {},
    ),
    (
        "tool missing schema",
        _set(tools=[{"name": "x"}]),
        "tools.0.input_schema: Field required",
        {},
    ),
    (
        "tool schema not object",
        _set(tools=[{"name": "x", "input_schema": {"type": "array"}}]),
        "tools.0.input_schema.type: Input should be 'object'",
        {},
    ),
    (
        "tool openai shape",
        _set(tools=[{"type": "function", "function": {"name": "x"}}]),
        "tools.0.name: Field required",
        {},
    ),
    (
        "tool extra key",
        _set(tools=[{**TOOL, "parameters": {}}]),
        "tools.0.parameters: Extra inputs are not permitted",
        {},
    ),
    ("duplicate tool names", _set(tools=[TOOL, TOOL]), "Tool names must be unique", {}),
    (
        "tool_choice string",
        _set(tools=[TOOL], tool_choice="auto"),
        "tool_choice: Input should be a valid dictionary",
        {},
    ),
    (
        "tool_choice bad type",
        _set(tools=[TOOL], tool_choice={"type": "required"}),
        "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
        {},
    ),
    (
        "tool_choice unknown tool",
        _set(tools=[TOOL], tool_choice={"type": "tool", "name": "nope"}),
        "tool_choice.tool.name: Tool 'nope' not found in provided tools",
        {},
    ),
    (
        "tool_choice tool without name",
        _set(tools=[TOOL], tool_choice={"type": "tool"}),
        "tool_choice.tool.name: Field required",
        {},
    ),
    ("tool_choice any without tools", _set(tool_choice={"type": "any"}), "requires `tools`", {}),
    (
        "tool_choice bad parallel flag",
        _set(tools=[TOOL], tool_choice={"type": "auto", "disable_parallel_tool_use": "yes"}),
        "disable_parallel_tool_use: Input should be a valid boolean",
        {},
    ),
    (
        "tool_choice extra",
        _set(tools=[TOOL], tool_choice={"type": "auto", "name": "x"}),
        "tool_choice.auto.name: Extra inputs",
        {},
    ),
    (
        "thinking small budget",
        _set(thinking={"type": "enabled", "budget_tokens": 1000}),
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        {},
    ),
    (
        "thinking budget >= max_tokens",
        _set(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 2000}),
        "max_tokens: must be greater than thinking.budget_tokens",
        {},
    ),
    (
        "thinking missing budget",
        _set(thinking={"type": "enabled"}),
        "thinking.enabled.budget_tokens: Field required",
        {},
    ),
    ("thinking bad type", _set(thinking={"type": "on"}), "thinking.type: Input should be", {}),
    (
        "thinking enabled on opus 4.7",
        _set(max_tokens=4096, thinking={"type": "enabled", "budget_tokens": 1024}),
        '"enabled" is not supported for this model',
        {"model": "claude-opus-4-7"},
    ),
    (
        "thinking adaptive on sonnet 4.5",
        _set(thinking={"type": "adaptive"}),
        '"adaptive" is not supported for this model',
        {"model": MODEL},
    ),
    (
        "thinking + forced any",
        _set(
            tools=[TOOL],
            tool_choice={"type": "any"},
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 1024},
        ),
        "Thinking may not be enabled when tool_choice forces tool use.",
        {},
    ),
    (
        "thinking + forced tool",
        _set(
            tools=[TOOL],
            tool_choice={"type": "tool", "name": "get_weather"},
            thinking={"type": "adaptive"},
        ),
        "Thinking may not be enabled when tool_choice forces tool use.",
        {},
    ),
    (
        "thinking + prefill",
        _loop(user("a"), assistant("Sure"), thinking={"type": "adaptive"}),
        "prefill",
        {},
    ),
    (
        "thinking tool loop without thinking block",
        _loop(
            user("a"),
            assistant([{"type": "text", "text": "calling"}, tool_use()]),
            user([tool_result()]),
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 1024},
        ),
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`",
        {},
    ),
    (
        "metadata extra",
        _set(metadata={"user_id": "u", "email": "a@b"}),
        "metadata.email: Extra inputs are not permitted",
        {},
    ),
    (
        "metadata user_id number",
        _set(metadata={"user_id": 5}),
        "metadata.user_id: Input should be a valid string",
        {},
    ),
    ("stream on rawPredict", _set(stream=True), "stream:", {}),
    ("no stream on streamRawPredict", _set(), "stream:", {"streaming": True}),
    ("stream false on streamRawPredict", _set(stream=False), "stream:", {"streaming": True}),
    ("stream not bool", _set(stream="yes"), "stream: Input should be a valid boolean", {}),
]


@pytest.mark.parametrize(
    ("change", "expected", "kwargs"),
    [(c, e, k) for _, c, e, k in REJECT],
    ids=[name for name, *_ in REJECT],
)
def test_invalid_bodies_rejected(change, expected, kwargs):
    body = make_body()
    change(body)
    kwargs = {"streaming": False, **kwargs}
    with pytest.raises(ValidationFailed) as info:
        validate_messages_request(body, **kwargs)
    assert expected in info.value.message
    assert str(info.value) == info.value.message


def test_output_config_can_be_accepted():
    validate_messages_request(
        make_body(output_config={"effort": "low"}), streaming=False, accept_output_config=True
    )


@pytest.mark.parametrize(
    ("model", "rule"),
    [
        ("claude-opus-4-1@20250805", True),
        ("claude-sonnet-4-5@20250929", True),
        ("claude-sonnet-4-5-20250929", True),
        ("claude-haiku-4-5@20251001", True),
        ("claude-opus-4-5@20251101", True),
        ("claude-opus-4-6", True),
        ("claude-sonnet-4-6", True),
        ("claude-opus-4-7", True),
        ("claude-sonnet-5", True),
        ("claude-sonnet-4@20250514", False),
        ("claude-sonnet-4-20250514", False),
        ("claude-opus-4@20250514", False),
        ("claude-3-7-sonnet@20250219", False),
        ("claude-3-5-haiku@20241022", False),
        (None, False),
    ],
)
def test_model_family_table(model, rule):
    assert model_rules(model)["no_temperature_with_top_p"] is rule


def test_count_tokens_body_rules():
    validate_count_tokens_request({"model": MODEL, "messages": [user("hi")]})
    with pytest.raises(ValidationFailed, match="model: Field required"):
        validate_count_tokens_request({"messages": [user("hi")]})
    with pytest.raises(ValidationFailed, match="max_tokens: Extra inputs"):
        validate_count_tokens_request({"model": MODEL, "messages": [user("hi")], "max_tokens": 5})


# -- a few of the rules over HTTP, to see the Anthropic error shape -------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({**make_body(), "model": "claude"}, "model: Extra inputs are not permitted"),
        (
            {k: v for k, v in make_body().items() if k != "anthropic_version"},
            "anthropic_version: Field required",
        ),
        (
            make_body([{"type": "text", "text": ""}]),
            "messages.0.content.0.text: text content blocks must be non-empty",
        ),
        (
            make_body([{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]),
            "URL sources are not supported",
        ),
        (make_body(temperature=0.5, top_p=0.5), "cannot both be specified for this model"),
    ],
)
async def test_validation_errors_over_http(emu: Emu, body, message):
    status, headers, payload = await emu.call(body)
    assert status == 400
    assert payload["type"] == "error"
    assert payload["error"]["type"] == "invalid_request_error"
    assert message in payload["error"]["message"]
    assert payload["request_id"].startswith("req_vrtx_")
    assert headers["request-id"] == payload["request_id"]


async def test_stream_flag_must_match_verb_over_http(emu: Emu):
    body = make_body()
    async with emu.session.post(emu.url("streamRawPredict"), json=body, headers=emu.auth()) as r:
        assert r.status == 400
        assert r.content_type == "application/json"
        assert "stream" in (await r.json())["error"]["message"]
