"""Fail fast on the endpoint: check the key's shape, then one probe before anything is written.

Without this a wrong key, a closed port or no network surfaced as dozens of retried
warnings and a failure breaker minutes later. The probe is one `GET {base_url}/models`
with the run's key and a 5 s budget: a refused key, a refused connection, an unknown host,
a TLS failure or silence becomes one `ConfigError` line naming what to fix. Any other
answer (200, or a 404 from a server without `/models`) lets the run start.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from asyncgen import offload
from asyncgen.config import RunConfig, resolve_api_key
from asyncgen.config.llm import PROVIDER_DEFAULTS
from asyncgen.errors import ConfigError
from asyncgen.llm.client import proxy_configured
from asyncgen.llm.http1 import Http1Pool, default_tls_context

PROBE_SECONDS = 3.5  # with start-up, the one line comes within 5 s
PLACEHOLDERS = ("sk-…", "sk-...", "sk-xxx", "your-api-key", "<your key>")


@dataclass(frozen=True)
class Target:
    """Where the run's calls go and which variable holds the key."""

    base_url: str
    key_env: str
    api_key: str | None
    url_source: str


def target_of(config: RunConfig) -> Target:
    """The configured endpoint (not the simulator): URL, key variable, key.

    Raises:
        ConfigError: the provider has no default URL and none is configured.
    """
    llm = config.llm
    default_url, default_env = PROVIDER_DEFAULTS[llm.provider]
    url = (llm.base_url or default_url).rstrip("/")
    if not url:
        raise ConfigError(f"provider {llm.provider!r} has no default URL: pass --base-url")
    source = "--base-url / llm.base_url" if llm.base_url else f"the {llm.provider} default URL"
    return Target(url, llm.api_key_env or default_env, resolve_api_key(llm), source)


def check_api_key(key: str | None, var: str) -> None:
    """Refuse a key that cannot be right, before any request (never echoing the key).

    Raises:
        ConfigError: the key has whitespace or non-ASCII characters, or is a placeholder.
    """
    if key is None:
        return
    if key.strip() in PLACEHOLDERS or "…" in key:
        raise ConfigError(
            f"{var} holds a placeholder (like the README's sk-…), not a key: "
            f"set {var} to your provider's API key"
        )
    if key != key.strip():
        where = "a trailing newline" if key.endswith(("\n", "\r")) else "leading/trailing spaces"
        raise ConfigError(f'{var} has {where}: remove it (e.g. export {var}="$(echo -n …)")')
    if any(ch.isspace() for ch in key):
        raise ConfigError(f"{var} contains whitespace inside the key: paste the key again")
    if not key.isascii():
        position = next(i for i, ch in enumerate(key) if not ch.isascii())
        raise ConfigError(
            f"{var} contains a non-ASCII character at position {position + 1} "
            "(a pasted quote or ellipsis?): paste the key again"
        )


def _root_causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def explain_connect_error(exc: BaseException, target: Target) -> str:
    """One line saying why the endpoint could not be reached and what to change."""
    host = urlsplit(target.base_url).hostname or target.base_url
    chain = _root_causes(exc)
    fix = f"check {target.url_source} ({target.base_url})"
    if any(isinstance(e, socket.gaierror) for e in chain) or "Name or service not known" in str(
        exc
    ):
        return f"cannot resolve host {host!r}: {fix}, or the network/DNS"
    if any(isinstance(e, ssl.SSLError) for e in chain) or "SSL" in str(exc):
        detail = next((str(e) for e in chain if isinstance(e, ssl.SSLError)), str(exc))
        return (
            f"TLS handshake with {target.base_url} failed ({detail[:120]}): {fix} "
            "(http vs https), or trust its certificate via SSL_CERT_FILE"
        )
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in str(exc).lower():
        return f"connection refused by {target.base_url}: is the server running? {fix}"
    httpx = sys.modules.get("httpx")
    if isinstance(exc, TimeoutError) or (
        httpx is not None and isinstance(exc, httpx.TimeoutException)
    ):
        return f"no answer from {target.base_url} within {PROBE_SECONDS:g} s: {fix}, or the network"
    return f"cannot reach {target.base_url} ({type(chain[-1]).__name__}: {chain[-1]}): {fix}"


def check_url(target: Target) -> None:
    """Refuse a URL no request could go to (scheme, host, port range).

    Raises:
        ConfigError: names the URL and where it was set.
    """
    try:
        parts = urlsplit(target.base_url)
        _ = parts.port  # raises for a port outside 0-65535
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("it needs http:// or https:// and a host")
    except ValueError as exc:
        raise ConfigError(
            f"{target.base_url} is not a usable URL ({exc}): check {target.url_source}"
        ) from exc


async def probe(target: Target, *, seconds: float = PROBE_SECONDS) -> None:
    """One GET {base_url}/models with the key; raise on what makes a run pointless.

    Raises:
        ConfigError: 401/403, connection refused, unknown host, TLS failure, no answer.
    """
    check_url(target)
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    started = time.monotonic()
    try:
        async with asyncio.timeout(seconds):
            status = await _get_status(f"{target.base_url}/models", headers, seconds)
    except (ValueError, OverflowError) as exc:
        raise ConfigError(
            f"{target.base_url} is not a valid URL ({exc}): check {target.url_source}"
        ) from exc
    except _unreachable() as exc:
        if isinstance(exc, TimeoutError) or time.monotonic() - started >= seconds:
            exc = TimeoutError(str(exc))
        raise ConfigError(explain_connect_error(exc, target)) from exc
    except ExceptionGroup as group:  # anyio's connection attempts (happy eyeballs)
        raise ConfigError(explain_connect_error(_first_leaf(group), target)) from group
    if status == 401:
        if not target.api_key:
            raise ConfigError(
                f"{target.base_url} wants an API key (401) and {target.key_env} is unset: "
                f"set {target.key_env}"
            )
        raise ConfigError(
            f"{target.base_url} rejected the key in {target.key_env} (401): "
            f"set {target.key_env} to a valid key"
        )
    if status == 403:
        raise ConfigError(
            f"{target.base_url} refused access (403) with the key in {target.key_env}: "
            "use a key with access to this API/model"
        )


async def _get_status(url: str, headers: dict[str, str], seconds: float) -> int:
    """The status of GET `url`: on the native client (no CA certificates loaded for
    http://, neither httpx nor aiohttp imported), or on httpx when a proxy is configured."""
    if proxy_configured():
        import httpx

        async with httpx.AsyncClient(timeout=seconds) as client:
            return (await client.get(url, headers=headers)).status_code
    context = None
    if url.startswith("https:"):
        context = await offload.to_thread(default_tls_context)  # the transport's too
    pool = Http1Pool(
        url,
        headers,
        size=1,
        connect_timeout=seconds,
        read_timeout=seconds,
        ssl_context=context,
        keepalive=0.0,
    )
    try:
        return (await pool.get()).status_code
    finally:
        await pool.aclose()


def _unreachable() -> tuple[type[BaseException], ...]:
    """What a failed GET raises: OS and timeout errors, and httpx's once it is loaded."""
    httpx = sys.modules.get("httpx")
    return (OSError, TimeoutError) if httpx is None else (OSError, TimeoutError, httpx.HTTPError)


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def preflight(config: RunConfig) -> None:
    """The key check and the probe, for a run against a real endpoint (blocking, own loop).

    Raises:
        ConfigError: what to fix, in one line.
    """
    target = target_of(config)
    check_api_key(target.api_key, target.key_env)
    asyncio.run(probe(target))
