"""Server-sent events: an incremental WHATWG-style decoder (upstream) and encoders (downstream).

Pure: bytes in, (event name, data) out. Lines end with CR, LF or CRLF (a CRLF split across two
chunks is one line end); chunks may split anywhere, including inside a multi-byte UTF-8
character, because lines are only decoded once complete.
"""

from __future__ import annotations

COMMENT_KEEPALIVE = b": keep-alive\n\n"
_BOM = b"\xef\xbb\xbf"


def encode_event(event: str, payload: bytes) -> bytes:
    """A named event, as Vertex sends them (the emulator's side); never used toward clients."""
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"


class SSEDecoder:
    __slots__ = ("_buf", "_data", "_event", "_first", "_last_id", "_skip_lf")

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False  # the previous chunk ended with CR; a leading LF belongs to it
        self._first = True
        self._event = b""
        self._data: list[bytes] = []  # lines stay bytes until an event is complete
        self._last_id = ""

    @property
    def last_event_id(self) -> str:
        return self._last_id

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        return [_text(name, data) for name, data in self._events(self._lines(chunk))]

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """Only the data of each completed event, as bytes (what `orjson.loads` takes): the
        relay's path, which needs no event names (Anthropic's JSON carries its own type)."""
        return [data for _name, data in self._events(self._lines(chunk))]

    def flush(self) -> list[tuple[str, str]]:
        """End of stream. WHATWG discards an event without its blank line; we do the same for a
        partial line but dispatch complete data lines, which is what lenient peers expect."""
        lines = [self._buf, b""] if self._buf else [b""]
        self._buf = b""
        return [_text(name, data) for name, data in self._events(lines)]

    def _lines(self, chunk: bytes) -> list[bytes]:
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
        return lines

    def _events(self, lines: list[bytes]) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        data = self._data
        for raw in lines:
            if not raw:  # blank line: dispatch
                if data:
                    out.append((self._event, data[0] if len(data) == 1 else b"\n".join(data)))
                    data = self._data = []
                self._event = b""
            elif raw.startswith(b"data:"):  # the common line first
                value = raw[5:]
                data.append(value[1:] if value[:1] == b" " else value)
            elif raw[:1] != b":":  # not a comment
                name, sep, value = raw.partition(b":")
                if sep and value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    data.append(value)
                elif name == b"event":
                    self._event = value
                elif name == b"id" and b"\0" not in value:
                    self._last_id = value.decode("utf-8", "replace")
                # "retry" and unknown fields are ignored
        return out


def _text(name: bytes, data: bytes) -> tuple[str, str]:
    return (name.decode("utf-8", "replace") or "message", data.decode("utf-8", "replace"))
