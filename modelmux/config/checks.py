"""Checks beyond one value: credential files, the client API key file, readiness to serve."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modelmux.config.errors import BadValue, ConfigError, reported_as
from modelmux.settings import Settings


def _read_key_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(1_000_000)
    except OSError as e:
        raise BadValue(f"cannot read {path}: {e.strerror or e}") from None


def check_service_account_file(path: str) -> None:
    """Raise `ConfigError`-ready `BadValue` unless `path` is a readable service-account JSON key."""
    check_service_account_json(_read_key_file(path), f"{path} ")


def check_service_account_json(data: str | bytes, what: str = "") -> None:
    try:
        info = json.loads(data)
    except ValueError:
        raise BadValue(f"{what}is not valid JSON (expected a service-account key file)") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        got = info.get("type") if isinstance(info, dict) else None
        got_s = f" (its type is {got!r})" if isinstance(got, str) and len(got) < 40 else ""
        raise BadValue(
            f'{what}is not a service-account key{got_s}; expected "type": "service_account"'
        )
    missing = [f for f in ("client_email", "private_key") if not info.get(f)]
    if missing:
        raise BadValue(f"{what}is a service-account key without {missing[0]!r}")


def parse_api_keys(text: str) -> tuple[str, ...]:
    """Keys from an api_keys_file's text: one per line; blank lines and `#` lines are skipped."""
    keys = []
    for line in text.splitlines():
        key = line.strip()
        if key and not key.startswith("#"):
            keys.append(key)
    return tuple(dict.fromkeys(keys))


def read_api_keys_file(path: str) -> tuple[str, ...]:
    """Read an api_keys_file; raise BadValue (never quoting the file's content) if unusable."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(10_000_000)
    except OSError as e:
        raise BadValue(f"cannot read {path}: {e.strerror or type(e).__name__}") from None
    except UnicodeDecodeError:
        raise BadValue(f"{path} is not UTF-8 text") from None
    keys = parse_api_keys(text)
    if not keys:
        # An empty key file must not silently turn access control off.
        raise BadValue(f"{path} contains no keys (one key per line; # starts a comment)")
    if any(any(c.isspace() for c in key) for key in keys):
        raise BadValue(f"{path}: a key contains whitespace (one key per line)")
    return keys


def check_credentials(effective: Mapping[str, tuple[Any, str]]) -> tuple[str, ...]:
    """Check the merged credential settings now, so a bad key file fails at start-up, not on
    the first request; return the client API keys read from `server.api_keys_file`."""
    sa_file, sa_file_origin = effective["auth.service_account_file"]
    sa_json, sa_json_origin = effective["auth.service_account_json"]
    if sa_file and sa_json:
        raise ConfigError(
            f"{sa_json_origin}: auth.service_account_json: set only one of "
            f"service_account_file ({sa_file_origin}) and service_account_json"
        )
    if sa_file:
        with reported_as(f"{sa_file_origin}: auth.service_account_file"):
            check_service_account_file(sa_file)
    if sa_json:
        with reported_as(f"{sa_json_origin}: auth.service_account_json"):
            check_service_account_json(sa_json)
    keys_file, keys_origin = effective["server.api_keys_file"]
    if not keys_file:
        return ()
    with reported_as(f"{keys_origin}: server.api_keys_file"):
        return read_api_keys_file(keys_file)


def check_adc_file(settings: Settings, environ: Mapping[str, str]) -> None:
    """When ADC will be used, check the GOOGLE_APPLICATION_CREDENTIALS file it would read."""
    if settings.auth.service_account_file or settings.auth.service_account_json:
        return
    path = environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    if not path:
        return
    with reported_as("env GOOGLE_APPLICATION_CREDENTIALS"):
        data = _read_key_file(path)
        try:
            info = json.loads(data)
        except ValueError:
            raise BadValue(f"{path} is not valid JSON") from None
        if not isinstance(info, dict) or not isinstance(info.get("type"), str):
            raise BadValue(f'{path} is not a Google credentials file (no "type")')
        if info["type"] == "service_account":
            check_service_account_json(json.dumps(info), f"{path} ")


def check_ready(settings: Settings) -> None:
    """Raise ConfigError if the daemon could not serve real Vertex with these settings."""
    if settings.emulator:
        return
    v = settings.vertex
    hint = "run `modelmux config init`, or set"
    if not v.project:
        raise ConfigError(
            f"vertex.project is not set ({hint} [vertex] project, MODELMUX_VERTEX_PROJECT "
            "or VERTEX_PROJECT)"
        )
    if not v.location and not (v.models and all(m.location for m in v.models)):
        raise ConfigError(
            f"vertex.location is not set ({hint} [vertex] location, MODELMUX_VERTEX_LOCATION "
            "or VERTEX_LOCATION; e.g. global, us-east5)"
        )
    if not v.model and not v.models:
        raise ConfigError(
            f"vertex.model is not set and no [[vertex.models]] aliases exist ({hint} "
            "[vertex] model, MODELMUX_VERTEX_MODEL or VERTEX_MODEL_ID)"
        )
