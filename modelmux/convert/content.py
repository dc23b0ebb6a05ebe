"""Content parts → Anthropic content blocks: text, images, files (PDF / plain text) and the
parts Claude cannot take (audio).

One walker serves every kind of message; the caller passes the part types that kind may hold
(`SYSTEM_PARTS`, `USER_PARTS`, ...) and how a part out of place is reported. http(s) URLs are
not fetched here: they become placeholder blocks recorded as `RemoteImage`s (see remote.py).
"""

from __future__ import annotations

import base64
from typing import Any

from modelmux.convert.media import (
    IMAGE_TYPES,
    PDF,
    check_media,
    check_remote_url,
    parse_data_uri,
)
from modelmux.convert.remote import RemoteImage
from modelmux.convert.validators import bad
from modelmux.errors import UnsupportedFeature

# Content part types each kind of message may hold, and how a part out of place is reported.
SYSTEM_PARTS = frozenset({"text"})
USER_PARTS = frozenset({"text", "image_url", "file", "input_audio"})
ASSISTANT_PARTS = frozenset({"text", "refusal"})
RESULT_PARTS = frozenset({"text", "image_url"})
NOT_HERE = "content part type {ptype} is not allowed here"
UNKNOWN_PART = "unknown content part type {ptype}"


def content_blocks(
    content: object,
    i: int,
    param: str,
    *,
    allowed: frozenset[str],
    where: str,
    remote: list[RemoteImage],
) -> list[dict]:
    """A string or a list of content parts, of the types `allowed` in this kind of message.
    Empty and whitespace-only text is dropped (Claude rejects empty text blocks). Remote URLs
    are appended to `remote`."""
    if content is None:
        return []
    if isinstance(content, str):
        b = _text_block(content)
        return [b] if b else []
    if not isinstance(content, list):
        raise bad(param, "expected a string or an array of content parts")
    out = []
    for j, part in enumerate(content):
        p = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise bad(p, "expected an object")
        ptype = part.get("type")
        if ptype not in allowed:
            raise bad(f"{p}.type", where.format(ptype=repr(ptype)))
        if ptype == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise bad(f"{p}.text", "expected a string")
            b = _text_block(text, part)
            if b:
                out.append(b)
        elif ptype == "image_url":
            out.append(_image(part, i, p, remote))
        elif ptype == "file":
            out.append(_file(part, i, p, remote))
        elif ptype == "input_audio":
            raise UnsupportedFeature(
                f"Invalid '{p}': audio input is not supported by Claude models",
                param=p,
                code="unsupported_content_type",
            )
        # "refusal" parts of past assistant turns carry nothing Claude can take back
    return out


def _text_block(text: str, part: dict | None = None) -> dict | None:
    if not text or text.isspace():
        return None
    block: dict[str, Any] = {"type": "text", "text": text}
    if part is not None and isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def _base64_block(btype: str, media_type: str, data: str) -> dict[str, Any]:
    # remote placeholders start with media_type="" and data="", filled by inline_remote
    return {"type": btype, "source": {"type": "base64", "media_type": media_type, "data": data}}


def _image(part: dict, i: int, p: str, remote: list[RemoteImage]) -> dict:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    up = f"{p}.image_url.url"
    if not isinstance(url, str) or not url:
        raise bad(up, "expected a URL string")
    low = url[:8].lower()
    if low.startswith("data:"):
        uri = parse_data_uri(url, param=up)
        if not uri.is_base64:
            raise bad(up, "data URIs must be base64-encoded")
        mt = check_media(uri.media_type, uri.data, param=up, allowed=(*IMAGE_TYPES, PDF))
        return _base64_block("document" if mt == PDF else "image", mt, uri.data)
    if low.startswith(("http://", "https://")):
        check_remote_url(url, param=up)
        block = _base64_block("image", "", "")
        remote.append(RemoteImage(url=url, message_index=i, block=block, param=up))
        return block
    raise bad(up, "expected an http(s) URL or a base64 data URI")


def _file(part: dict, i: int, p: str, remote: list[RemoteImage]) -> dict:
    spec = part.get("file")
    if not isinstance(spec, dict):
        raise bad(f"{p}.file", "expected an object")
    if spec.get("file_id") is not None and spec.get("file_data") is None:
        raise UnsupportedFeature(
            f"Invalid '{p}.file.file_id': uploaded files are not supported; send the file "
            "inline as file_data (base64 or a data: URI)",
            param=f"{p}.file.file_id",
        )
    data = spec.get("file_data")
    fp = f"{p}.file.file_data"
    if not isinstance(data, str) or not data:
        raise bad(fp, "expected base64 data or a data: URI")
    declared = ""
    if data[:8].lower().startswith(("http://", "https://")):  # an extension: PDF by URL
        check_remote_url(data, param=fp, code="invalid_value")
        block = _base64_block("document", "", "")
        remote.append(RemoteImage(url=data, message_index=i, block=block, param=fp, allowed=(PDF,)))
        return _doc_title(block, spec)
    if data[:5].lower() == "data:":
        uri = parse_data_uri(data, param=fp)
        declared, data = uri.media_type, uri.data
        if declared == "text/plain":
            # plain text goes to Claude as a text document, not base64
            if uri.is_base64:
                try:
                    data = base64.b64decode(data, validate=True).decode("utf-8")
                except (ValueError, UnicodeDecodeError):
                    raise bad(fp, "text/plain file is not valid UTF-8 base64") from None
            if not data.strip():
                raise bad(fp, "empty text document")
            block = {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": data},
            }
            return _doc_title(block, spec)
        if not uri.is_base64:
            raise bad(fp, "data URIs must be base64-encoded")
    else:
        data = "".join(data.split())  # bare base64, possibly line-wrapped
    mt = check_media(declared, data, param=fp, allowed=(PDF,))
    return _doc_title(_base64_block("document", mt, data), spec)


def _doc_title(block: dict, spec: dict) -> dict:
    name = spec.get("filename")
    if isinstance(name, str) and name.strip():
        block["title"] = name
    return block
