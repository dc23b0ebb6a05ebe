"""Data-URI parsing and media-type sniffing for image / document parts (pure)."""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from modelmux.errors import InvalidRequest

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
PDF = "application/pdf"
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
