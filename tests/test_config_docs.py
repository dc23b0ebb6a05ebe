"""The documentation table and the sample config are generated from the schema; keep them true."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from modelmux.config import SCHEMA, load_settings, render_docs_table, render_sample

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "configuration.md"
SAMPLE = ROOT / "contrib" / "modelmux.toml"


def test_doc_table_matches_the_schema() -> None:
    text = DOC.read_text()
    assert render_docs_table() in text, "regenerate: python -m modelmux.config docs-table"
    for key in SCHEMA:
        assert f"`[{key.section}] {key.name}`" in text
        assert f"`{key.env}`" in text
        assert f"`{key.flag}`" in text
    for legacy in ("VERTEX_PROJECT", "VERTEX_REGION", "VERTEX_LOCATION", "VERTEX_PUBLISHER",
                   "VERTEX_MODEL_ID", "LLM_PROVIDER", "LOG_LEVEL", "PORT",
                   "GOOGLE_APPLICATION_CREDENTIALS"):  # fmt: skip
        assert f"`{legacy}`" in text
    for code in ("64", "78"):
        assert f"| {code} " in text


def test_sample_config_is_generated_and_loads_at_defaults(tmp_path: Path) -> None:
    text = SAMPLE.read_text()
    assert text == render_sample(), "regenerate: python -m modelmux.config sample"
    # as shipped, every key is commented out: the file loads and changes nothing
    s = load_settings([], environ={"HOME": str(tmp_path)}, cwd=str(tmp_path),
                      system_file=str(SAMPLE))  # fmt: skip
    assert set(s.origins.values()) == {"default"}
    assert s.server.host == "127.0.0.1"
    # uncommented, every key is valid and equals its default
    uncommented = re.sub(r"(?m)^#(?=[a-z_\[])", "", text)
    data = tomllib.loads(uncommented)
    for key in SCHEMA:
        if key.type == "models":
            continue
        default = list(key.default) if isinstance(key.default, tuple) else key.default
        assert data[key.section][key.name] == default, key.dotted
    path = tmp_path / "uncommented.toml"
    path.write_text(uncommented)
    s = load_settings(["--config", str(path)], environ={}, cwd=str(tmp_path))
    assert s.server.host == "127.0.0.1" and len(s.vertex.models) == 1
    assert "api_keys = []" in text and 'service_account_json = ""' in text
