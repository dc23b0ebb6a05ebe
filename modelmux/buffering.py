"""Buffered streaming: coalesce Anthropic text deltas before they are translated (pure).

Browsers and some editors repaint on every SSE chunk; for them modelmux holds consecutive text
deltas of one content block and releases them as one delta at a sentence or line boundary, once
`buffer_size` bytes are held, or when the oldest held text is `chunk_timeout` old. Any other
event (a tool call, the end of a block, the end of the message) releases what is held first, so
ordering is never changed.
"""

from __future__ import annotations

from typing import Any

_BOUNDARY_CHARS = frozenset(".!?;:\n")


def _ends_at_boundary(text: str) -> bool:
    stripped = text.rstrip(" \t")
    return bool(stripped) and stripped[-1] in _BOUNDARY_CHARS


class TextCoalescer:
    def __init__(self, *, buffer_size: int, chunk_timeout_s: float) -> None:
        self._limit = max(1, buffer_size)
        self._timeout = chunk_timeout_s
        self._parts: list[str] = []
        self._size = 0
        self._index: Any = None
        self._since = 0.0

    @property
    def holding(self) -> bool:
        return bool(self._parts)

    def due(self, now: float) -> bool:
        """True when held text has waited `chunk_timeout` and must be released."""
        return bool(self._parts) and now - self._since >= self._timeout

    def push(self, event: dict[str, Any], now: float) -> list[dict[str, Any]]:
        """Take one upstream event; return the events to translate now, in order."""
        delta = event.get("delta") if event.get("type") == "content_block_delta" else None
        if not (isinstance(delta, dict) and delta.get("type") == "text_delta"):
            return [*self.flush(), event]
        out: list[dict[str, Any]] = []
        index = event.get("index")
        if self._parts and index != self._index:
            out.extend(self.flush())
        text = delta.get("text") or ""
        if not self._parts:
            self._since = now
            self._index = index
        self._parts.append(text)
        self._size += len(text.encode())
        if self._size >= self._limit or _ends_at_boundary(text) or self.due(now):
            out.extend(self.flush())
        return out

    def flush(self) -> list[dict[str, Any]]:
        if not self._parts:
            return []
        text = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        return [
            {
                "type": "content_block_delta",
                "index": self._index,
                "delta": {"type": "text_delta", "text": text},
            }
        ]
