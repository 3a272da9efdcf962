"""Where a call goes: provider endpoints (URL, key, HTTP connection) and per-model limiters.

A handle without its own `base_url` goes to the transport's endpoint when it names the
configured provider or when the transport was given an explicit `base_url` (a proxy or
the simulator: then the whole pool goes there); otherwise to its provider's default URL,
with the key from that provider's environment variable.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asyncgen import offload
from asyncgen.config.llm import PROVIDER_DEFAULTS, LimitSettings, LLMSettings
from asyncgen.config.loader import resolve_api_key
from asyncgen.errors import ConfigError, RequestInfo
from asyncgen.llm.budget import BudgetFactory
from asyncgen.llm.client import Connection, proxy_configured
from asyncgen.llm.http1 import default_tls_context
from asyncgen.llm.limiter import RateLimiter
from asyncgen.llm.types import ModelHandle

if TYPE_CHECKING:
    import httpx


@dataclass
class Endpoint:
    """One base URL with its key variable, its HTTP connection and its limiters by model."""

    provider: str
    base_url: str
    key_env: str
    api_key: str | None = field(repr=False)
    connection: Connection | None = None
    limiters: dict[str, RateLimiter] = field(default_factory=dict)


@dataclass
class Route:
    """Where one model's calls go: the endpoint and its limiter; `info` names it in errors."""

    endpoint: Endpoint
    limiter: RateLimiter
    info: RequestInfo


class Router:
    """Resolves handles to routes, creating endpoints, clients and limiters on first use."""

    def __init__(
        self,
        settings: LLMSettings,
        limits: LimitSettings,
        *,
        api_key: str | None,
        override_url: str | None,
        slots: asyncio.Semaphore,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        http_transport: httpx.AsyncBaseTransport | None = None,
        budget_for: BudgetFactory | None = None,
    ) -> None:
        self._settings = settings
        self._budget_for = budget_for
        self._limits = limits
        self._override_url = override_url
        self._slots = slots
        self._clock = clock
        self._sleep = sleep
        self._http_transport = http_transport
        url = override_url or settings.base_url
        self.default = _endpoint(settings.provider, url, settings.api_key_env, api_key)
        self._endpoints = {(self.default.base_url, self.default.key_env): self.default}
        self._routes: dict[tuple[str, str | None, str | None, str], Route] = {}
        self._closed = False
        self._ssl_context: ssl.SSLContext | None = None

    def route(self, handle: ModelHandle) -> Route:
        """The route for a handle (cached by provider, URL, key variable and model)."""
        key = (handle.provider, handle.base_url, handle.api_key_env, handle.model)
        found = self._routes.get(key)
        if found is None:
            endpoint = self._endpoint_for(handle)
            limiter = endpoint.limiters.get(handle.model)
            if limiter is None:
                limiter = endpoint.limiters[handle.model] = RateLimiter(
                    self._limits,
                    slots=self._slots,
                    clock=self._clock,
                    sleep=self._sleep,
                    name=f"{endpoint.base_url} {handle.model}",
                    budget=(
                        self._budget_for(endpoint.base_url, endpoint.key_env, handle.model)
                        if self._budget_for is not None
                        else None
                    ),
                )
            info: RequestInfo = {
                "base_url": endpoint.base_url,
                "model": handle.model,
                "provider": endpoint.provider,
            }
            found = self._routes[key] = Route(endpoint, limiter, info)
        return found

    async def route_async(self, handle: ModelHandle) -> Route:
        """`route`, reading a new endpoint's key (`.env` files) in a worker thread."""
        key = (handle.provider, handle.base_url, handle.api_key_env, handle.model)
        if key not in self._routes:
            found = self._known_endpoint(handle)
            if not isinstance(found, Endpoint):
                provider, base_url, key_env, lookup = found
                api_key = await offload.to_thread(resolve_api_key, lookup)
                self._add_endpoint(provider, base_url, key_env, api_key)
        return self.route(handle)

    def routes(self) -> Iterator[Route]:
        """Every route used so far."""
        return iter(self._routes.values())

    async def warm(self) -> None:
        """Load CA certificates in a worker thread, so no first request blocks the loop.

        Only when TLS can be used: an https endpoint, or a proxy from the environment
        (loading them costs tens of milliseconds at start-up, for nothing on http://).
        """
        if self._ssl_context is None and (
            self.default.base_url.startswith("https:") or proxy_configured()
        ):
            self._ssl_context = await offload.to_thread(default_tls_context)  # the probe's

    def connection(self, endpoint: Endpoint) -> Connection:
        """The endpoint's HTTP connection, created on first use (inside the event loop)."""
        if endpoint.connection is None:
            if self._closed:
                raise RuntimeError("the transport is closed")
            endpoint.connection = Connection(
                self._settings,
                f"{endpoint.base_url}/chat/completions",
                api_key=endpoint.api_key,
                transport=self._http_transport,
                ssl_context=self._ssl_context,
            )
        return endpoint.connection

    async def aclose(self) -> None:
        """Close every HTTP client (idempotent)."""
        self._closed = True
        for endpoint in self._endpoints.values():
            if endpoint.connection is not None:
                connection, endpoint.connection = endpoint.connection, None
                await connection.aclose()

    def _endpoint_for(self, handle: ModelHandle) -> Endpoint:
        found = self._known_endpoint(handle)
        if isinstance(found, Endpoint):
            return found
        provider, base_url, key_env, lookup = found
        return self._add_endpoint(provider, base_url, key_env, resolve_api_key(lookup))

    def _known_endpoint(self, handle: ModelHandle) -> Endpoint | tuple[str, str, str, LLMSettings]:
        """The handle's endpoint if it exists, else what creating it needs (its key lookup)."""
        base_url = handle.base_url
        own_provider = handle.provider == self._settings.provider
        if base_url is None and handle.api_key_env is None and (self._override_url or own_provider):
            return self.default
        if base_url is None:
            base_url = self._override_url or PROVIDER_DEFAULTS[handle.provider][0]
        key_env = handle.api_key_env or PROVIDER_DEFAULTS[handle.provider][1]
        found = self._endpoints.get((base_url.rstrip("/"), key_env))
        if found is not None:
            return found
        lookup = self._settings.model_copy(
            update={"provider": handle.provider, "api_key_env": key_env}
        )
        return handle.provider, base_url, key_env, lookup

    def _add_endpoint(
        self, provider: str, base_url: str, key_env: str, api_key: str | None
    ) -> Endpoint:
        found = _endpoint(provider, base_url, key_env, api_key)
        return self._endpoints.setdefault((found.base_url, found.key_env), found)


def _endpoint(
    provider: str, base_url: str | None, key_env: str | None, api_key: str | None
) -> Endpoint:
    default_url, default_env = PROVIDER_DEFAULTS[provider]
    url = (base_url or default_url).rstrip("/")
    if not url:
        raise ConfigError(
            f"provider {provider!r} has no default URL: pass --base-url "
            "(e.g. the one `asyncgen sim serve` prints)"
        )
    return Endpoint(provider, url, key_env or default_env, api_key)
