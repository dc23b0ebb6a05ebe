"""Remote image/PDF URLs: URL validation, the SSRF address check, and end to end through the real
daemon against a loopback HTTP server — every bad URL is a 400 in OpenAI shape naming the message,
never a 500."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
import requests

from modelmux.convert import ConvertOptions, inline_remote, to_anthropic
from modelmux.convert.media import check_remote_url
from modelmux.errors import InvalidRequest
from modelmux.upstream.images import _FetchFailed, _first_error, is_public_address
from tests.conftest import Daemon, EmulatorThread, emulator_env

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF_MIN = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
MAX_BYTES = 100_000
MAX_TOTAL = 150_000
MAX_PER_REQUEST = 4
FETCH_TIMEOUT_S = 2
BIG_PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 80_000  # under max_bytes, two exceed max_total_bytes


# --- pure: URL validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[abc/", "Invalid IPv6 URL"),
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://[abc]/x.png", "does not appear"),
        ("http://example.com:99999/a.png", "Port out of range"),
        ("http://example.com:-1/a.png", "Port could not be cast"),
        ("http://example.com:abc/a.png", "Port could not be cast"),
        ("http://example.com:0/a.png", "port 0"),
        ("http:///a.png", "no host"),
        ("http://:80/a.png", "no host"),
        ("http://exa mple.com/a.png", "whitespace"),
        ("http://example.com/a\n.png", "whitespace"),
        ("http://example.com\x00/a.png", "control"),
        ("ftp://example.com/a.png", "http(s)"),
    ],
)
def test_check_remote_url_refuses(url: str, why: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_remote_url(url, param="messages[3].content[0].image_url.url")
    assert info.value.param == "messages[3].content[0].image_url.url"
    assert info.value.code == "invalid_image_url"
    assert why in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.png",
        "HTTPS://Example.COM:8443/a.png?x=1#f",
        "http://[2001:db8::1]:65535/a.png",
        "http://user:pw@example.com/a.pdf",
        "http://192.0.2.1/a.png",  # addresses are judged when fetching, not here
    ],
)
def test_check_remote_url_accepts(url: str) -> None:
    check_remote_url(url, param="p")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 well-known prefix → 169.254.169.254
        ("64:ff9b::7f00:1", False),  # → 127.0.0.1
        ("64:ff9b::808:808", True),  # → 8.8.8.8
        ("64:ff9b:1::a00:1", False),  # NAT64 local-use prefix → 10.0.0.1
        ("64:ff9b:1:a9fe:a9:fe00:808:808", False),  # /48 embedding → 169.254.169.254
        ("2002:a9fe:a9fe::", False),  # 6to4 → 169.254.169.254
        ("2002:a00:1::1", False),  # 6to4 → 10.0.0.1
        ("2002:808:808::1", True),  # 6to4 → 8.8.8.8
        ("::127.0.0.1", False),  # IPv4-compatible
        ("::a9fe:a9fe", False),
        ("::8.8.8.8", True),
        ("::ffff:0:7f00:1", False),  # IPv4-translated (SIIT)
        ("::ffff:169.254.169.254", False),  # IPv4-mapped
        ("::ffff:8.8.8.8", True),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("2001::1", False),
        ("::", False),
        ("::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("fe80::1%eth0", False),
        ("2606:4700:4700::1111", True),
    ],
)
def test_is_public_address_embedded_ipv4(address: str, public: bool) -> None:
    assert is_public_address(address) is public


# --- pure: conversion of URL parts -----------------------------------------------------------


def _convert(content: list[dict], *, index: int = 0) -> Any:
    history: list[dict] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ][:index]
    return to_anthropic(
        {"model": "m", "messages": [*history, {"role": "user", "content": content}]},
        model_id="claude-sonnet-4-5@20250929",
        options=ConvertOptions(),
    )


def test_bad_image_url_is_refused_while_converting() -> None:
    with pytest.raises(InvalidRequest) as info:
        _convert(
            [
                {"type": "text", "text": "x"},
                {"type": "image_url", "image_url": {"url": "http://example.com:99999/a.png"}},
            ],
            index=2,
        )
    assert info.value.param == "messages[2].content[1].image_url.url"


def test_file_data_url_becomes_a_pdf_only_remote_document() -> None:
    req = _convert(
        [{"type": "file", "file": {"file_data": "https://e.x/doc.pdf", "filename": "doc.pdf"}}],
        index=2,
    )
    (remote,) = req.remote_images
    assert remote.message_index == 2 and remote.allowed == ("application/pdf",)
    assert remote.param == "messages[2].content[0].file.file_data"
    inline_remote(remote, "application/pdf", base64.b64encode(PDF_MIN).decode(), sniffed=True)
    assert req.body["messages"][-1]["content"][0]["type"] == "document"
    assert req.body["messages"][-1]["content"][0]["title"] == "doc.pdf"
    with pytest.raises(InvalidRequest):
        inline_remote(remote, "image/png", "", sniffed=True)
    with pytest.raises(InvalidRequest) as info:
        _convert([{"type": "file", "file": {"file_data": "https://[x/doc.pdf"}}])
    assert info.value.param == "messages[0].content[0].file.file_data"


def test_inline_remote_sniffed_does_not_decode_again() -> None:
    req = _convert([{"type": "image_url", "image_url": {"url": "https://e.x/a"}}])
    (remote,) = req.remote_images
    inline_remote(remote, "image/png", "not base64 at all!", sniffed=True)  # trusted as is
    assert remote.block["source"]["media_type"] == "image/png"
    inline_remote(remote, "application/pdf", "x", sniffed=True)
    assert remote.block["type"] == "document"


def test_first_error_prefers_client_errors_by_message_index() -> None:
    late = _FetchFailed("late", param="messages[5]", message_index=5)
    early = _FetchFailed("early", param="messages[1]", message_index=1)
    group = BaseExceptionGroup("x", [RuntimeError("bug"), late, ExceptionGroup("y", [early])])
    assert _first_error(group) is early
    bug = RuntimeError("bug")
    assert _first_error(BaseExceptionGroup("x", [bug])) is bug


# --- end to end ------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the daemon hangs up on slow and huge answers: expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: bytes, ctype: str = "", **headers: str) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k.replace("_", "-"), v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path == "/pixel.png":
            self._send(200, PNG_1PX, "image/png")
        elif path == "/mislabelled":
            self._send(200, PNG_1PX, "text/plain")
        elif path == "/big.png":
            self._send(200, BIG_PNG, "image/png")
        elif path == "/doc.pdf":
            self._send(200, PDF_MIN, "application/pdf")
        elif path == "/page.html":
            self._send(200, b"<html>not an image</html>", "text/html")
        elif path == "/empty":
            self._send(200, b"", "image/png")
        elif path == "/gzip-bomb.png":  # compressed although identity was asked for
            bomb = gzip.compress(b"\x89PNG\r\n\x1a\n" + b"\0" * (50 * MAX_BYTES))
            self._send(200, bomb, "image/png", Content_Encoding="gzip")
        elif path.startswith("/redirect?"):
            self._send(302, b"", Location=unquote(path.split("?", 1)[1]))
        elif path == "/loop":
            self._send(302, b"", Location="/loop")
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"\x89PNG\r\n\x1a\n")
            self.wfile.flush()
            time.sleep(10)
        elif path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(50 * MAX_BYTES))
            self.end_headers()
            self._stream(50 * MAX_BYTES)
        elif path == "/huge-chunked":  # no Content-Length: the limit is found while reading
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self._stream(50 * MAX_BYTES)
        else:
            self._send(404, b"not found", "text/plain")

    def _stream(self, total: int) -> None:
        self.wfile.write(b"\x89PNG\r\n\x1a\n")
        chunk = b"\0" * 16384
        sent = 8
        while sent < total:
            self.wfile.write(chunk)
            sent += len(chunk)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def fetcher_daemon(
    tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorThread
) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("images-home")
    env = emulator_env(
        home,
        emulator,
        MODELMUX_IMAGES_ALLOW_PRIVATE_NETWORKS="true",
        MODELMUX_IMAGES_MAX_BYTES=str(MAX_BYTES),
        MODELMUX_IMAGES_MAX_TOTAL_BYTES=str(MAX_TOTAL),
        MODELMUX_IMAGES_MAX_PER_REQUEST=str(MAX_PER_REQUEST),
        MODELMUX_IMAGES_FETCH_TIMEOUT_S=str(FETCH_TIMEOUT_S),
    )
    proc = Daemon([], env, cwd=home)
    yield proc
    proc.stop()


def _image(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def _file(url: str) -> dict:
    return {"type": "file", "file": {"file_data": url, "filename": "doc.pdf"}}


def _post(d: Daemon, parts: list[dict], *, index: int = 2) -> requests.Response:
    """`parts` in messages[index] (a user turn after a user/assistant exchange when 2)."""
    history: list[dict] = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ][:index]
    content = [{"type": "text", "text": "look [mm:echo-request]"}, *parts]
    body = {"model": "m", "messages": [*history, {"role": "user", "content": content}]}
    return requests.post(f"{d.base_url}/v1/chat/completions", json=body, timeout=30)


def _error(resp: requests.Response) -> dict:
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error"
    return err


def _sent_blocks(resp: requests.Response) -> list[dict]:
    assert resp.status_code == 200, resp.text
    sent = json.loads(resp.json()["choices"][0]["message"]["content"])
    return sent["messages"][-1]["content"][1:]


def test_png_and_pdf_urls_are_inlined_by_their_bytes(fetcher_daemon: Daemon, files: str) -> None:
    blocks = _sent_blocks(
        _post(
            fetcher_daemon,
            [
                _image(f"{files}/pixel.png"),
                _image(f"{files}/doc.pdf"),  # an image_url pointing at a PDF → document
                _file(f"{files}/doc.pdf"),
                _image(f"{files}/redirect?/mislabelled"),  # wrong Content-Type: bytes win
            ],
        )
    )
    assert [b["type"] for b in blocks] == ["image", "document", "document", "image"]
    assert [b["source"]["media_type"] for b in blocks] == [
        "image/png",
        "application/pdf",
        "application/pdf",
        "image/png",
    ]
    assert base64.b64decode(blocks[0]["source"]["data"]) == PNG_1PX
    assert base64.b64decode(blocks[1]["source"]["data"]) == PDF_MIN
    assert blocks[2]["title"] == "doc.pdf"


IMAGE_PARAM = "messages[2].content[1].image_url.url"
FILE_PARAM = "messages[2].content[1].file.file_data"


@pytest.mark.parametrize(
    ("part", "param", "needle"),
    [
        (_image("http://[abc/"), IMAGE_PARAM, "Invalid IPv6 URL"),
        (_image("http://example.com:99999/a.png"), IMAGE_PARAM, "Port out of range"),
        (_image("http://xn--/a.png"), IMAGE_PARAM, "malformed"),
        (_file("http://[::1/doc.pdf"), FILE_PARAM, "Invalid IPv6 URL"),
        (_image("{files}/redirect?http://[::1"), IMAGE_PARAM, "redirected to a malformed URL"),
        (_image("{files}/redirect?http://h:99999/"), IMAGE_PARAM, "redirected to a malformed"),
        (_image("{files}/redirect?ftp://example.com/a.png"), IMAGE_PARAM, "only http(s)"),
        (_image("{files}/loop"), IMAGE_PARAM, "too many redirects"),
        (_image("{files}/page.html"), IMAGE_PARAM, "unsupported content type 'text/html'"),
        (_file("{files}/pixel.png"), FILE_PARAM, "'image/png'; supported: application/pdf"),
        (_image("{files}/missing.png"), IMAGE_PARAM, "HTTP 404"),
        (_image("{files}/empty"), IMAGE_PARAM, "empty"),
        # never inflated: a few KB on the wire must not become 50 x max_bytes in memory
        (_image("{files}/gzip-bomb.png"), IMAGE_PARAM, "unsupported content type"),
        (_image("{files}/huge"), IMAGE_PARAM, f"larger than {MAX_BYTES} bytes"),
        (_image("{files}/huge-chunked"), IMAGE_PARAM, f"larger than {MAX_BYTES} bytes"),
        (_image("{files}/slow"), IMAGE_PARAM, "timed out"),
        (_image("http://127.0.0.1:1/a.png"), IMAGE_PARAM, "connection failed"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_bad_urls_are_400s_naming_the_message(
    fetcher_daemon: Daemon, files: str, part: dict, param: str, needle: str
) -> None:
    part = json.loads(json.dumps(part).replace("{files}", files))
    err = _error(_post(fetcher_daemon, [part]))
    assert err["param"] == param
    assert "messages[2]" in err["message"]
    assert needle in err["message"], err["message"]
    assert err["code"] in ("invalid_image_url", "invalid_value")


def test_too_many_urls_is_a_400_naming_the_first_extra(fetcher_daemon: Daemon, files: str) -> None:
    parts = [_image(f"{files}/pixel.png")] * (MAX_PER_REQUEST + 1)
    err = _error(_post(fetcher_daemon, parts))
    assert err["param"] == f"messages[2].content[{MAX_PER_REQUEST + 1}].image_url.url"
    assert f"at most {MAX_PER_REQUEST}" in err["message"]
    blocks = _sent_blocks(_post(fetcher_daemon, [_image(f"{files}/pixel.png")] * MAX_PER_REQUEST))
    assert len(blocks) == MAX_PER_REQUEST


def test_total_bytes_per_request_are_bounded(fetcher_daemon: Daemon, files: str) -> None:
    assert len(_sent_blocks(_post(fetcher_daemon, [_image(f"{files}/big.png")]))) == 1
    err = _error(_post(fetcher_daemon, [_image(f"{files}/big.png")] * 2))
    assert f"add up to more than {MAX_TOTAL} bytes" in err["message"]
    assert err["param"].startswith("messages[2].content[")


def test_one_failure_cancels_the_other_fetches(fetcher_daemon: Daemon, files: str) -> None:
    started = time.monotonic()
    err = _error(_post(fetcher_daemon, [_image(f"{files}/slow"), _image(f"{files}/page.html")]))
    assert "text/html" in err["message"]
    assert time.monotonic() - started < FETCH_TIMEOUT_S * 0.75  # not waiting for /slow


def test_fetch_failure_in_a_later_message(fetcher_daemon: Daemon, files: str) -> None:
    history = [
        {"role": "user", "content": [_image(f"{files}/pixel.png")]},
        {"role": "assistant", "content": "a pixel"},
        {"role": "user", "content": "and this?"},
        {"role": "assistant", "content": "?"},
        {"role": "user", "content": [{"type": "text", "text": "x"}, _image(f"{files}/page.html")]},
    ]
    resp = requests.post(
        f"{fetcher_daemon.base_url}/v1/chat/completions",
        json={"model": "m", "messages": history},
        timeout=30,
    )
    err = _error(resp)
    assert err["param"] == "messages[4].content[1].image_url.url"
    assert "messages[4]" in err["message"]


@pytest.mark.parametrize(
    "host",
    ["[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::127.0.0.1]", "[2001::1]"],
)
def test_ssrf_guard_unwraps_embedded_ipv4(daemon: Daemon, files: str, host: str) -> None:
    port = files.rsplit(":", 1)[1]
    err = _error(_post(daemon, [_image(f"http://{host}:{port}/pixel.png")]))
    assert "not a public" in err["message"]
    assert err["param"] == IMAGE_PARAM


def test_max_per_request_zero_refuses_every_url(start_daemon, files: str) -> None:
    d = start_daemon(
        MODELMUX_IMAGES_ALLOW_PRIVATE_NETWORKS="true", MODELMUX_IMAGES_MAX_PER_REQUEST="0"
    )
    err = _error(_post(d, [_image(f"{files}/pixel.png")]))
    assert err["param"] == IMAGE_PARAM and "max_per_request is 0" in err["message"]
    data_uri = "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
    assert len(_sent_blocks(_post(d, [_image(data_uri)]))) == 1  # data: URIs are unaffected
