"""Helpers for talking to a real emulator in tests: token grant, request bodies, an SSE parser."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from google.auth import crypt
from google.auth import jwt as google_jwt

from modelmux.emulator import EmulatorHandle, start_emulator

VERSION = "vertex-2023-10-16"
MODEL = "claude-sonnet-4-5@20250929"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


def make_body(content: Any = "hello", *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    """A minimal valid messages body; `content` is the single user message's content."""
    body: dict[str, Any] = {
        "anthropic_version": VERSION,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": content}],
    }
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


def sign_assertion(info: dict[str, Any], **overrides: Any) -> str:
    """A JWT-bearer assertion like google-auth builds, with claims overridable for negative tests."""
    now = int(time.time())
    claims = {
        "iss": info["client_email"],
        "aud": "https://oauth2.googleapis.com/token",
        "scope": SCOPE,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(overrides)
    signer = crypt.RSASigner.from_service_account_info(info)
    return google_jwt.encode(signer, claims).decode()


def read_key(handle: EmulatorHandle) -> dict[str, Any]:
    with open(handle.credentials_file, "rb") as fh:
        return orjson.loads(fh.read())


async def grant(session: aiohttp.ClientSession, handle: EmulatorHandle, assertion: str):
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    async with session.post(f"{handle.base_url}/token", data=form) as resp:
        return resp.status, await resp.json()


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Named SSE events as (event, parsed data); asserts the name equals the payload type."""
    events = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        if not frame.strip():
            continue
        name, data = "message", []
        for line in frame.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        payload = orjson.loads("\n".join(data))
        assert payload["type"] == name, frame
        events.append((name, payload))
    return events


def assemble(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Rebuild the final Message from a stream, the way an Anthropic SDK accumulates it."""
    message: dict[str, Any] = {}
    partial: dict[int, str] = {}
    for name, data in events:
        if name == "message_start":
            message = dict(data["message"])
            message["content"] = []
        elif name == "content_block_start":
            assert data["index"] == len(message["content"])
            message["content"].append(dict(data["content_block"]))
        elif name == "content_block_delta":
            block, delta = message["content"][data["index"]], data["delta"]
            kind = delta["type"]
            if kind == "text_delta":
                block["text"] += delta["text"]
            elif kind == "thinking_delta":
                block["thinking"] += delta["thinking"]
            elif kind == "signature_delta":
                block["signature"] = delta["signature"]
            elif kind == "input_json_delta":
                partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
        elif name == "content_block_stop":
            block = message["content"][data["index"]]
            if block["type"] == "tool_use":
                raw = partial.get(data["index"], "")
                block["input"] = orjson.loads(raw) if raw else {}
        elif name == "message_delta":
            message.update(data["delta"])
            message["usage"] = {**message["usage"], **data["usage"]}
    return message


@dataclass
class Emu:
    """A running emulator plus a session holding a valid bearer token."""

    handle: EmulatorHandle
    session: aiohttp.ClientSession
    token: str

    @property
    def base_url(self) -> str:
        return self.handle.base_url

    def url(self, action: str = "rawPredict", model: str = MODEL, publisher: str = "anthropic"):
        return (
            f"{self.base_url}/v1/projects/proj/locations/us-east5/publishers/{publisher}"
            f"/models/{model}:{action}"
        )

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, body: dict[str, Any], *, model: str = MODEL):
        """POST to rawPredict or streamRawPredict (picked from body["stream"]).

        Returns (status, headers, parsed JSON) or, for a 200 stream, (status, headers, events).
        """
        action = "streamRawPredict" if body.get("stream") else "rawPredict"
        async with self.session.post(
            self.url(action, model), data=orjson.dumps(body), headers=self.auth()
        ) as resp:
            text = await resp.text()
            if resp.status == 200 and action == "streamRawPredict":
                return resp.status, resp.headers, parse_sse(text)
            return resp.status, resp.headers, orjson.loads(text)

    async def ask(self, text: str, *, stream: bool = False, **extra: Any):
        """Send one user message; return the Message (assembled from the stream if streaming)."""
        status, _, payload = await self.call(make_body(text, stream=stream, **extra))
        assert status == 200, payload
        return assemble(payload) if stream else payload

    async def stats(self) -> dict[str, int]:
        async with self.session.get(f"{self.base_url}/_emulator/stats") as resp:
            return await resp.json()


async def fetch_token(session: aiohttp.ClientSession, handle: EmulatorHandle) -> str:
    status, answer = await grant(session, handle, sign_assertion(read_key(handle)))
    assert status == 200, answer
    return answer["access_token"]


@pytest.fixture
async def emu(tmp_path):
    handle = await start_emulator(key_dir=str(tmp_path))
    try:
        async with aiohttp.ClientSession() as session:
            yield Emu(handle, session, await fetch_token(session, handle))
    finally:
        await handle.stop()
