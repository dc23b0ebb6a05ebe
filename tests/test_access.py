"""Client API keys: the real daemon with keys from the environment or a keys file."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
import requests

from modelmux.access import AccessPolicy, is_loopback
from modelmux.config import ConfigError, parse_api_keys
from tests.conftest import Daemon, EmulatorThread, emulator_env, wait_until

KEY_A = "mm-test-key-alpha-0123456789"
KEY_B = "mm-test-key-bravo-9876543210"
FILE_KEY = "mm-file-key-charlie-5555555555"
CHAT = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_invalid_key(resp: requests.Response, start: str) -> None:
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.headers["X-Request-ID"]
    error = resp.json()["error"]
    assert error["message"].startswith(start)
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None and error["code"] == "invalid_api_key"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorThread) -> Daemon:
    home = tmp_path_factory.mktemp("keyed")
    env = emulator_env(home, emulator, MODELMUX_SERVER_API_KEYS=f"{KEY_A},{KEY_B}")
    daemon = Daemon([], env, cwd=home)
    yield daemon
    daemon.stop()


def test_requests_without_a_key_get_401(keyed: Daemon) -> None:
    url = keyed.base_url
    assert_invalid_key(requests.post(f"{url}/v1/chat/completions", json=CHAT), "You didn't")
    assert_invalid_key(requests.get(f"{url}/v1/models"), "You didn't")
    assert_invalid_key(
        requests.get(f"{url}/v1/models", headers={"Authorization": "Basic eA=="}), "You didn't"
    )
    assert_invalid_key(requests.get(f"{url}/v1/nowhere"), "You didn't")  # 401 before 404


def test_wrong_key_gets_401(keyed: Daemon) -> None:
    for key in ("nope", KEY_A + "x", KEY_A[:-1], KEY_A.upper()):
        resp = requests.get(f"{keyed.base_url}/v1/models", headers=bearer(key))
        assert_invalid_key(resp, "Incorrect API key provided")
    with pytest.raises(openai.AuthenticationError) as info:
        openai.OpenAI(base_url=f"{keyed.base_url}/v1", api_key="wrong", max_retries=0).models.list()
    assert info.value.code == "invalid_api_key"


def test_every_configured_key_is_accepted(keyed: Daemon) -> None:
    for key in (KEY_A, KEY_B):
        client = openai.OpenAI(base_url=f"{keyed.base_url}/v1", api_key=key, max_retries=0)
        completion = client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hello"}]
        )
        assert completion.choices[0].message.content == "Echo: hello"
    resp = requests.get(
        f"{keyed.base_url}/v1/models", headers={"Authorization": f"bearer  {KEY_B} "}
    )
    assert resp.status_code == 200


def test_health_and_metrics_stay_open(keyed: Daemon) -> None:
    health = requests.get(f"{keyed.base_url}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = requests.get(f"{keyed.base_url}/metrics")
    assert metrics.status_code == 200 and "modelmux_requests_total" in metrics.text
    # a refused request is counted, under its route
    assert 'status="401"' in metrics.text


def test_rejections_are_logged_without_the_key(keyed: Daemon) -> None:
    requests.get(f"{keyed.base_url}/v1/models", headers=bearer("sekrit-wrong-key-123"))

    def lines() -> list[dict]:
        return [e for e in keyed.events("request") if e.get("outcome") == "invalid_api_key"]

    assert wait_until(lambda: bool(lines()), timeout=5)  # the log reader may lag the response
    assert all(line["status"] == 401 for line in lines())
    assert not any("sekrit-wrong-key" in line for line in keyed.lines)


def test_keys_file_and_metrics_behind_key(start_daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "api-keys"
    keys.write_text(f"# team A\n{FILE_KEY}\n\n   # old key, revoked:\n  #{KEY_B}\n")
    daemon = start_daemon(
        MODELMUX_SERVER_API_KEYS_FILE=str(keys), MODELMUX_METRICS_REQUIRE_API_KEY="true"
    )
    url = daemon.base_url
    assert requests.get(f"{url}/v1/models", headers=bearer(FILE_KEY)).status_code == 200
    assert_invalid_key(requests.get(f"{url}/v1/models", headers=bearer(KEY_B)), "Incorrect")
    assert_invalid_key(requests.get(f"{url}/v1/models", headers=bearer("#")), "Incorrect")
    assert requests.get(f"{url}/health").status_code == 200
    assert_invalid_key(requests.get(f"{url}/metrics"), "You didn't")
    assert requests.get(f"{url}/metrics", headers=bearer(FILE_KEY)).status_code == 200
    (listening,) = daemon.events("listening")
    assert listening["api_keys"] == 1
    assert not daemon.events("no client API keys configured")


def test_open_proxy_beyond_loopback_warns(start_daemon) -> None:  # type: ignore[no-untyped-def]
    daemon = start_daemon("--host", "0.0.0.0")

    def warnings() -> list[dict]:
        return [e for e in daemon.events() if "open to anyone" in e.get("event", "")]

    assert wait_until(warnings)
    warnings = warnings()
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert requests.get(f"{daemon.base_url}/v1/models").status_code == 200  # open, as warned


def test_no_warning_on_loopback(daemon: Daemon) -> None:
    assert not [e for e in daemon.events() if "open to anyone" in e.get("event", "")]


# --- units ----------------------------------------------------------------------------------


def test_parse_keys_file_text() -> None:
    text = "# comment\n\n key-one \nkey-two\n#key-three\nkey-one\n"
    assert parse_api_keys(text) == ("key-one", "key-two")


@pytest.mark.parametrize(
    ("content", "message"),
    [("# only comments\n\n", "contains no keys"), ("a b\n", "whitespace")],
)
def test_bad_keys_file_is_a_config_error(tmp_path: Path, content: str, message: str) -> None:
    from modelmux.config import load_settings

    path = tmp_path / "keys"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings([], environ={"MODELMUX_SERVER_API_KEYS_FILE": str(path)}, cwd=str(tmp_path),
                      system_file=str(tmp_path / "none.toml"), user_file=str(tmp_path / "none2.toml"))  # fmt: skip
    assert message in str(info.value) and "server.api_keys_file" in str(info.value)
    assert "a b" not in str(info.value)


def test_policy_compares_every_key() -> None:
    policy = AccessPolicy(("k1-abcdefgh", "k2-abcdefgh"))
    assert policy.enabled and policy.accepts("k2-abcdefgh") and not policy.accepts("k3")
    assert not AccessPolicy(()).enabled
    assert "/metrics" in AccessPolicy(()).open_paths
    assert "/metrics" not in AccessPolicy(("k",), protect_metrics=True).open_paths


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# --- secrets never reach the log ------------------------------------------------------------


def test_no_secret_in_any_log_line_at_trace(start_daemon, emulator: EmulatorThread) -> None:  # type: ignore[no-untyped-def]
    import json

    import google.auth.transport.requests
    from google.oauth2 import service_account

    # Every token the emulator issues looks like this one: the prefix is what we look for.
    creds = service_account.Credentials.from_service_account_file(
        emulator.credentials_file, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token.startswith("ya29.")
    private_key = json.loads(Path(emulator.credentials_file).read_text())["private_key"]
    key_lines = [line for line in private_key.splitlines() if len(line) > 40]
    assert key_lines

    daemon = start_daemon("--log-level", "trace", MODELMUX_SERVER_API_KEYS=f"{KEY_A},{KEY_B}")
    client = openai.OpenAI(base_url=f"{daemon.base_url}/v1", api_key=KEY_A, max_retries=0)
    prompts = [
        "hello",
        "[mm:fail-once 503] [mm:retry-after 0] retried",
        "[mm:fail-once 401] a rejected token is dropped and refreshed",
    ]
    for prompt in prompts:
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": prompt}])
    list(client.chat.completions.create(
        model="x", messages=[{"role": "user", "content": "[mm:long 10]"}], stream=True
    ))  # fmt: skip
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "[mm:error 429] [mm:retry-after 60]"}]
        )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{daemon.base_url}/v1", api_key=KEY_B + "-wrong", max_retries=0
        ).models.list()
    health = requests.get(f"{daemon.base_url}/health", timeout=5).json()
    assert health["metrics"]["token_refreshes"] >= 2  # the 401 made it fetch a second token
    daemon.stop()

    output = "\n".join(daemon.lines)
    assert len(daemon.lines) > 10 and '"request"' in output
    assert "ya29." not in output
    for line in key_lines:
        assert line not in output
    assert "PRIVATE KEY" not in output
    for secret in (KEY_A, KEY_B):
        assert secret not in output
    assert "Bearer" not in output and "bearer" not in output


def test_config_show_hides_keys(tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import MODELMUX, clean_env

    keys = tmp_path / "keys"
    keys.write_text(f"{FILE_KEY}\n")
    env = clean_env(
        tmp_path, MODELMUX_SERVER_API_KEYS=KEY_A, MODELMUX_SERVER_API_KEYS_FILE=str(keys)
    )
    for extra in ([], ["--json"]):
        out = subprocess.run(
            [MODELMUX, "config", "show", *extra],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "***" in out and KEY_A not in out and FILE_KEY not in out


def test_scrubber_last_line_of_defence() -> None:
    from modelmux.logs import REDACTED, Scrubber

    scrub = Scrubber([KEY_A, "short"]).scrub
    assert scrub("token ya29.c.abc-DEF_123 used") == f"token {REDACTED} used"
    assert scrub("Authorization: Bearer abc.def") == f"Authorization: {REDACTED}"
    assert scrub(f"key={KEY_A}!") == f"key={REDACTED}!"
    assert scrub("a short word") == "a short word"  # too short to match literally
    pem = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"
    assert scrub(f"x {pem} y") == f"x {REDACTED} y"
    assert scrub("assertion=eyJhbGciOi.eyJpc3MiOi.c2lnbmF0dXJl") == f"assertion={REDACTED}"
