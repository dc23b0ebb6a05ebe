"""The layered settings loader: precedence, origins, legacy names, `.env`, validation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from modelmux.config import (
    SCHEMA,
    ConfigError,
    UsageError,
    build_parser,
    check_ready,
    load_settings,
    parse_dotenv,
    redacted,
)
from modelmux.settings import ModelAlias

SECRET = "sk-very-secret-value-123"


class Env:
    """One test's world: system file, user file, `.env`, environment and flags."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.home = tmp_path / "home"
        self.cwd = tmp_path / "work"
        self.cwd.mkdir()
        self.system = tmp_path / "etc" / "config.toml"
        self.user = self.home / ".config" / "modelmux" / "config.toml"
        self.environ: dict[str, str] = {"HOME": str(self.home)}

    def write(self, path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def system_file(self, text: str) -> Path:
        return self.write(self.system, text)

    def user_file(self, text: str) -> Path:
        return self.write(self.user, text)

    def dotenv(self, text: str) -> Path:
        return self.write(self.cwd / ".env", text)

    def load(self, *argv: str, **env: str) -> Any:
        return load_settings(
            list(argv),
            environ={**self.environ, **env},
            cwd=str(self.cwd),
            system_file=str(self.system),
        )


@pytest.fixture
def world(tmp_path: Path) -> Env:
    return Env(tmp_path)


def service_account(path: Path, **override: Any) -> Path:
    info = {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k",
        "private_key": "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n",
        "client_email": "sa@p.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    info.update(override)
    path.write_text(json.dumps(info))
    return path


# --- defaults ----------------------------------------------------------------------------------


def test_defaults_match_the_contract(world: Env) -> None:
    s = world.load()
    assert (s.server.host, s.server.port, s.server.log_level, s.server.log_format) == (
        "127.0.0.1",
        3000,
        "info",
        "auto",
    )
    assert s.server.enable_retries is True and s.server.max_retry_attempts == 3
    assert s.server.max_body_mb == 32 and s.server.shutdown_timeout_s == 30
    assert s.server.api_keys == () and s.server.api_keys_file == ""
    assert s.vertex.publisher == "anthropic"
    assert s.vertex.anthropic_version == "vertex-2023-10-16"
    assert s.vertex.default_max_tokens == 8192
    assert (s.vertex.request_timeout_s, s.vertex.connect_timeout_s) == (600, 10)
    assert s.vertex.stream_idle_timeout_s == 300
    assert s.vertex.reject_unknown_models is False and s.vertex.models == ()
    assert (s.streaming.mode, s.streaming.buffer_size, s.streaming.chunk_timeout_ms) == (
        "auto",
        65536,
        5000,
    )
    assert s.streaming.keepalive_s == 15
    assert "curl" in s.streaming.non_streaming_agents
    assert "mozilla" in s.streaming.buffered_agents
    assert s.images.fetch_remote is True and s.images.allow_private_networks is False
    assert s.images.max_bytes == 5242880 and s.images.fetch_timeout_s == 10
    assert s.translation.reasoning_content is True and s.metrics.prometheus is True
    assert s.emulator is False and s.config_files == ()
    assert set(s.origins.values()) == {"default"}
    with pytest.raises(TypeError):
        s.origins["server.port"] = "x"  # type: ignore[index,unused-ignore]


# --- precedence: every layer beats the one below it ------------------------------------------

# key -> (TOML section/key, flag, modelmux env, legacy env, values per layer)
PRECEDENCE = {
    "server.port": ("server", "port", "--port", "MODELMUX_SERVER_PORT", "PORT",
                    ["1001", "1002", "1003", "1004", "1005", "1006"]),
    "server.log_level": ("server", "log_level", "--log-level", "MODELMUX_SERVER_LOG_LEVEL",
                         "LOG_LEVEL", ["trace", "debug", "info", "warning", "error", "debug"]),
    "vertex.project": ("vertex", "project", "--vertex-project", "MODELMUX_VERTEX_PROJECT",
                       "VERTEX_PROJECT", ["p-sys", "p-user", "p-dotenv", "p-legacy", "p-env",
                                          "p-flag"]),
}  # fmt: skip
LAYERS = ["system", "user", "dotenv", "legacy", "env", "flag"]


def _setup_layers(world: Env, dotted: str, upto: int) -> tuple[Any, str]:
    section, key, flag, env_name, legacy, values = PRECEDENCE[dotted]
    toml = (lambda v: v) if dotted == "server.port" else json.dumps
    argv: list[str] = []
    env: dict[str, str] = {}
    for i, layer in enumerate(LAYERS[: upto + 1]):
        v = values[i]
        if layer == "system":
            world.system_file(f"[{section}]\n{key} = {toml(v)}\n")
        elif layer == "user":
            world.user_file(f"[{section}]\n{key} = {toml(v)}\n")
        elif layer == "dotenv":
            world.dotenv(f"{env_name}={v}\n")
        elif layer == "legacy":
            env[legacy] = v
        elif layer == "env":
            env[env_name] = v
        elif layer == "flag":
            argv = [flag, v]
    expected_origin = {
        "system": f"system file {world.system}",
        "user": f"user file {world.user}",
        "dotenv": f".env {world.cwd / '.env'}",
        "legacy": f"env {legacy} (legacy)",
        "env": f"env {env_name}",
        "flag": f"flag {flag}",
    }[LAYERS[upto]]
    s = world.load(*argv, **env)
    return s, expected_origin


@pytest.mark.parametrize("upto", range(len(LAYERS)), ids=LAYERS)
@pytest.mark.parametrize("dotted", list(PRECEDENCE))
def test_each_layer_overrides_the_one_below(world: Env, dotted: str, upto: int) -> None:
    s, origin = _setup_layers(world, dotted, upto)
    section, key = dotted.split(".")
    expected = PRECEDENCE[dotted][5][upto]
    got = getattr(getattr(s, section), key)
    assert str(got) == expected
    assert s.origins[dotted] == origin


def test_dotenv_never_overrides_the_real_environment(world: Env) -> None:
    world.dotenv("MODELMUX_SERVER_PORT=1111\nVERTEX_PROJECT=from-dotenv\n")
    s = world.load(MODELMUX_SERVER_PORT="2222", VERTEX_PROJECT="from-env")
    assert s.server.port == 2222 and s.origins["server.port"] == "env MODELMUX_SERVER_PORT"
    assert s.vertex.project == "from-env"
    # a legacy name set in the real environment still beats a modelmux name in .env
    s = world.load(PORT="3333")
    assert s.server.port == 3333 and s.origins["server.port"] == "env PORT (legacy)"


def test_modelmux_env_names_beat_legacy_names(world: Env) -> None:
    s = world.load(PORT="1", MODELMUX_SERVER_PORT="2", LOG_LEVEL="DEBUG")
    assert s.server.port == 2 and s.server.log_level == "debug"
    assert s.origins["server.log_level"] == "env LOG_LEVEL (legacy)"


@pytest.mark.parametrize(
    ("env", "attr", "expected"),
    [
        ({"VERTEX_PROJECT": "proj-1"}, "project", "proj-1"),
        ({"VERTEX_REGION": "europe-west1"}, "location", "europe-west1"),
        ({"VERTEX_LOCATION": "us-east5"}, "location", "us-east5"),
        ({"VERTEX_LOCATION": "us-east5", "VERTEX_REGION": "europe-west1"}, "location", "us-east5"),
        ({"VERTEX_PUBLISHER": "anthropic2"}, "publisher", "anthropic2"),
        ({"VERTEX_MODEL_ID": "claude-opus-4@20250514"}, "model", "claude-opus-4@20250514"),
        ({"LLM_PROVIDER": "vertex", "VERTEX_PROJECT": "x1"}, "project", "x1"),
        ({"LLM_PROVIDER": "Vertex", "VERTEX_PROJECT": "x2"}, "project", "x2"),
    ],
)
def test_legacy_env_names(world: Env, env: dict[str, str], attr: str, expected: str) -> None:
    assert getattr(world.load(**env).vertex, attr) == expected


def test_log_level_legacy_values_are_normalised(world: Env) -> None:
    assert world.load(LOG_LEVEL="WARN").server.log_level == "warning"


def test_location_and_region_are_synonyms_location_wins(world: Env) -> None:
    world.user_file('[vertex]\nregion = "europe-west1"\nlocation = "us-east5"\n')
    s = world.load()
    assert s.vertex.location == "us-east5"
    world.user_file('[vertex]\nregion = "europe-west1"\n')
    s = world.load()
    assert s.vertex.location == "europe-west1"
    assert s.origins["vertex.location"] == f"user file {world.user}"
    # a higher layer's region beats a lower layer's location
    assert world.load("--vertex-region", "asia-east1").vertex.location == "asia-east1"
    assert world.load(MODELMUX_VERTEX_REGION="us-central1").vertex.location == "us-central1"


def test_files_merge_key_by_key(world: Env) -> None:
    world.system_file('[server]\nport = 4000\nhost = "0.0.0.0"\n[vertex]\nproject = "sys-proj"\n')
    world.user_file("[server]\nport = 5000\n")
    s = world.load()
    assert s.server.port == 5000 and s.origins["server.port"] == f"user file {world.user}"
    assert s.server.host == "0.0.0.0" and s.origins["server.host"] == f"system file {world.system}"
    assert s.vertex.project == "sys-proj"
    assert s.config_files == (str(world.system), str(world.user))


@pytest.mark.parametrize("how", ["flag", "env"])
def test_config_file_replaces_both_file_layers(world: Env, how: str) -> None:
    world.system_file('[vertex]\nproject = "sys-proj"\n')
    world.user_file("[server]\nport = 5000\n")
    other = world.write(world.root / "other.toml", "[server]\nlog_level = 'debug'\n")
    s = (
        world.load("--config", str(other))
        if how == "flag"
        else world.load(MODELMUX_CONFIG=str(other))
    )
    assert s.vertex.project == "" and s.server.port == 3000
    assert s.server.log_level == "debug"
    assert s.origins["server.log_level"] == f"config file {other}"
    assert s.config_files == (str(other),)


def test_system_file_from_hidden_env_var(world: Env) -> None:
    alt = world.write(world.root / "alt-system.toml", "[server]\nport = 4242\n")
    s = world.load(MODELMUX_SYSTEM_CONFIG=str(alt))
    assert s.server.port == 4242 and s.origins["server.port"] == f"system file {alt}"


def test_user_file_follows_xdg_config_home(world: Env) -> None:
    xdg = world.root / "xdg"
    world.write(xdg / "modelmux" / "config.toml", "[server]\nport = 4343\n")
    assert world.load(XDG_CONFIG_HOME=str(xdg)).server.port == 4343


def test_every_key_has_a_flag_and_an_env_name(world: Env) -> None:
    parser = build_parser()
    options = {s for a in parser._actions for s in a.option_strings}
    for key in SCHEMA:
        assert key.flag in options
        assert key.env == f"MODELMUX_{key.section.upper()}_{key.name.upper()}"
        assert key.flag == f"--{key.section}-{key.name.replace('_', '-')}"


@pytest.mark.parametrize(
    ("argv", "env", "check"),
    [
        (["--server-enable-retries", "false"], {}, lambda s: s.server.enable_retries is False),
        (["--metrics-prometheus", "no"], {}, lambda s: s.metrics.prometheus is False),
        (["--vertex-reject-unknown-models"], {}, lambda s: s.vertex.reject_unknown_models),
        ([], {"MODELMUX_IMAGES_FETCH_REMOTE": "off"}, lambda s: s.images.fetch_remote is False),
        ([], {"MODELMUX_SERVER_API_KEYS": "a, b"}, lambda s: s.server.api_keys == ("a", "b")),
        ([], {"MODELMUX_SERVER_API_KEYS": '["a","b"]'}, lambda s: s.server.api_keys == ("a", "b")),
        (["--streaming-buffered-agents", "Foo,Bar"], {},
         lambda s: s.streaming.buffered_agents == ("foo", "bar")),
        ([], {"MODELMUX_VERTEX_REQUEST_TIMEOUT_S": "12.5"},
         lambda s: s.vertex.request_timeout_s == 12.5),
        ([], {"MODELMUX_VERTEX_MODELS": '[{"name": "s", "id": "claude-sonnet-4@20250514"}]'},
         lambda s: s.vertex.models == (ModelAlias("s", "claude-sonnet-4@20250514"),)),
        (["--emulator"], {}, lambda s: s.emulator is True),
        ([], {"MODELMUX_SERVER_PORT": ""}, lambda s: s.server.port == 3000),  # empty = unset
    ],
)  # fmt: skip
def test_flag_and_env_forms(world: Env, argv: list[str], env: dict[str, str], check: Any) -> None:
    assert check(world.load(*argv, **env))


def test_models_from_toml(world: Env) -> None:
    world.user_file(
        "[[vertex.models]]\nname = 'sonnet'\nid = 'claude-sonnet-4@20250514'\n"
        "[[vertex.models]]\nname = 'haiku'\nid = 'claude-haiku-4-5@20251001'\nlocation = 'global'\n"
    )
    s = world.load()
    assert s.vertex.models == (
        ModelAlias("sonnet", "claude-sonnet-4@20250514"),
        ModelAlias("haiku", "claude-haiku-4-5@20251001", "global"),
    )


def test_paths_in_files_resolve_against_the_file(world: Env) -> None:
    world.user.parent.mkdir(parents=True)
    sa = service_account(world.user.parent.parent / "sa.json")
    world.user_file("[auth]\nservice_account_file = '../sa.json'\n")
    assert world.load().auth.service_account_file == str(sa)


def test_service_account_file_accepted(world: Env) -> None:
    sa = service_account(world.root / "sa.json")
    assert world.load("--auth-service-account-file", str(sa)).auth.service_account_file == str(sa)


# --- .env parsing ----------------------------------------------------------------------------


def test_dotenv_parser() -> None:
    text = """
# a comment
export A=1
B = "two words"   # trailing comment
C='single # not a comment'
D=plain # comment
E="line\\nbreak \\"q\\""
F=
"""
    assert parse_dotenv(text, ".env x") == {
        "A": "1",
        "B": "two words",
        "C": "single # not a comment",
        "D": "plain",
        "E": 'line\nbreak "q"',
        "F": "",
    }


# --- invalid input: ConfigError naming where, which key, what is allowed ---------------------

INVALID: list[tuple[str, dict[str, Any], list[str]]] = [
    ("bad toml", {"user": "[server\nport = 1\n"}, ["user file", "invalid TOML", "line 1"]),
    ("unknown section", {"user": "[sever]\nport = 1\n"},
     ["user file", "[sever]", "allowed: server, auth, vertex"]),
    ("unknown key", {"system": "[server]\nprot = 1\n"},
     ["system file", "'prot'", "[server]", "allowed: host, port"]),
    ("wrong type", {"user": "[server]\nport = 'abc'\n"},
     ["[server] port", "expected an integer, got string"]),
    ("bool type", {"user": "[server]\nport = true\n"}, ["[server] port", "got boolean"]),
    ("port range", {"user": "[server]\nport = 99999\n"},
     ["[server] port", "99999", "allowed: 0 to 65535"]),
    ("enum", {"user": "[server]\nlog_level = 'loud'\n"},
     ["[server] log_level", "'loud'", "allowed: trace, debug, info, warning, error"]),
    ("stream mode", {"user": "[streaming]\nmode = 'sometimes'\n"},
     ["allowed: auto, never, standard, buffered, always"]),
    ("location", {"user": "[vertex]\nlocation = 'Mars 1'\n"}, ["[vertex] location", "global"]),
    ("list type", {"user": "[streaming]\nbuffered_agents = 'x'\n"},
     ["buffered_agents", "list of strings"]),
    ("models shape", {"user": "[vertex.models]\nname = 'a'\nid = 'b'\n"},
     ["[vertex] models", "array of tables"]),
    ("models key", {"user": "[[vertex.models]]\nname = 'a'\nid = 'b'\nzone = 'x'\n"},
     ["'zone'", "allowed: name, id, location"]),
    ("models dup", {"user": "[[vertex.models]]\nname='a'\nid='b'\n[[vertex.models]]\nname='A'\nid='c'\n"},
     ["duplicate alias"]),
    ("env type", {"env": {"MODELMUX_SERVER_PORT": "abc"}},
     ["env MODELMUX_SERVER_PORT", "server.port", "expected an integer"]),
    ("env range", {"env": {"PORT": "70000"}}, ["env PORT (legacy)", "allowed: 0 to 65535"]),
    ("env bool", {"env": {"MODELMUX_METRICS_PROMETHEUS": "maybe"}}, ["expected true or false"]),
    ("env models json", {"env": {"MODELMUX_VERTEX_MODELS": "[nope"}}, ["JSON list"]),
    ("dotenv", {"dotenv": "MODELMUX_SERVER_LOG_FORMAT=xml\n"},
     [".env ", "server.log_format", "allowed: auto, json, console"]),
    ("dotenv syntax", {"dotenv": "this is not an assignment\n"}, [".env ", "line 1", "KEY=VALUE"]),
    ("flag range", {"argv": ["--port", "99999"]}, ["flag --port", "allowed: 0 to 65535"]),
    ("flag enum", {"argv": ["--log-level", "loud"]}, ["flag --log-level", "allowed: trace"]),
    ("provider", {"env": {"LLM_PROVIDER": "openai"}}, ["LLM_PROVIDER", "only 'vertex'"]),
    ("missing --config", {"argv": ["--config", "/nonexistent/x.toml"]},
     ["config file /nonexistent/x.toml", "not found"]),
    ("sa unreadable", {"env": {"MODELMUX_AUTH_SERVICE_ACCOUNT_FILE": "/nonexistent/sa.json"}},
     ["auth.service_account_file", "cannot read /nonexistent/sa.json"]),
    ("sa not json", {"sa": "not json {", "env": {}}, ["auth.service_account_file", "not valid JSON"]),
    ("sa wrong type", {"sa": json.dumps({"type": "authorized_user", "refresh_token": SECRET})},
     ["auth.service_account_file", "not a service-account key", "authorized_user"]),
    ("inline sa bad", {"env": {"MODELMUX_AUTH_SERVICE_ACCOUNT_JSON": '{"type": "x", "k": "' + SECRET + '"}'}},
     ["env MODELMUX_AUTH_SERVICE_ACCOUNT_JSON", "not a service-account key"]),
    ("inline sa not json", {"env": {"MODELMUX_AUTH_SERVICE_ACCOUNT_JSON": SECRET}},
     ["auth.service_account_json", "not valid JSON"]),
    ("api keys type", {"user": f"[server]\napi_keys = '{SECRET}'\n"},
     ["[server] api_keys", "list of strings"]),
    ("api keys file", {"env": {"MODELMUX_SERVER_API_KEYS_FILE": "/nonexistent/keys"}},
     ["server.api_keys_file", "cannot read"]),
    ("base url", {"env": {"MODELMUX_VERTEX_BASE_URL": "ftp://x"}}, ["vertex.base_url", "http"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "setup", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_input_gives_one_line_config_error(
    world: Env, case: str, setup: dict[str, Any], expected: list[str]
) -> None:
    env = dict(setup.get("env", {}))
    if "user" in setup:
        world.user_file(setup["user"])
    if "system" in setup:
        world.system_file(setup["system"])
    if "dotenv" in setup:
        world.dotenv(setup["dotenv"])
    if "sa" in setup:
        path = world.root / "sa.json"
        path.write_text(setup["sa"])
        env["MODELMUX_AUTH_SERVICE_ACCOUNT_FILE"] = str(path)
    with pytest.raises(ConfigError) as info:
        world.load(*setup.get("argv", []), **env)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, (part, message)
    if "user" in setup:
        assert str(world.user) in message
    if "system" in setup:
        assert str(world.system) in message
    assert SECRET not in message
    assert "SECRETKEYMATERIAL" not in message


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--port", "abc"], "--port: expected an integer"),
        (["--port"], "expected one argument"),
        (["--server-enable-retries", "perhaps"], "expected true or false"),
        (["--vertex-models", "[oops"], "JSON list"),
    ],
)
def test_bad_flags_give_usage_error(world: Env, argv: list[str], expected: str) -> None:
    with pytest.raises(UsageError, match=expected.replace("[", r"\[")):
        world.load(*argv)


def test_secret_flag_value_not_echoed(world: Env) -> None:
    with pytest.raises(ConfigError) as info:
        world.load("--auth-service-account-json", SECRET)
    assert SECRET not in str(info.value)


# --- redaction and readiness ------------------------------------------------------------------


def test_redacted_hides_secrets_and_names_origins(world: Env) -> None:
    sa = service_account(world.root / "sa.json")
    info = json.loads(sa.read_text())
    s = world.load(
        "--server-api-keys",
        SECRET,
        MODELMUX_AUTH_SERVICE_ACCOUNT_JSON=json.dumps(info),
    )
    rows = {k: (v, o) for k, v, o in redacted(s)}
    assert rows["server.api_keys"] == ("***", "flag --server-api-keys")
    assert rows["auth.service_account_json"] == ("***", "env MODELMUX_AUTH_SERVICE_ACCOUNT_JSON")
    assert rows["server.port"] == ("3000", "default")
    flat = repr(redacted(s))
    assert SECRET not in flat and "SECRETKEYMATERIAL" not in flat
    assert len(rows) == len([k for k in SCHEMA if not k.synonym_of])


def test_both_service_account_forms_is_an_error(world: Env) -> None:
    sa = service_account(world.root / "sa.json")
    with pytest.raises(ConfigError, match="set only one of"):
        world.load(
            "--auth-service-account-file",
            str(sa),
            MODELMUX_AUTH_SERVICE_ACCOUNT_JSON=sa.read_text(),
        )


def test_check_ready(world: Env) -> None:
    with pytest.raises(ConfigError, match=r"vertex\.project is not set"):
        check_ready(world.load())
    with pytest.raises(ConfigError, match=r"vertex\.location is not set"):
        check_ready(world.load(VERTEX_PROJECT="p-1"))
    with pytest.raises(ConfigError, match=r"vertex\.model is not set"):
        check_ready(world.load(VERTEX_PROJECT="p-1", VERTEX_REGION="us-east5"))
    check_ready(world.load(VERTEX_PROJECT="p-1", VERTEX_REGION="us-east5", VERTEX_MODEL_ID="m@1"))
    check_ready(world.load("--emulator"))


def test_loader_reads_nothing_but_its_arguments(
    world: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELMUX_SERVER_PORT", "9999")
    monkeypatch.setenv("PORT", "9998")
    assert world.load().server.port == 3000
    assert os.environ["PORT"] == "9998"
