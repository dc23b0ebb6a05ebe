"""What happens to every OpenAI request field and where every response field comes from.

The converter consults REQUEST_FIELDS to decide what to ignore; docs/compatibility.md repeats these
tables and a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Treatment = Literal["mapped", "passthrough", "ignored", "rejected"]


@dataclass(frozen=True, slots=True)
class FieldRule:
    treatment: Treatment
    note: str


REQUEST_FIELDS: dict[str, FieldRule] = {
    "model": FieldRule(
        "mapped", "alias → Vertex model id (URL, never in the body); echoed back unchanged"
    ),
    "messages": FieldRule("mapped", "see the message table"),
    "max_completion_tokens": FieldRule("mapped", "→ `max_tokens` (wins over `max_tokens`)"),
    "max_tokens": FieldRule("mapped", "→ `max_tokens`; absent both → configured default"),
    "temperature": FieldRule(
        "mapped", "→ `temperature`, clamped to 0-1 (>2 or <0 → 400); dropped when thinking is on"
    ),
    "top_p": FieldRule(
        "mapped", "→ `top_p`; dropped when `temperature` is also set on families that reject both"
    ),
    "top_k": FieldRule("passthrough", "Claude-native, sent as is (dropped when thinking is on)"),
    "n": FieldRule("rejected", "1 accepted; anything else → 400"),
    "stream": FieldRule("mapped", "`stream: true` in the body and `:streamRawPredict`"),
    "stream_options": FieldRule(
        "mapped", "`include_usage` → final usage chunk; `include_obfuscation` ignored"
    ),
    "stop": FieldRule(
        "mapped", "string or list → `stop_sequences`; whitespace-only entries dropped"
    ),
    "tools": FieldRule(
        "mapped",
        "function tools → `{name, description, input_schema}`; `strict` dropped; `custom` tools → 400",
    ),
    "tool_choice": FieldRule(
        "mapped",
        "none/auto/required/function/allowed_tools → none/auto/any/tool/(filtered tools + auto|any)",
    ),
    "parallel_tool_calls": FieldRule(
        "mapped", "`false` → `tool_choice.disable_parallel_tool_use: true`"
    ),
    "functions": FieldRule("mapped", "legacy; treated as `tools`"),
    "function_call": FieldRule("mapped", "legacy; treated as `tool_choice`"),
    "response_format": FieldRule(
        "mapped",
        "json_schema → forced tool (or offered tool / prompt with thinking); json_object → system instruction",
    ),
    "reasoning_effort": FieldRule(
        "mapped", "→ `thinking` (budget or adaptive + `output_config.effort`, per model family)"
    ),
    "thinking": FieldRule(
        "passthrough", "Claude-native (`extra_body`); wins over `reasoning_effort`"
    ),
    "user": FieldRule("mapped", "→ `metadata.user_id` (if no `safety_identifier`)"),
    "safety_identifier": FieldRule("mapped", "→ `metadata.user_id`"),
    "audio": FieldRule("rejected", "audio output is not available → 400"),
    "modalities": FieldRule("rejected", '`["text"]` accepted; any audio modality → 400'),
    "presence_penalty": FieldRule("ignored", "no Claude equivalent"),
    "frequency_penalty": FieldRule("ignored", "no Claude equivalent"),
    "logit_bias": FieldRule("ignored", "no Claude equivalent"),
    "logprobs": FieldRule("ignored", "no Claude equivalent; `logprobs: null` in responses"),
    "top_logprobs": FieldRule("ignored", "no Claude equivalent"),
    "seed": FieldRule("ignored", "no Claude equivalent"),
    "store": FieldRule("ignored", "no stored completions"),
    "metadata": FieldRule("ignored", "OpenAI stored-completion tags, not Claude's `metadata`"),
    "service_tier": FieldRule("ignored", "responses always say `default`"),
    "prediction": FieldRule("ignored", "no predicted outputs"),
    "verbosity": FieldRule("ignored", "no Claude equivalent"),
    "prompt_cache_key": FieldRule("ignored", "Claude caching is explicit (`cache_control`)"),
    "prompt_cache_retention": FieldRule("ignored", "Claude caching is explicit (`cache_control`)"),
    "prompt_cache_options": FieldRule("ignored", "Claude caching is explicit (`cache_control`)"),
    "moderation": FieldRule(
        "ignored", "no OpenAI moderation pass; Claude's own refusals map to `content_filter`"
    ),
    "web_search_options": FieldRule("ignored", "no web search on this path"),
}

# Message-level fields: "<role>.<field>" (and "user.content[<part type>]").
MESSAGE_FIELDS: dict[str, FieldRule] = {
    "system.content": FieldRule(
        "mapped", "hoisted into top-level `system` text blocks, order kept, wherever it appears"
    ),
    "developer.content": FieldRule("mapped", "same as `system`"),
    "user.content": FieldRule(
        "mapped",
        "string or parts → user blocks; consecutive user turns merged; empty/whitespace-only text dropped",
    ),
    "user.content[text]": FieldRule("mapped", "text block"),
    "user.content[image_url]": FieldRule(
        "mapped",
        "data: URI → base64 image (jpeg/png/gif/webp, bytes sniffed) or PDF document; http(s) → downloaded and inlined; `detail` ignored",
    ),
    "user.content[file]": FieldRule(
        "mapped",
        "`file_data` (base64 or data URI; PDF or text/plain) → document block; `file_id` → 400",
    ),
    "user.content[input_audio]": FieldRule("rejected", "400, audio input is not supported"),
    "assistant.content": FieldRule(
        "mapped",
        "text blocks (empty/whitespace dropped; a final assistant turn is a prefill, trailing whitespace stripped); refusal parts ignored",
    ),
    "assistant.tool_calls": FieldRule(
        "mapped",
        "→ `tool_use` blocks; `arguments` parsed (invalid JSON → 400, empty → {}); ids sanitised",
    ),
    "assistant.function_call": FieldRule("mapped", "legacy → `tool_use` with a synthesised id"),
    "assistant.refusal": FieldRule("ignored", "not sent back"),
    "assistant.audio": FieldRule("ignored", "not sent back"),
    "assistant.reasoning_content": FieldRule(
        "ignored", "thinking cannot be replayed without its signature"
    ),
    "tool.content": FieldRule(
        "mapped",
        "→ `tool_result` (text and image parts; image URLs inlined); consecutive tool messages → one user turn, results first",
    ),
    "tool.tool_call_id": FieldRule(
        "mapped", "→ `tool_use_id`, sanitised the same way as the call id"
    ),
    "function.content": FieldRule(
        "mapped", "legacy → `tool_result` for the latest `function_call` of that name"
    ),
    "*.name": FieldRule("ignored", "participant names have no Claude equivalent"),
}

# Response fields: where each value comes from. "chunk." rows are streaming-only.
RESPONSE_FIELDS: dict[str, str] = {
    "id": "`chatcmpl-` + random; one per response / stream",
    "object": "`chat.completion` / `chat.completion.chunk`",
    "created": "Unix seconds",
    "model": "the `model` the client sent",
    "system_fingerprint": "always null",
    "service_tier": "always `default`",
    "choices[].index": "always 0 (one choice)",
    "choices[].message.role": "`assistant`",
    "choices[].message.content": "text blocks joined; the JSON answer in JSON mode; null when only tool calls",
    "choices[].message.refusal": "always null",
    "choices[].message.annotations": "always []",
    "choices[].message.tool_calls": "`tool_use` blocks → `{id, type: function, function: {name, arguments}}` (compact JSON)",
    "choices[].message.reasoning_content": "non-standard: thinking text (omitted when disabled or absent)",
    "choices[].logprobs": "always null",
    "choices[].finish_reason": "stop_reason map: end_turn/stop_sequence/pause_turn → stop, max_tokens/model_context_window_exceeded → length, tool_use → tool_calls, refusal → content_filter, other → stop",
    "usage.prompt_tokens": "input + cache_creation + cache_read",
    "usage.completion_tokens": "output tokens (thinking included)",
    "usage.total_tokens": "prompt + completion",
    "usage.prompt_tokens_details": "`{cached_tokens: cache_read, audio_tokens: 0}`",
    "usage.cache_creation_input_tokens": "non-standard: Claude's cache write count",
    "usage.cache_read_input_tokens": "non-standard: Claude's cache read count",
    "chunk.choices[].delta": "role once (first chunk), content, tool_calls (dense index, id/type/name once), reasoning_content",
    "chunk.usage": "null on every chunk, then one `choices: []` chunk with usage, only with `include_usage`",
}
