"""The aiohttp transport under the httpx API, with a path that reads whole answers at once.

httpx-aiohttp hands every response back as a stream that httpx then reads in chunks
through its own iterators; for a chat completion, whose body is a few kilobytes wanted
whole, that machinery costs about a third of the client's CPU per request. A request
marked `READ_WHOLE` is sent on the same aiohttp session (same pool, TLS context, proxy
and timeouts) and its body is read in one call, returning an already-read
`httpx.Response`. Streams (SSE) take httpx-aiohttp's streaming path unchanged.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx
from aiohttp import BasicAuth, ClientSession, ClientTimeout
from httpx_aiohttp import HttpxAiohttpClient
from httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions

READ_WHOLE = "asyncgen.read_whole"
_HTTP11 = {"http_version": b"HTTP/1.1"}
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
CertTypes = str | tuple[str, str] | tuple[str, str, str]


class WholeBodyAiohttpTransport(AiohttpTransport):
    """httpx-aiohttp's transport, plus a one-call read for requests marked `READ_WHOLE`."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request`; read the whole body now if it asks for that, else stream it."""
        if not request.extensions.get(READ_WHOLE):
            return await super().handle_async_request(request)
        if not isinstance(self.client, ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        proxy = self.proxy
        with map_aiohttp_exceptions():
            async with self.client.request(
                request.method,
                str(request.url),
                headers=[
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                ],
                data=request.content or None,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes, as for any response
                compress=False,
                timeout=ClientTimeout(
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                    connect=timeout.get("pool"),
                ),
                server_hostname=request.extensions.get("sni_hostname"),
                proxy=str(proxy.url) if proxy else None,
                proxy_auth=BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
                proxy_headers=proxy.headers if proxy else None,
            ) as response:
                body = await response.read()
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            content=body,
            request=request,
            extensions=_HTTP11,
        )


class WholeBodyAiohttpClient(HttpxAiohttpClient):
    """`httpx.AsyncClient` whose transports (direct and proxied) are the whole-body kind."""

    def _init_transport(
        self,
        verify: ssl.SSLContext | str | bool = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = DEFAULT_LIMITS,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> httpx.AsyncBaseTransport:
        if transport is not None:
            return transport
        return WholeBodyAiohttpTransport(
            verify=verify, cert=cert, trust_env=trust_env, http1=http1, http2=http2, limits=limits
        )

    def _init_proxy_transport(
        self,
        proxy: httpx.Proxy,
        verify: ssl.SSLContext | str | bool = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = DEFAULT_LIMITS,
        **kwargs: Any,
    ) -> httpx.AsyncBaseTransport:
        return WholeBodyAiohttpTransport(
            verify=verify,
            cert=cert,
            trust_env=trust_env,
            http1=http1,
            http2=http2,
            limits=limits,
            proxy=proxy,
        )
