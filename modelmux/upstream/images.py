"""Download remote images (Vertex rejects URL sources) and inline them as base64.

Limits: size (`max_bytes`), time (`fetch_timeout_s`), content type (jpeg/png/gif/webp, checked
against the bytes), at most 3 redirects. SSRF guard: unless `allow_private_networks`, every
address a URL resolves to — and every redirect hop — must be a public one; loopback, private,
link-local, multicast and reserved ranges are refused. The check runs inside the connector's
resolver, so the address checked is the address connected to (no DNS-rebinding gap).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from modelmux.convert.media import sniff
from modelmux.convert.request import RemoteImage, inline_remote
from modelmux.errors import InvalidRequest
from modelmux.settings import ImagesSettings

ALLOWED_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
MAX_REDIRECTS = 3


def sniff_image_type(data: bytes) -> str | None:
    """The media type the bytes really are, if it is one of the four Vertex accepts (pure)."""
    media_type = sniff(data)
    return media_type if media_type in ALLOWED_MEDIA_TYPES else None


def is_public_address(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _BlockedAddress(aiohttp.ClientConnectionError):
    pass


class _GuardedResolver(AbstractResolver):
    """Resolves like the default resolver, then refuses non-public addresses."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if is_public_address(r["host"])]
        if not allowed:
            raise _BlockedAddress(f"{host} resolves only to non-public addresses")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


class ImageFetcher:
    def __init__(self, settings: ImagesSettings) -> None:
        self._settings = settings
        connector = aiohttp.TCPConnector(
            resolver=None if settings.allow_private_networks else _GuardedResolver(),
            limit=32,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=settings.fetch_timeout_s),
            headers={"User-Agent": "modelmux-image-fetcher"},
        )

    async def close(self) -> None:
        await self._session.close()

    async def inline_all(self, images: list[RemoteImage]) -> None:
        if not self._settings.fetch_remote:
            raise InvalidRequest(
                "Image URLs are not supported by this proxy (fetch_remote is off); "
                "send images as base64 data: URIs.",
                param=f"messages[{images[0].message_index}].content",
            )
        fetched = await asyncio.gather(*(self._fetch(image) for image in images))
        for image, (media_type, data) in zip(images, fetched, strict=True):
            inline_remote(image, media_type, base64.b64encode(data).decode("ascii"))

    async def _fetch(self, image: RemoteImage) -> tuple[str, bytes]:
        param = f"messages[{image.message_index}].content"

        def fail(why: str) -> InvalidRequest:
            return InvalidRequest(
                f"Could not fetch the image URL in messages[{image.message_index}]: {why}.",
                param=param,
                code="invalid_image_url",
            )

        url = URL(image.url)
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                self._check_target(url, fail)
                async with self._session.get(url, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                        url = url.join(URL(resp.headers["Location"]))
                        continue
                    if resp.status != 200:
                        raise fail(f"the server answered HTTP {resp.status}")
                    data = await self._read_limited(resp, fail)
                    return self._media_type(resp, data, fail), data
            raise fail("too many redirects")
        except _BlockedAddress:
            raise fail("the address is not a public one") from None
        except TimeoutError:
            raise fail("timed out") from None
        except aiohttp.ClientError as exc:
            raise fail(f"connection failed ({type(exc).__name__})") from None

    def _check_target(self, url: URL, fail: Any) -> None:
        if url.scheme not in ("http", "https") or not url.host:
            raise fail("only http(s) URLs can be fetched")
        if self._settings.allow_private_networks:
            return
        host = url.host.strip("[]")
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return  # a name: checked by the resolver when connecting
        if not is_public_address(host):
            raise fail("the address is not a public one")

    async def _read_limited(self, resp: aiohttp.ClientResponse, fail: Any) -> bytes:
        limit = self._settings.max_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise fail(f"the image is larger than {limit} bytes")
        data = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            data += chunk
            if len(data) > limit:
                raise fail(f"the image is larger than {limit} bytes")
        return bytes(data)

    @staticmethod
    def _media_type(resp: aiohttp.ClientResponse, data: bytes, fail: Any) -> str:
        sniffed = sniff_image_type(data)
        declared = resp.content_type
        if sniffed is None:
            raise fail(
                f"unsupported content type {declared!r}; supported: "
                + ", ".join(ALLOWED_MEDIA_TYPES)
            )
        return sniffed
