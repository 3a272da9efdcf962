"""The HTTP client under the transport: the httpx API over a backend chosen by measurement.

``aiohttp`` (the httpx-aiohttp transport, with whole answers read in one call: see
`asyncgen.llm.aio`) sustains several times the request rate of httpx's own connection
pool at a fraction of the CPU per request on loopback, so it is the default; ``httpx`` is
kept for environments where aiohttp is unwanted.
"""

from __future__ import annotations

import ssl
from importlib.metadata import version

import httpx

from asyncgen.config.llm import LLMSettings
from asyncgen.llm.aio import READ_WHOLE, WholeBodyAiohttpClient
from asyncgen.prompts import KIND_HEADER

_VERSION = version("asyncgen")
KIND_HEADER_BYTES = KIND_HEADER.encode()


def make_http_client(
    settings: LLMSettings,
    *,
    api_key: str | None,
    transport: httpx.AsyncBaseTransport | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` with a keep-alive pool sized to the concurrency cap.

    Args:
        settings: timeouts, concurrency and `http_backend` come from here.
        api_key: sent as a bearer token when given (never logged).
        transport: a replacement transport (tests pass `httpx.MockTransport`).
        verify: an SSL context made ahead of time (loading CA certificates blocks).
    """
    size = settings.limits.concurrency
    limits = httpx.Limits(
        max_connections=size, max_keepalive_connections=size, keepalive_expiry=30.0
    )
    t = settings.timeouts
    timeout = httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool)
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": f"asyncgen/{_VERSION}",
    }
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    cls = (
        WholeBodyAiohttpClient
        if settings.http_backend == "aiohttp" and transport is None
        else httpx.AsyncClient
    )
    return cls(
        headers=headers,
        timeout=timeout,
        limits=limits,
        transport=transport,
        follow_redirects=False,
        verify=verify,
    )


class Connection:
    """One endpoint URL on a client: a POST straight to the client's connection transport.

    The `httpx.AsyncClient` layer (URL merging, header merging, auth and cookie flows,
    redirects) is built for general use and costs about 0.2 ms of CPU per request, as much
    as the whole aiohttp exchange; chat completions need none of it. So the request is an
    `httpx.Request` with the client's own headers and timeouts, sent through the
    transport the client would pick for the URL (proxies and mounts included).
    """

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = httpx.URL(url)
        self._transport = client._transport_for_url(self.url)
        self._headers = list(client.headers.raw)
        self._extensions = {"timeout": client.timeout.as_dict(), READ_WHOLE: True}

    async def post(self, content: bytes, kind: bytes) -> httpx.Response:
        """POST `content` with the kind header; the whole body is read before returning."""
        request = httpx.Request(
            "POST",
            self.url,
            headers=[*self._headers, (KIND_HEADER_BYTES, kind)],
            content=content,
            extensions=self._extensions,
        )
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response
