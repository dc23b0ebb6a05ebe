"""The incremental SSE decoder and the encoders."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modelmux.sse import COMMENT_KEEPALIVE, SSEDecoder, encode_event


def decode_all(chunks: list[bytes]) -> list[tuple[str, str]]:
    d = SSEDecoder()
    out = []
    for c in chunks:
        out.extend(d.feed(c))
    return out


STREAM = (
    b": hello comment\n"
    b"event: message_start\n"
    b'data: {"type":"message_start"}\n'
    b"\n"
    b"data: line one\n"
    b"data:line two\n"
    b"id: 7\n"
    b"retry: 100\n"
    b"unknown: x\n"
    b"\n"
    b"event: ping\n" + "data: caf\u00e9 \U0001f600\n\n".encode()
)
EXPECTED = [
    ("message_start", '{"type":"message_start"}'),
    ("message", "line one\nline two"),
    ("ping", "caf\u00e9 \U0001f600"),
]


def test_whole_stream() -> None:
    assert decode_all([STREAM]) == EXPECTED


def test_every_split_point() -> None:
    for i in range(len(STREAM) + 1):
        for j in range(i, len(STREAM) + 1):
            assert decode_all([STREAM[:i], STREAM[i:j], STREAM[j:]]) == EXPECTED, (i, j)


def test_byte_by_byte_including_inside_utf8() -> None:
    assert decode_all([STREAM[k : k + 1] for k in range(len(STREAM))]) == EXPECTED


def test_crlf_and_cr_line_endings_split_anywhere() -> None:
    for sep in (b"\r\n", b"\r"):
        blob = STREAM.replace(b"\n", sep)
        for i in range(len(blob) + 1):
            assert decode_all([blob[:i], blob[i:]]) == EXPECTED, (sep, i)


def test_mixed_line_endings() -> None:
    blob = b"data: a\r\ndata: b\rdata: c\n\r\nevent: x\ndata: d\r\r"
    assert decode_all([blob]) == [("message", "a\nb\nc"), ("x", "d")]


def test_comments_and_empty_events_ignored() -> None:
    assert decode_all([b": keep-alive\n\n\n\nevent: foo\n\n: x\n\n"]) == []
    assert decode_all([COMMENT_KEEPALIVE * 3]) == []


def test_field_without_colon_and_space_handling() -> None:
    assert decode_all([b"data\n\ndata:  two spaces\n\n"]) == [
        ("message", ""),
        ("message", " two spaces"),
    ]


def test_bom_stripped_even_split() -> None:
    blob = b"\xef\xbb\xbfdata: x\n\n"
    assert decode_all([blob]) == [("message", "x")]
    assert decode_all([blob[:1], blob[1:2], blob[2:]]) == [("message", "x")]


def test_event_name_reset_after_dispatch_and_last_id() -> None:
    d = SSEDecoder()
    assert d.feed(b"event: a\nid: 9\ndata: 1\n\ndata: 2\n\n") == [("a", "1"), ("message", "2")]
    assert d.last_event_id == "9"


def test_flush_dispatches_a_pending_event_without_blank_line() -> None:
    d = SSEDecoder()
    assert d.feed(b"data: tail") == []
    assert d.flush() == [("message", "tail")]


def test_encoders() -> None:
    assert encode_event("ping", b"{}") == b"event: ping\ndata: {}\n\n"
    assert COMMENT_KEEPALIVE == b": keep-alive\n\n"


@settings(max_examples=100, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["", "message_start", "content_block_delta", "ping"]),
            st.lists(
                st.text(
                    alphabet=st.characters(
                        blacklist_characters="\r\n", blacklist_categories=("Cs",)
                    ),
                    max_size=8,
                ),
                min_size=1,
                max_size=3,
            ),
        ),
        max_size=5,
    ),
    sep=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
def test_roundtrip_property(events, sep, cuts) -> None:
    text = ""
    want = []
    for name, lines in events:
        if name:
            text += f"event: {name}{sep}"
        text += "".join(f"data: {line}{sep}" for line in lines) + sep
        want.append((name or "message", "\n".join(lines)))
    blob = text.encode()
    points = sorted({min(c, len(blob)) for c in cuts})
    chunks, prev = [], 0
    for p in [*points, len(blob)]:
        chunks.append(blob[prev:p])
        prev = p
    assert decode_all(chunks) == want
