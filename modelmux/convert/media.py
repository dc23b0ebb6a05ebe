"""Data-URI parsing and media-type sniffing for image / document parts (pure)."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from modelmux.errors import InvalidRequest

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
PDF = "application/pdf"
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf": PDF}


@dataclass(frozen=True, slots=True)
class DataUri:
    media_type: str  # lower-cased, aliases resolved; "" when the URI names none
    data: str  # base64 payload (for base64 URIs) or the percent-decoded text
    is_base64: bool


def parse_data_uri(uri: str, *, param: str) -> DataUri:
    head, sep, payload = uri.partition(",")
    if not sep or not head.lower().startswith("data:"):
        raise InvalidRequest(f"{param}: malformed data URI", param=param)
    meta = head[5:].split(";")
    media_type = canonical_media_type(meta[0])
    is_base64 = any(p.strip().lower() == "base64" for p in meta[1:])
    if not is_base64:
        from urllib.parse import unquote

        payload = unquote(payload)
    else:
        payload = "".join(payload.split())  # tolerate line-wrapped base64
    return DataUri(media_type, payload, is_base64)


def check_remote_url(url: str, *, param: str, code: str = "invalid_image_url") -> None:
    """A 400 unless `url` is a well-formed absolute http(s) URL with a host (pure; nothing is
    resolved or fetched). Catches what would otherwise fail only when the proxy parses it."""
    why = None
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a non-numeric or out-of-range port
    except ValueError as exc:
        why = str(exc) or "unparseable"
    else:
        if parts.scheme.lower() not in ("http", "https"):
            why = "only http(s) URLs can be fetched"
        elif not parts.hostname:
            why = "no host"
        elif port == 0:
            why = "port 0"
        elif _BAD_URL_CHARS.search(url):
            why = "whitespace or control characters"
    if why is not None:
        raise InvalidRequest(f"Invalid '{param}': malformed URL ({why})", param=param, code=code)


def canonical_media_type(media_type: str) -> str:
    mt = media_type.strip().lower()
    return _ALIASES.get(mt, mt)


def sniff(head: bytes) -> str | None:
    """The media type announced by the first bytes, for the types Claude accepts."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.lstrip()[:5] == b"%PDF-":
        return PDF
    return None


def b64_head(data: str, *, param: str) -> bytes:
    """Decode the whole payload once to validate it; return the first bytes for sniffing."""
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        try:  # unpadded base64 is common; accept it if padding fixes it
            raw = binascii.a2b_base64(data + "=" * (-len(data) % 4), strict_mode=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"{param}: invalid base64 data", param=param) from None
    if not raw:
        raise InvalidRequest(f"{param}: empty data", param=param)
    return raw[:16]


def check_media(
    declared: str,
    data_b64: str,
    *,
    param: str,
    allowed: tuple[str, ...],
    trust_bytes: bool = False,
) -> str:
    """Return the media type to send. Unsupported types and declared/actual mismatches are 400s.

    `trust_bytes`: the declared type is only a hint (an HTTP Content-Type), the bytes decide."""
    head = b64_head(data_b64, param=param)
    actual = sniff(head)
    declared = canonical_media_type(declared)
    if declared in ("", "application/octet-stream", "binary/octet-stream") or (
        trust_bytes and actual in allowed
    ):
        declared = actual or declared
    if declared not in allowed:
        raise InvalidRequest(
            f"{param}: unsupported media type {declared or 'unknown'!r}; supported: "
            + ", ".join(allowed),
            param=param,
            code="invalid_image_format" if declared.startswith("image/") else "invalid_value",
        )
    if actual != declared:
        what = actual or "not a recognised image or PDF"
        raise InvalidRequest(
            f"{param}: data does not match its media type {declared!r} (content: {what})",
            param=param,
            code="invalid_image_format",
        )
    return declared
