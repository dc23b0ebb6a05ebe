"""The emulator's Google side: service-account key file, JWT-bearer grant, bearer checks, routing."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import time

import aiohttp
import google.auth.transport.requests
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_support import MODEL, SCOPE, Emu, emu, grant, make_body, read_key, sign_assertion
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account

from modelmux.emulator import start_emulator

__all__ = ["emu"]


def _refresh(path: str) -> service_account.Credentials:
    creds = service_account.Credentials.from_service_account_file(path, scopes=[SCOPE])
    creds.refresh(google.auth.transport.requests.Request())
    return creds


async def test_key_file_is_a_complete_private_service_account_key(emu: Emu):
    info = read_key(emu.handle)
    assert stat.S_IMODE(os.stat(emu.handle.credentials_file).st_mode) == 0o600
    assert info["type"] == "service_account"
    assert info["token_uri"] == f"{emu.base_url}/token"
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    for key in ("project_id", "private_key_id", "client_email", "client_id"):
        assert info[key]


async def test_real_google_auth_flow_token_is_accepted(emu: Emu):
    creds = await asyncio.to_thread(_refresh, emu.handle.credentials_file)
    assert creds.token.startswith("ya29.emu-")
    assert creds.valid
    headers = {"Authorization": f"Bearer {creds.token}"}
    async with emu.session.post(emu.url(), json=make_body("hi"), headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["content"][0]["text"] == "Echo: hi"
    assert (await emu.stats())["token_grants"] == 2  # the fixture's and google-auth's


async def test_google_auth_with_forged_key_gets_invalid_grant(emu: Emu, tmp_path):
    info = read_key(emu.handle)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    forged = tmp_path / "forged.json"
    forged.write_bytes(orjson.dumps(info))
    with pytest.raises(RefreshError, match="invalid_grant"):
        await asyncio.to_thread(_refresh, str(forged))
    status, answer = await grant(emu.session, emu.handle, sign_assertion(info))
    assert status == 400
    assert answer == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"iss": "someone@else.iam.gserviceaccount.com"}, "invalid_grant", "account not found"),
        ({"aud": "https://example.com/token"}, "invalid_grant", "audience"),
        (
            {"exp": int(time.time()) - 100, "iat": int(time.time()) - 200},
            "invalid_grant",
            "short-lived",
        ),
        ({"exp": int(time.time()) + 7200}, "invalid_grant", "short-lived"),
        ({"scope": "https://www.googleapis.com/auth/userinfo.email"}, "invalid_scope", "scope"),
    ],
)
async def test_bad_assertions_are_refused(emu: Emu, claims, error, description):
    status, answer = await grant(
        emu.session, emu.handle, sign_assertion(read_key(emu.handle), **claims)
    )
    assert status == 400
    assert answer["error"] == error
    assert description in answer["error_description"]


async def test_own_token_uri_is_an_accepted_audience(emu: Emu):
    assertion = sign_assertion(read_key(emu.handle), aud=f"{emu.base_url}/token")
    status, answer = await grant(emu.session, emu.handle, assertion)
    assert status == 200
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == 3600


async def test_token_endpoint_form_errors(emu: Emu):
    url = f"{emu.base_url}/token"
    async with emu.session.post(url, data={"grant_type": "client_credentials"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "unsupported_grant_type"
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}
    async with emu.session.post(url, data=form) as resp:
        assert (await resp.json())["error"] == "invalid_request"
    async with emu.session.post(url, data={**form, "assertion": "not.a.jwt"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid_grant"


def _assert_unauthenticated(status, payload, reason):
    assert status == 401
    error = payload["error"]
    assert error["code"] == 401
    assert error["status"] == "UNAUTHENTICATED"
    assert error["message"].startswith("Request had invalid authentication credentials")
    assert error["details"][0]["reason"] == reason


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "CREDENTIALS_MISSING"),
        ({"Authorization": "Bearer ya29.forged-token"}, "ACCESS_TOKEN_TYPE_UNSUPPORTED"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "CREDENTIALS_MISSING"),
    ],
)
async def test_bad_bearer_tokens_get_googles_401(emu: Emu, headers, reason):
    async with emu.session.post(emu.url(), json=make_body(), headers=headers) as resp:
        _assert_unauthenticated(resp.status, await resp.json(), reason)
    async with emu.session.post(
        emu.url("streamRawPredict"), json=make_body(stream=True), headers=headers
    ) as resp:
        assert resp.content_type == "application/json"
        _assert_unauthenticated(resp.status, await resp.json(), reason)


async def test_expired_token_gets_401(tmp_path):
    handle = await start_emulator(key_dir=str(tmp_path), token_ttl_s=0.3)
    try:
        async with aiohttp.ClientSession() as session:
            status, answer = await grant(session, handle, sign_assertion(read_key(handle)))
            assert answer["expires_in"] == 1
            token = answer["access_token"]
            e = Emu(handle, session, token)
            assert (await e.call(make_body()))[0] == 200
            await asyncio.sleep(0.4)
            status, _, payload = await e.call(make_body())
            _assert_unauthenticated(status, payload, "ACCESS_TOKEN_EXPIRED")
    finally:
        await handle.stop()


async def test_wrong_publisher_and_unknown_model_get_googles_404(emu: Emu):
    url = emu.url(publisher="google")
    async with emu.session.post(url, json=make_body(), headers=emu.auth()) as resp:
        assert resp.status == 404
        error = (await resp.json())["error"]
        assert error["status"] == "NOT_FOUND"
        assert "publishers/google/models/claude-sonnet-4-5@20250929" in error["message"]
    async with emu.session.post(
        emu.url(model="gpt-4o"), json=make_body(), headers=emu.auth()
    ) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == 404
    async with emu.session.post(emu.url("predict"), json=make_body(), headers=emu.auth()) as resp:
        assert resp.status == 404


async def test_invalid_json_gets_googles_400(emu: Emu):
    async with emu.session.post(emu.url(), data=b"{nope", headers=emu.auth()) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["status"] == "INVALID_ARGUMENT"


async def test_count_tokens(emu: Emu):
    url = emu.url(model="count-tokens")
    body = {
        "anthropic_version": "vertex-2023-10-16",
        "model": MODEL,
        "messages": [{"role": "user", "content": "x" * 400}],
    }
    async with emu.session.post(url, json=body, headers=emu.auth()) as resp:
        assert resp.status == 200
        assert resp.headers["request-id"].startswith("req_vrtx_")
        assert await resp.json() == {"input_tokens": 100}
    del body["model"]
    async with emu.session.post(url, json=body, headers=emu.auth()) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["message"] == "model: Field required"


async def test_cli_runs_prints_and_stops_on_sigterm(tmp_path):
    key = tmp_path / "state" / "sa.json"
    args = ["-m", "modelmux.emulator.cli", "--port", "0", "--credentials-file", str(key)]

    async def run_once() -> tuple[str, dict]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        lines = []
        try:
            while not any("MODELMUX_AUTH_SERVICE_ACCOUNT_FILE" in line for line in lines):
                line = await asyncio.wait_for(proc.stdout.readline(), 15)
                assert line, (lines, await proc.stderr.read())
                lines.append(line.decode())
            base_url = next(ln.split()[-1] for ln in lines if "listening on" in ln)
            async with aiohttp.ClientSession() as session:
                handle = type("H", (), {"base_url": base_url, "credentials_file": str(key)})
                status, _ = await grant(
                    session, handle, sign_assertion(orjson.loads(key.read_bytes()))
                )
                assert status == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        text = "".join(lines)
        assert f"MODELMUX_VERTEX_BASE_URL={base_url}" in text
        assert f"MODELMUX_AUTH_SERVICE_ACCOUNT_FILE={key}" in text
        return base_url, orjson.loads(key.read_bytes())

    _, first = await run_once()
    _, second = await run_once()
    assert second["private_key_id"] == first["private_key_id"]  # a restart keeps the key
