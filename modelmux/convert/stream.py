"""Anthropic SSE events → OpenAI `chat.completion.chunk` SSE frames (a pure state machine).

Per-stream constant parts of every chunk (id, object, created, model, the choice envelope) are
rendered once; each delta is spliced in as bytes, so the text path costs one `orjson.dumps` and
two concatenations.
"""

from __future__ import annotations

import time

import orjson

from modelmux.convert.errors import from_stream_error
from modelmux.convert.request import ConvertedRequest
from modelmux.convert.response import finish_reason, json_answer, new_completion_id, openai_usage
from modelmux.errors import ModelmuxError, UpstreamError

DONE = b"data: [DONE]\n\n"

# content-block kinds
_TEXT, _TOOL, _THINK, _JSON, _JSON_BUF, _SKIP = range(6)
_dumps = orjson.dumps


class _Block:
    __slots__ = ("args", "buf", "kind", "tool_index")

    def __init__(self, kind: int, tool_index: int = -1) -> None:
        self.kind = kind
        self.tool_index = tool_index
        self.args = False  # a non-empty argument fragment was sent
        self.buf: list[str] | None = None


class StreamTranslator:
    def __init__(
        self,
        req: ConvertedRequest,
        *,
        completion_id: str | None = None,
        created: int | None = None,
    ) -> None:
        self.req = req
        self.completion_id = completion_id or new_completion_id()
        self.created = int(time.time()) if created is None else created
        self.done = False
        self.finish_reason: str | None = None
        self.usage: dict | None = None

        head = _dumps(
            {
                "id": self.completion_id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": req.client_model,
                "system_fingerprint": None,
                "service_tier": "default",
            }
        )[:-1]
        self._head = b"data: " + head + b',"choices":[{"index":0,"delta":'
        self._usage_head = b"data: " + head + b',"choices":[],"usage":'
        usage_null = b',"usage":null' if req.include_usage else b""
        self._usage_null = usage_null
        self._tail = b',"logprobs":null,"finish_reason":null}]' + usage_null + b"}\n\n"
        self._content_head = self._head + b'{"content":'
        self._content_tail = b"}" + self._tail
        self._reason_head = self._head + b'{"reasoning_content":'
        self._args_mid = b',"function":{"arguments":'
        self._args_tail = b"}}]}" + self._tail

        jm = req.json_mode
        self._json_tool = jm.tool_name if jm is not None else None
        # JSON-mode tool strategies: text is held until we know whether the answer is a tool call
        self._held: list[str] | None = [] if self._json_tool is not None else None
        self._json_seen = False
        self._reasoning = req.reasoning_content
        self._started = False
        self._blocks: dict[int, _Block] = {}
        self._tools = 0
        self._stop_reason: object = None
        self._usage_raw: dict = {}

    # -- public -------------------------------------------------------------------------------

    def feed(self, event: dict) -> list[bytes]:
        if self.done:
            return []
        etype = event.get("type")
        if etype == "content_block_delta":
            return self._delta(event)
        if etype == "content_block_start":
            return self._block_start(event)
        if etype == "content_block_stop":
            return self._block_stop(event)
        if etype == "message_delta":
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            self._take_usage(event.get("usage"))
            return []
        if etype == "message_start":
            msg = event.get("message")
            if isinstance(msg, dict):
                self._take_usage(msg.get("usage"))
            return self._start()
        if etype == "message_stop":
            return self._stop()
        if etype == "error":
            return self.fail(from_stream_error(event))
        return []  # ping, vertex_event, anything newer

    def fail(self, error: ModelmuxError) -> list[bytes]:
        if self.done:
            return []
        self.done = True
        return [b"data: " + _dumps(error.to_body()) + b"\n\n"]

    def finish(self) -> list[bytes]:
        if self.done:
            return []
        return self.fail(
            UpstreamError("The upstream stream ended before the response was complete")
        )

    # -- internals ----------------------------------------------------------------------------

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [self._head + b'{"role":"assistant","content":""}' + self._tail]

    def _take_usage(self, usage: object) -> None:
        if isinstance(usage, dict):
            raw = self._usage_raw
            for k, v in usage.items():
                if v is not None:
                    raw[k] = v

    def _content(self, text: str) -> bytes:
        return self._content_head + _dumps(text) + self._content_tail

    def _delta(self, event: dict) -> list[bytes]:
        block = self._blocks.get(event.get("index"))  # type: ignore[arg-type]
        delta = event.get("delta")
        if block is None or not isinstance(delta, dict):
            return []
        kind = block.kind
        out = [] if self._started else self._start()
        if kind == _TEXT:
            text = delta.get("text")
            if not text or delta.get("type") != "text_delta":
                return out
            if self._json_tool is not None:  # JSON mode: hold text; the JSON answer replaces it
                if self._held is not None:
                    self._held.append(text)
                return out
            out.append(self._content_head + _dumps(text) + self._content_tail)
        elif kind in (_TOOL, _JSON, _JSON_BUF):
            frag = delta.get("partial_json")
            if not frag or delta.get("type") != "input_json_delta":
                return out
            if kind == _TOOL:
                block.args = True
                out.append(
                    self._head
                    + b'{"tool_calls":[{"index":'
                    + str(block.tool_index).encode()
                    + self._args_mid
                    + _dumps(frag)
                    + self._args_tail
                )
            elif kind == _JSON:
                block.args = True
                out.append(self._content(frag))
            else:
                block.buf.append(frag)  # type: ignore[union-attr]
        elif kind == _THINK:
            t = delta.get("thinking")
            if t and delta.get("type") == "thinking_delta":
                out.append(self._reason_head + _dumps(t) + self._content_tail)
        return out

    def _block_start(self, event: dict) -> list[bytes]:
        index = event.get("index")
        cb = event.get("content_block")
        if not isinstance(cb, dict) or not isinstance(index, int):
            return []
        out = [] if self._started else self._start()
        btype = cb.get("type")
        if btype == "text":
            self._blocks[index] = _Block(_TEXT)
            text = cb.get("text")
            if text:
                out.extend(
                    self._delta({"index": index, "delta": {"type": "text_delta", "text": text}})
                )
        elif btype == "tool_use":
            name = cb.get("name")
            initial = cb.get("input")
            if self._json_tool is not None and name == self._json_tool:
                if self._json_seen:
                    self._blocks[index] = _Block(_SKIP)
                    return out
                self._json_seen = True
                self._held = None
                jm = self.req.json_mode
                buffered = jm is not None and jm.wrap_key is not None
                block = _Block(_JSON_BUF if buffered else _JSON)
                self._blocks[index] = block
                if buffered:
                    block.buf = [orjson.dumps(initial).decode()] if initial else []
                elif initial:
                    block.args = True
                    out.append(self._content(orjson.dumps(initial).decode()))
                return out
            k = self._tools
            self._tools += 1
            block = _Block(_TOOL, k)
            self._blocks[index] = block
            call = {
                "index": k,
                "id": cb.get("id"),
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            if initial:
                call["function"]["arguments"] = orjson.dumps(initial).decode()  # type: ignore[index]
                block.args = True
            out.append(self._head + _dumps({"tool_calls": [call]}) + self._tail)
        elif btype == "thinking" and self._reasoning:
            self._blocks[index] = _Block(_THINK)
            t = cb.get("thinking")
            if t:
                out.append(self._reason_head + _dumps(t) + self._content_tail)
        else:
            self._blocks[index] = _Block(_SKIP)
        return out

    def _block_stop(self, event: dict) -> list[bytes]:
        block = self._blocks.get(event.get("index"))  # type: ignore[arg-type]
        if block is None:
            return []
        if block.kind == _TOOL and not block.args:
            block.args = True
            return [
                self._head
                + b'{"tool_calls":[{"index":'
                + str(block.tool_index).encode()
                + self._args_mid
                + b'"{}"'
                + self._args_tail
            ]
        if block.kind == _JSON and not block.args:
            block.args = True
            return [self._content("{}")]
        if block.kind == _JSON_BUF and block.buf is not None:
            raw = "".join(block.buf)
            block.buf = None
            try:
                value = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError:
                return [self._content(raw)]
            return [self._content(json_answer(self.req.json_mode, value))]  # type: ignore[arg-type]
        return []

    def _stop(self) -> list[bytes]:
        out = [] if self._started else self._start()
        # flush open JSON-buffered blocks (a stream cut by max_tokens inside the answer)
        for index, block in list(self._blocks.items()):
            if block.kind == _JSON_BUF and block.buf is not None:
                out.extend(self._block_stop({"index": index}))
        if self._held:
            out.append(self._content("".join(self._held)))
        self._held = None
        fr = finish_reason(self._stop_reason, self._tools > 0)
        self.finish_reason = fr
        self.usage = openai_usage(self._usage_raw)
        out.append(
            self._head
            + b'{},"logprobs":null,"finish_reason":"'
            + fr.encode()
            + b'"}]'
            + self._usage_null
            + b"}\n\n"
        )
        if self.req.include_usage:
            out.append(self._usage_head + _dumps(self.usage) + b"}\n\n")
        out.append(DONE)
        self.done = True
        return out
