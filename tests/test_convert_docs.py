"""docs/compatibility.md stays true to the converter's tables; the convert package stays pure."""

from __future__ import annotations

import ast
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import modelmux.convert
from modelmux.convert.fields import MESSAGE_FIELDS, REQUEST_FIELDS, RESPONSE_FIELDS
from modelmux.convert.models import DEFAULT_FAMILY, MODEL_FAMILIES

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "compatibility.md").read_text(encoding="utf-8")


def _table(heading: str) -> dict[str, list[str]]:
    section = DOC.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"^\| `([^`]+)` \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split(" | ")]
    return rows


@pytest.mark.parametrize(
    ("heading", "table"), [("Request fields", REQUEST_FIELDS), ("Message fields", MESSAGE_FIELDS)]
)
def test_field_tables_match_the_doc(heading, table) -> None:
    rows = _table(heading)
    assert set(rows) == set(table), set(rows) ^ set(table)
    for name, rule in table.items():
        assert rows[name][0] == rule.treatment, name


def test_response_table_matches_the_doc() -> None:
    assert set(_table("Response fields")) == set(RESPONSE_FIELDS)


def test_model_family_table_matches_the_doc() -> None:
    rows = _table("Model families")
    assert list(rows) == [f.pattern for f in (*MODEL_FAMILIES, DEFAULT_FAMILY)]
    for f in (*MODEL_FAMILIES, DEFAULT_FAMILY):
        assert rows[f.pattern][0] == f.thinking


def test_every_openai_request_field_is_documented() -> None:
    # the request fields of the OpenAI SDK's own params type must all have a rule
    from openai.types.chat import completion_create_params as p

    sdk_fields = set(p.CompletionCreateParamsBase.__annotations__)
    missing = sdk_fields - set(REQUEST_FIELDS)
    assert not missing, f"no rule for: {sorted(missing)}"


FORBIDDEN = ("aiohttp", "google", "structlog", "tenacity", "requests", "httpx", "socket", "asyncio")
ALLOWED_THIRD_PARTY = {"orjson", "modelmux"}


def _modules() -> list[Path]:
    pkg = Path(modelmux.convert.__file__).parent
    return [*sorted(pkg.glob("*.py")), ROOT / "modelmux" / "sse.py"]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_convert_modules_import_nothing_impure(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.name} imports {name}"
            assert top in ALLOWED_THIRD_PARTY or top in sys.stdlib_module_names, (
                f"{path.name} imports {name}"
            )
            if top == "modelmux":
                assert name.startswith(("modelmux.convert", "modelmux.errors")), (
                    f"{path.name} imports {name}"
                )


def test_all_convert_modules_are_checked() -> None:
    names = {m.name for m in pkgutil.iter_modules(modelmux.convert.__path__)}
    assert names == {p.stem for p in _modules() if p.stem not in ("__init__", "sse")}


def test_importing_convert_loads_no_io_library() -> None:
    code = (
        "import sys, modelmux.convert, modelmux.sse\n"
        "bad = [m for m in ('aiohttp', 'google.auth', 'structlog') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
