"""Download remote images and PDFs (Vertex rejects URL sources) and inline them as base64.

Limits: count per request (`max_per_request`), size per URL (`max_bytes`) and per request
(`max_total_bytes`), time per URL including redirects (`fetch_timeout_s`), content type (the
sniffed bytes decide: jpeg/png/gif/webp → image block, PDF → document block, as far as the part
allows), at most 3 redirects. The fetches of one request run concurrently; the first failure
cancels the rest and is the request's 400. SSRF guard: unless `allow_private_networks`, every
address a URL resolves to — and every redirect hop — must be a public one; loopback, private,
link-local, multicast and reserved ranges are refused, also when embedded in IPv6 (IPv4-mapped,
IPv4-compatible, 6to4, NAT64; Teredo is refused outright). The check runs inside the
connector's resolver, so the address checked is the address connected to (no DNS-rebinding gap).
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

from modelmux.convert.media import IMAGE_TYPES, sniff
from modelmux.convert.request import RemoteImage, inline_remote
from modelmux.errors import InvalidRequest
from modelmux.settings import ImagesSettings

MAX_REDIRECTS = 3
_NAT64_WKP = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use prefix
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated, still routed by some stacks
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 SIIT
_TEREDO = ipaddress.IPv6Network("2001::/32")


def _v4(value: int) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(value & 0xFFFFFFFF)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address stands for when a translator or tunnel may reach
    them (every candidate position where the embedding is ambiguous); None if not such a form."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    n = int(ip)
    if ip in _NAT64_WKP or ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED:
        return [_v4(n)]
    if ip in _NAT64_LOCAL:
        # RFC 6052 positions for prefix lengths 48, 56, 64 (skipping the u octet) and 96
        return [
            _v4(((n >> 64) & 0xFFFF) << 16 | (n >> 40) & 0xFFFF),  # /48: bits 48-63, 72-87
            _v4(((n >> 64) & 0xFF) << 24 | (n >> 32) & 0xFFFFFF),  # /56: bits 56-63, 72-95
            _v4((n >> 24) & 0xFFFFFFFF),  # /64: bits 72-103
            _v4(n),  # /96
        ]
    return None


def is_public_address(host: str) -> bool:
    """True for a globally reachable unicast address (pure). IPv6 forms that carry an IPv4
    address (mapped, compatible, translated, 6to4, NAT64) are judged by that IPv4 address;
    Teredo (whose client address is obfuscated and reachable via a relay) is never public."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _TEREDO:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(v4.is_global and not v4.is_multicast for v4 in embedded)
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


class _FetchFailed(InvalidRequest):
    """A 400 for one URL; remembers its message so concurrent failures sort deterministically."""

    def __init__(self, message: str, *, param: str, message_index: int) -> None:
        super().__init__(message, param=param, code="invalid_image_url")
        self.message_index = message_index


class _Budget:
    """Bytes still allowed for all the fetches of one request (`max_total_bytes`)."""

    __slots__ = ("left",)

    def __init__(self, total: int) -> None:
        self.left = total


def _first_error(group: BaseExceptionGroup) -> BaseException:
    """The exception a failed TaskGroup stands for: a client error (400) if any task raised
    one (the lowest message index, so the answer is deterministic), else the first one."""
    flat: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending[:0] = exc.exceptions
        else:
            flat.append(exc)
    client = [e for e in flat if isinstance(e, InvalidRequest)]
    if client:
        return min(client, key=lambda e: e.message_index if isinstance(e, _FetchFailed) else -1)
    return flat[0]


class ImageFetcher:
    def __init__(self, settings: ImagesSettings) -> None:
        self._settings = settings
        connector = aiohttp.TCPConnector(
            resolver=None if settings.allow_private_networks else _GuardedResolver(),
            limit=32,
        )
        # Ask for identity encoding and never decompress: the size limit then counts the bytes
        # that really arrive, and a small compressed body cannot expand past it in one chunk.
        # (A server that compresses anyway sends bytes no image sniffing accepts: a 400.)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=settings.fetch_timeout_s),
            headers={"User-Agent": "modelmux-image-fetcher", "Accept-Encoding": "identity"},
            auto_decompress=False,
        )

    async def close(self) -> None:
        await self._session.close()

    async def inline_all(self, images: list[RemoteImage]) -> None:
        if not images:
            return
        if not self._settings.fetch_remote:
            raise InvalidRequest(
                "Image URLs are not supported by this proxy (fetch_remote is off); "
                "send images as base64 data: URIs.",
                param=images[0].param or f"messages[{images[0].message_index}].content",
            )
        limit = self._settings.max_per_request
        if len(images) > limit:
            extra = images[limit]
            message = (
                f"The URL in messages[{extra.message_index}] is not fetched: this proxy fetches "
                "no image or file URLs (max_per_request is 0); send it as a base64 data: URI."
                if limit == 0
                else f"Too many URLs: the one in messages[{extra.message_index}] is one too many; "
                f"a request may hold at most {limit} image or file URLs. Send the rest as base64 "
                "data: URIs."
            )
            raise InvalidRequest(
                message,
                param=extra.param or f"messages[{extra.message_index}].content",
                code="invalid_value",
            )
        budget = _Budget(self._settings.max_total_bytes)
        try:
            async with asyncio.TaskGroup() as group:  # one failure cancels the other fetches
                tasks = [group.create_task(self._fetch(image, budget)) for image in images]
        except BaseExceptionGroup as failed:
            raise _first_error(failed) from None
        for image, task in zip(images, tasks, strict=True):
            media_type, data = task.result()
            inline_remote(image, media_type, base64.b64encode(data).decode("ascii"), sniffed=True)

    async def _fetch(self, image: RemoteImage, budget: _Budget) -> tuple[str, bytes]:
        param = image.param or f"messages[{image.message_index}].content"
        what = "image" if set(image.allowed) & set(IMAGE_TYPES) else "file"

        def fail(why: str) -> InvalidRequest:
            return _FetchFailed(
                f"Could not fetch the {what} URL in messages[{image.message_index}]: {why}.",
                param=param,
                message_index=image.message_index,
            )

        try:
            url = URL(image.url)
        except ValueError:  # also checked in convert; yarl is stricter in places (IDNA)
            raise fail("the URL is malformed") from None
        timeout = self._settings.fetch_timeout_s
        try:
            async with asyncio.timeout(timeout):  # for the whole redirect chain
                for _hop in range(MAX_REDIRECTS + 1):
                    self._check_target(url, fail)
                    async with self._session.get(url, allow_redirects=False) as resp:
                        if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                            try:
                                url = url.join(URL(resp.headers["Location"]))
                            except ValueError:
                                raise fail("the server redirected to a malformed URL") from None
                            continue
                        if resp.status != 200:
                            raise fail(f"the server answered HTTP {resp.status}")
                        data = await self._read_limited(resp, budget, fail)
                        return self._media_type(image, resp, data, fail), data
                raise fail("too many redirects")
        except _BlockedAddress:
            raise fail("the address is not a public one") from None
        except TimeoutError:
            raise fail(f"timed out after {timeout:g} s") from None
        except aiohttp.InvalidURL:
            raise fail("the URL is malformed") from None
        except aiohttp.ClientError as exc:
            raise fail(f"connection failed ({type(exc).__name__})") from None
        except ValueError:  # yarl/aiohttp refusing a URL the checks above let through
            raise fail("the URL is malformed") from None

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

    async def _read_limited(
        self, resp: aiohttp.ClientResponse, budget: _Budget, fail: Any
    ) -> bytes:
        limit = self._settings.max_bytes
        total = self._settings.max_total_bytes
        too_big = f"it is larger than {limit} bytes"
        over_budget = f"the URLs of this request add up to more than {total} bytes"
        if resp.content_length is not None:
            if resp.content_length > limit:
                raise fail(too_big)
            if resp.content_length > budget.left:
                raise fail(over_budget)
        data = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            data += chunk
            budget.left -= len(chunk)
            if len(data) > limit:
                raise fail(too_big)
            if budget.left < 0:
                raise fail(over_budget)
        return bytes(data)

    @staticmethod
    def _media_type(
        image: RemoteImage, resp: aiohttp.ClientResponse, data: bytes, fail: Any
    ) -> str:
        """The sniffed bytes decide (servers often send a wrong Content-Type)."""
        if not data:
            raise fail("the response was empty")
        sniffed = sniff(data[:1024])
        if sniffed is None or sniffed not in image.allowed:
            raise fail(
                f"unsupported content type {sniffed or resp.content_type!r}; supported: "
                + ", ".join(image.allowed)
            )
        return sniffed
