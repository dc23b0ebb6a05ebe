"""Server-sent events: an incremental WHATWG-style decoder (upstream) and encoders (downstream).

Pure: bytes in, (event name, data) out. Lines end with CR, LF or CRLF (a CRLF split across two
chunks is one line end); chunks may split anywhere, including inside a multi-byte UTF-8
character, because lines are only decoded once complete.
"""

from __future__ import annotations

COMMENT_KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"
_BOM = b"\xef\xbb\xbf"


def encode_data(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def encode_event(event: str, payload: bytes) -> bytes:
    """A named event (Anthropic style); never used on the OpenAI side."""
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


class SSEDecoder:
    __slots__ = ("_buf", "_data", "_event", "_first", "_last_id", "_skip_lf")

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False  # the previous chunk ended with CR; a leading LF belongs to it
        self._first = True
        self._event = ""
        self._data: list[str] = []
        self._last_id = ""

    @property
    def last_event_id(self) -> str:
        return self._last_id

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buf = self._buf + chunk if self._buf else chunk
        if self._first:
            if len(buf) < 3 and _BOM.startswith(buf):
                self._buf = buf
                return []
            self._first = False
            if buf.startswith(_BOM):
                buf = buf[3:]
        if b"\r" in buf:
            if buf.endswith(b"\r"):
                self._skip_lf = True
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        out: list[tuple[str, str]] = []
        for raw in lines:
            self._line(raw, out)
        return out

    def flush(self) -> list[tuple[str, str]]:
        """End of stream. WHATWG discards an event without its blank line; we do the same for a
        partial line but dispatch complete data lines, which is what lenient peers expect."""
        out: list[tuple[str, str]] = []
        if self._buf:
            self._line(self._buf, out)
            self._buf = b""
        self._line(b"", out)
        return out

    def _line(self, raw: bytes, out: list[tuple[str, str]]) -> None:
        if not raw:
            if self._data:
                out.append((self._event or "message", "\n".join(self._data)))
            self._event = ""
            self._data = []
            return
        if raw[:1] == b":":
            return
        line = raw.decode("utf-8", "replace")
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        # "retry" and unknown fields are ignored
