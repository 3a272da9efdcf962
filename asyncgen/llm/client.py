"""The HTTP client under the transport: a backend chosen by measurement, per endpoint.

``native`` (the default) sends whole-answer requests through `asyncgen.llm.http1`, a
keep-alive HTTP/1.1 client on httptools' C parser: on loopback about half the CPU per
request of the httpx-over-aiohttp stack, and neither library is imported unless needed.
SSE streams, an endpoint behind an HTTP(S) proxy from the environment, and a replacement
httpx transport (tests) go through httpx: over aiohttp (``aiohttp``: the httpx-aiohttp
transport, whole answers read in one call, see `asyncgen.llm.aio`) or httpx's own pool
(``httpx``), which are also the other two `llm.http_backend` choices.
"""

from __future__ import annotations

import os
import ssl
from typing import TYPE_CHECKING, Protocol

from asyncgen import __version__
from asyncgen.config.llm import LLMSettings
from asyncgen.kinds import KIND_HEADER
from asyncgen.llm.http1 import Http1Pool, header_line

if TYPE_CHECKING:
    import httpx

KIND_HEADER_BYTES = KIND_HEADER.encode()
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy"})


class HeaderView(Protocol):
    """What the transport reads of an answer's headers (`httpx.Headers` has it too)."""

    @property
    def raw(self) -> list[tuple[bytes, bytes]]: ...

    def get(self, key: str, default: str | None = None) -> str | None: ...


class HttpAnswer(Protocol):
    """A whole HTTP answer: `http1.Answer` or an already-read `httpx.Response`."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> HeaderView: ...

    @property
    def content(self) -> bytes: ...


def request_headers(api_key: str | None) -> dict[str, str]:
    """The headers every chat-completions request carries (the key as a bearer token)."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate",
        "User-Agent": f"asyncgen/{__version__}",
    }
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def proxy_configured() -> bool:
    """True when HTTP_PROXY, HTTPS_PROXY or ALL_PROXY is set (any case): httpx honours them."""
    return any(k.lower() in _PROXY_VARIABLES and v for k, v in os.environ.items())


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
    import httpx

    size = settings.limits.concurrency
    limits = httpx.Limits(
        max_connections=size, max_keepalive_connections=size, keepalive_expiry=30.0
    )
    t = settings.timeouts
    timeout = httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool)
    cls: type[httpx.AsyncClient] = httpx.AsyncClient
    if settings.http_backend != "httpx" and transport is None:
        from asyncgen.llm.aio import WholeBodyAiohttpClient

        cls = WholeBodyAiohttpClient
    return cls(
        headers=request_headers(api_key),
        timeout=timeout,
        limits=limits,
        transport=transport,
        follow_redirects=False,
        verify=verify,
    )


class Connection:
    """One endpoint URL: whole answers on the native pool when it applies, else httpx.

    The httpx client (streams, proxies, test transports, the other backends) is built on
    first use, so a run that never streams never imports httpx or aiohttp.
    """

    def __init__(
        self,
        settings: LLMSettings,
        url: str,
        *,
        api_key: str | None,
        transport: httpx.AsyncBaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self._settings = settings
        self._api_key = api_key
        self._transport = transport
        self._ssl_context = ssl_context
        self._client: httpx.AsyncClient | None = None
        self._http_post: _HttpxPost | None = None
        self._kind_lines: dict[str, bytes] = {}
        self._pool: Http1Pool | None = None
        if settings.http_backend == "native" and transport is None and not proxy_configured():
            t = settings.timeouts
            self._pool = Http1Pool(
                url,
                request_headers(api_key),
                size=settings.limits.concurrency,
                connect_timeout=t.connect,
                read_timeout=t.read,
                pool_timeout=t.pool,
                ssl_context=ssl_context,
            )

    @property
    def native(self) -> bool:
        """True when whole answers go through `http1` (False: through httpx)."""
        return self._pool is not None

    @property
    def client(self) -> httpx.AsyncClient:
        """The httpx client for streams (and for every request when not native)."""
        if self._client is None:
            verify: ssl.SSLContext | bool = self._ssl_context or True
            if self._ssl_context is None and self.url.startswith("http:"):
                if not proxy_configured():  # no TLS on this path: skip loading CA certificates
                    verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            self._client = make_http_client(
                self._settings, api_key=self._api_key, transport=self._transport, verify=verify
            )
        return self._client

    async def post(self, content: bytes, kind: str) -> HttpAnswer:
        """POST `content` with the kind header; the whole body is read before returning."""
        pool = self._pool
        if pool is None:
            if self._http_post is None:
                self._http_post = _HttpxPost(self.client, self.url)
            return await self._http_post.post(content, kind.encode())
        line = self._kind_lines.get(kind)
        if line is None:
            line = self._kind_lines[kind] = header_line(KIND_HEADER, kind)
        return await pool.post(content, line)

    async def aclose(self) -> None:
        """Close the pool and the httpx client, if either was made."""
        if self._pool is not None:
            await self._pool.aclose()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class _HttpxPost:
    """A POST straight to the httpx client's connection transport.

    The `httpx.AsyncClient` layer (URL merging, header merging, auth and cookie flows,
    redirects) costs about 0.2 ms of CPU per request, as much as the whole aiohttp
    exchange; chat completions need none of it. So the request is an `httpx.Request` with
    the client's own headers and timeouts, sent through the transport the client would
    pick for the URL (proxies and mounts included).
    """

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        import httpx

        from asyncgen.llm.aio import READ_WHOLE

        self.url = httpx.URL(url)
        self._request = httpx.Request
        self._transport = client._transport_for_url(self.url)
        self._headers = list(client.headers.raw)
        self._extensions = {"timeout": client.timeout.as_dict(), READ_WHOLE: True}

    async def post(self, content: bytes, kind: bytes) -> httpx.Response:
        request = self._request(
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
