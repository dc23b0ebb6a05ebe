"""Remote images and PDFs: the placeholder a content part leaves behind for an http(s) URL,
and `inline_remote`, which fills it once the upstream layer has downloaded the bytes.

The converter itself does no I/O, so a URL part becomes an empty base64 block plus a
`RemoteImage` in `ConvertedRequest.remote_images`; the block is mutated in place later.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelmux.convert.media import IMAGE_TYPES, PDF, check_media
from modelmux.errors import InvalidRequest


@dataclass(slots=True)
class RemoteImage:
    """An http(s) image/PDF URL the upstream layer must download, then `inline_remote(...)`.

    `allowed`: the media types this part may turn into (the sniffed bytes pick image vs
    document): an `image_url` takes images or a PDF, a `file` part only a PDF."""

    url: str
    message_index: int
    block: dict
    param: str = ""
    allowed: tuple[str, ...] = (*IMAGE_TYPES, PDF)


def inline_remote(
    image: RemoteImage, media_type: str, data_b64: str, *, sniffed: bool = False
) -> None:
    """Fill a downloaded image/PDF into its placeholder block. `media_type` is the response's
    Content-Type (a hint: the sniffed bytes win); unsupported content is an InvalidRequest.

    `sniffed=True`: the caller already sniffed the raw bytes and `media_type` is the result, so
    the payload is not decoded again; only the type is checked against `image.allowed`."""
    param = image.param or f"messages[{image.message_index}]"
    if sniffed:
        mt = media_type
        if mt not in image.allowed:
            raise InvalidRequest(
                f"{param}: unsupported media type {mt or 'unknown'!r}; supported: "
                + ", ".join(image.allowed),
                param=param,
                code="invalid_image_format" if mt.startswith("image/") else "invalid_value",
            )
    else:
        mt = check_media(
            media_type.split(";", 1)[0],
            data_b64,
            param=param,
            allowed=image.allowed,
            trust_bytes=True,  # servers often send a wrong Content-Type
        )
    image.block["type"] = "document" if mt == PDF else "image"
    image.block["source"] = {"type": "base64", "media_type": mt, "data": data_b64}
