"""SIGHUP: the real daemon re-reads its configuration without dropping a connection."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import openai
import requests

from tests.conftest import Daemon, wait_until

OLD_KEY = "mm-reload-old-key-11111111"
NEW_KEY = "mm-reload-new-key-22222222"
MODEL_ID = "claude-sonnet-4-5@20250929"


def config(*, key: str, level: str = "info", alias: str = "alias-one", extra: str = "") -> str:
    return (
        f'[server]\napi_keys = ["{key}"]\nlog_level = "{level}"\n{extra}\n'
        f'[[vertex.models]]\nname = "{alias}"\nid = "{MODEL_ID}"\n'
    )


def hup(daemon: Daemon, event: str, count: int = 1) -> list[dict[str, Any]]:
    daemon.signal(signal.SIGHUP)
    assert wait_until(lambda: len(daemon.events(event)) >= count), "\n".join(daemon.lines[-20:])
    return daemon.events(event)


def status(daemon: Daemon, key: str, path: str = "/v1/models") -> int:
    headers = {"Authorization": f"Bearer {key}"}
    return requests.get(f"{daemon.base_url}{path}", headers=headers, timeout=5).status_code


def model_names(daemon: Daemon, key: str) -> set[str]:
    client = openai.OpenAI(base_url=f"{daemon.base_url}/v1", api_key=key, max_retries=0)
    return {m.id for m in client.models.list()}


def test_reload_keys_level_and_aliases_while_streaming(start_daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "modelmux.toml"
    cfg.write_text(config(key=OLD_KEY))
    daemon = start_daemon("--config", str(cfg))
    assert "alias-one" in model_names(daemon, OLD_KEY)

    client = openai.OpenAI(base_url=f"{daemon.base_url}/v1", api_key=OLD_KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="alias-one",
        messages=[{"role": "user", "content": "[mm:slow 60] [mm:long 40]"}],
        stream=True,
    )
    it = iter(stream)
    chunks = [next(it)]
    rest: list[Any] = []
    reader = threading.Thread(target=lambda: rest.extend(it))
    reader.start()

    # let the log reader catch up with the access lines written so far, then count them
    previous = -1
    while (requests_before := len(daemon.events("request"))) != previous:
        previous = requests_before
        time.sleep(0.2)
    cfg.write_text(config(key=NEW_KEY, level="warning", alias="alias-two"))
    (reloaded,) = hup(daemon, "reloaded")
    assert set(reloaded["changed"]) == {"server.api_keys", "server.log_level", "vertex.models"}
    assert reloaded["log_level"] == "warning" and reloaded["api_keys"] == 1
    assert OLD_KEY not in str(reloaded) and NEW_KEY not in str(reloaded)
    assert reader.is_alive(), "the stream should still be running during the reload"

    assert status(daemon, OLD_KEY) == 401
    assert status(daemon, NEW_KEY) == 200
    names = model_names(daemon, NEW_KEY)
    assert "alias-two" in names and "alias-one" not in names

    reader.join(timeout=30)
    chunks += rest
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 40
    assert chunks[-1].choices[0].finish_reason == "stop"
    # at level warning the access lines are no longer written
    assert len(daemon.events("request")) == requests_before
    assert not daemon.events("restart required: changed settings not applied")


def test_reload_rereads_keys_file_and_reports_restart_keys(start_daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys"
    keys.write_text(f"{OLD_KEY}\n")
    cfg = tmp_path / "modelmux.toml"
    cfg.write_text(f'[server]\napi_keys_file = "{keys}"\n')
    daemon = start_daemon("--config", str(cfg))
    assert status(daemon, OLD_KEY) == 200

    keys.write_text(f"# rotated\n{NEW_KEY}\n")
    cfg.write_text(
        f'[server]\napi_keys_file = "{keys}"\nmax_body_mb = 2\n[metrics]\nrequire_api_key = true\n'
    )
    (reloaded,) = hup(daemon, "reloaded")
    assert "server.api_keys_file (contents)" in reloaded["changed"]
    assert "metrics.require_api_key" in reloaded["changed"]
    (restart,) = daemon.events("restart required: changed settings not applied")
    assert restart["keys"] == ["server.max_body_mb"] and restart["level"] == "warning"
    assert status(daemon, OLD_KEY) == 401
    assert status(daemon, NEW_KEY) == 200
    assert status(daemon, NEW_KEY, "/metrics") == 200
    assert status(daemon, "", "/metrics") == 401
    assert status(daemon, "", "/health") == 200
    metrics = requests.get(
        f"{daemon.base_url}/metrics", headers={"Authorization": f"Bearer {NEW_KEY}"}, timeout=5
    ).text
    assert 'modelmux_config_reloads_total{result="applied"} 1.0' in metrics


def test_broken_config_keeps_the_running_one(start_daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "modelmux.toml"
    cfg.write_text(config(key=OLD_KEY))
    daemon = start_daemon("--config", str(cfg))

    cfg.write_text(config(key=NEW_KEY) + "[server\n")  # not TOML
    (first,) = hup(
        daemon, "reload rejected: the new configuration is invalid; the running one stays"
    )
    assert first["level"] == "error" and str(cfg) in first["error"]
    cfg.write_text(config(key=NEW_KEY, level="loud"))  # out of range
    rejected = hup(
        daemon, "reload rejected: the new configuration is invalid; the running one stays", 2
    )
    assert "[server] log_level" in rejected[1]["error"] and "loud" in rejected[1]["error"]
    cfg.write_text(config(key=NEW_KEY, extra=f'api_keys_file = "{tmp_path / "missing"}"'))
    rejected = hup(
        daemon, "reload rejected: the new configuration is invalid; the running one stays", 3
    )
    assert "server.api_keys_file" in rejected[2]["error"]
    assert NEW_KEY not in "\n".join(daemon.lines)

    assert not daemon.events("reloaded")
    assert status(daemon, OLD_KEY) == 200 and status(daemon, NEW_KEY) == 401
    assert "alias-one" in model_names(daemon, OLD_KEY)
    assert daemon.proc.poll() is None

    cfg.write_text(config(key=NEW_KEY))  # fixed: the next SIGHUP applies it
    hup(daemon, "reloaded")
    assert status(daemon, NEW_KEY) == 200
