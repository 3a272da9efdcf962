"""A keep-alive HTTP/1.1 client for whole answers: an `asyncio.Protocol` and httptools' parser.

A chat completion is one POST whose answer is a few kilobytes wanted whole. The general
clients (httpx's request/response models over aiohttp's) spent about 0.13 ms of CPU per
request building objects the transport never reads; here a request is one `bytes` write
on a pooled connection and the answer is parsed by llhttp (the C parser uvicorn uses)
straight into an `Answer`. Plain http and TLS (`ssl_context`); keep-alive with a LIFO pool
capped at `size` connections; answers with `Content-Length`, chunked or ended by close;
gzip and deflate decoded. A host is looked up once a minute for all its connections,
and the address that last answered is tried first. Timeouts: `connect` for the lookup,
TCP and TLS set-up, `pool` for a free connection, `read` for the whole answer from the
moment the request is written (a stalled write runs into it too). Proxies and SSE
streams are not handled here: the caller (`asyncgen.llm.client`) sends those through httpx.

A reused connection that the server closed while it sat idle (its keep-alive timeout) is
noticed before it is used, or, in a race, when it ends with no byte of an answer within
about a round trip of the write (`STALE_RACE`): then the request goes once more on a fresh
connection (the close was on its way before the request arrived, so nothing was done). A
connection that holds a request longer and then closes unanswered may have done the work
(and billed it): that is a `RemoteProtocolError` for the caller's counted, paced retry.
Every failure is an `OSError` (`ConnectionError` subclasses for protocol trouble,
`ssl.SSLError` for TLS), a `TimeoutError`, or `BodyDecodingError`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from collections import deque
from typing import cast
from urllib.parse import urlsplit

import httptools

_DEFAULT_PORTS = {"http": 80, "https": 443}
DNS_TTL = 60.0  # seconds a host's addresses are reused (aiohttp: 10 s; providers' TTLs: ~60-300)
ATTEMPT_SECONDS = 1.0  # one address's connect budget while other addresses remain
STALE_RACE = (0.05, 1.0)  # seconds: the idle-close race's window, floor and cap (2 x connect)

_tls_context: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def default_tls_context() -> ssl.SSLContext:
    """The system's CA certificates in one client context, loaded once per process.

    Blocking (~20 ms of CPU for the 144 certificates here): call it off the loop. An
    https run needs it twice before its first request, for the endpoint probe and for the
    transport; this client never changes a context, so both share this one (it loaded
    twice: ~20 ms of CPU before every https run's first request).
    """
    global _tls_context
    with _tls_lock:
        if _tls_context is None:
            _tls_context = ssl.create_default_context()
        return _tls_context


Address = tuple[str, int]


class RemoteProtocolError(ConnectionError):
    """The server broke HTTP/1.1: garbage instead of a response, or a close mid-answer."""


class StaleConnectionError(ConnectionError):
    """A reused keep-alive connection closed before any byte of the answer arrived."""


class BodyDecodingError(ValueError):
    """A body whose `Content-Encoding` (gzip, deflate) does not decode."""


class Headers:
    """An answer's headers as sent: `raw` (name, value) byte pairs and a case-blind `get`."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header `name` (any case), decoded as latin-1."""
        wanted = name.lower().encode("latin-1")
        for key, value in self.raw:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return default


class Answer:
    """One HTTP answer, read whole: the shape the transport reads of `httpx.Response`."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: Headers, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; one request at a time; the parser calls back into it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.keep_alive = False
        self._waiter: asyncio.Future[Answer] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._received = False  # any byte of the current answer
        self._headers_done = False
        self.written_at = 0.0  # loop time of the current request's write
        self.race_window = STALE_RACE[0]  # a close this soon after the write is the idle race

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(RemoteProtocolError(f"the server sent a malformed HTTP answer ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and self._ends_at_close():
            self.on_message_complete()
            return
        held = self.loop.time() - self.written_at
        if not self._received and held <= self.race_window:
            error: Exception = StaleConnectionError("the server closed the connection unanswered")
        elif not self._received:
            error = RemoteProtocolError(
                f"the server closed the connection {held:.2f} s after the request, unanswered"
            )
        else:
            error = RemoteProtocolError("the server closed the connection mid-answer")
        if exc is not None:
            error.__cause__ = exc
        self._fail(error)

    # -- httptools callbacks -----------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        status = self.parser.get_status_code()
        if status < 200:  # interim (103 Early Hints, an unasked 100): the answer follows
            self._headers = []
            self._body = []
            self._headers_done = False
            return
        self.keep_alive = self.parser.should_keep_alive() and not self.closed
        headers = Headers(self._headers)
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        try:
            body = _decoded(body, headers)
        except BodyDecodingError as exc:
            self._fail(exc)
            return
        self._stop_timer()
        waiter.set_result(Answer(status, headers, body))

    # -- one exchange ------------------------------------------------------------------

    async def exchange(self, request: bytes, read_timeout: float | None) -> Answer:
        """Write `request`; the answer once it is whole (`read_timeout` bounds the wait)."""
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            raise StaleConnectionError("the connection closed while idle")
        self._headers = []
        self._body = []
        self._received = self._headers_done = False
        waiter = self._waiter = self.loop.create_future()
        if read_timeout is not None:
            self._timer = self.loop.call_later(read_timeout, self._timed_out, read_timeout)
        self.written_at = self.loop.time()
        transport.write(request)
        try:
            answer: Answer = await waiter
        finally:
            self._waiter = None
            self._stop_timer()
        return answer

    def close(self) -> None:
        """Drop the connection (an unfinished exchange cannot be resumed)."""
        self.closed = True
        self.keep_alive = False
        if self.transport is not None:
            self.transport.close()

    def _timed_out(self, seconds: float) -> None:
        self._timer = None
        self._fail(TimeoutError(f"no whole answer within {seconds:g} s"))

    def _fail(self, exc: BaseException) -> None:
        self._stop_timer()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _ends_at_close(self) -> bool:
        """True when the answer has neither a length nor chunks: its end is the close."""
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length":
                return False
            if lowered == b"transfer-encoding" and b"chunked" in value.lower():
                return False
        return True


def _decoded(body: bytes, headers: Headers) -> bytes:
    """The body with its `Content-Encoding` undone (gzip, deflate; identity as is)."""
    if not body:
        return body
    encoding = None
    for name, value in headers.raw:
        if len(name) == 16 and name.lower() == b"content-encoding":
            encoding = value.strip().lower()
            break
    if encoding is None or encoding == b"identity":
        return body
    try:
        if encoding in (b"gzip", b"x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS)
        if encoding == b"deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some send
    except zlib.error as exc:
        raise BodyDecodingError(f"the {encoding.decode()} body does not decode ({exc})") from exc
    raise BodyDecodingError(f"unsupported Content-Encoding {encoding.decode('latin-1')!r}")


class Http1Pool:
    """Keep-alive connections to one origin, at most `size` of them, used LIFO.

    Args:
        url: the origin (and default path) requests go to; `http` or `https`.
        headers: sent with every request (Host and Content-Length are added here).
        size: most connections open at once; more requests wait for one (`pool` timeout).
        ssl_context: for https (made ahead of time: loading CA certificates blocks).
        keepalive: seconds an idle connection is kept before it is dropped unused.
    """

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        size: int,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        pool_timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        keepalive: float = 30.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
        self.host = parts.hostname
        self.port = parts.port or _DEFAULT_PORTS[parts.scheme]
        self.tls = parts.scheme == "https"
        if self.tls and ssl_context is None:
            ssl_context = ssl.create_default_context()
        self._ssl = ssl_context if self.tls else None
        path = parts.path or "/"
        self.target = f"{path}?{parts.query}" if parts.query else path
        host = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port and parts.port != _DEFAULT_PORTS[parts.scheme]:
            host = f"{host}:{parts.port}"
        fixed = {"Host": host, **headers}
        for name, value in fixed.items():
            _check_header(name, value)
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool_timeout = pool_timeout
        self._keepalive = keepalive
        self._slots = asyncio.Semaphore(size)
        self._idle: deque[_Connection] = deque()
        self._closed = False
        self._literal = _is_ip(self.host)
        self._addresses: list[Address] = []
        self._resolved_at = 0.0
        self._lookup: asyncio.Task[None] | None = None
        self._good: Address | None = None

    def request_bytes(
        self, method: str, target: str | None, body: bytes | None, extra: bytes = b""
    ) -> bytes:
        """The request as written: request line, fixed headers, `extra` header lines, body."""
        head = f"{method} {target or self.target} HTTP/1.1\r\n".encode("latin-1")
        if body is None:
            return b"%s%s%s\r\n" % (head, self._fixed, extra)
        return b"%s%sContent-Length: %d\r\n%s\r\n%s" % (head, self._fixed, len(body), extra, body)

    async def post(self, body: bytes, extra: bytes = b"") -> Answer:
        """POST `body` to the pool's URL; `extra` is ready header lines (``b"Name: v\\r\\n"``)."""
        return await self.send(self.request_bytes("POST", None, body, extra))

    async def get(self, target: str | None = None) -> Answer:
        """GET `target` (a path; default the pool's)."""
        return await self.send(self.request_bytes("GET", target, None))

    async def send(self, request: bytes) -> Answer:
        """Write one ready request on a pooled connection and read its answer whole."""
        slots = self._slots
        if slots.locked() and self._pool_timeout is not None:
            async with asyncio.timeout(self._pool_timeout):
                await slots.acquire()
        else:
            await slots.acquire()
        try:
            connection = self._reuse()
            if connection is not None:
                try:
                    return await self._exchange(connection, request)
                except StaleConnectionError:
                    pass  # closed by the server while idle: nothing was answered
            return await self._exchange(await self._connect(), request)
        finally:
            slots.release()

    async def aclose(self) -> None:
        """Close every idle connection; later requests are refused."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def _exchange(self, connection: _Connection, request: bytes) -> Answer:
        try:
            answer = await connection.exchange(request, self._read_timeout)
        except BaseException:
            connection.close()
            raise
        if connection.keep_alive and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    def _reuse(self) -> _Connection | None:
        """The most recently used idle connection still open and fresh, or None."""
        idle = self._idle
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            transport = connection.transport
            fresh = now - connection.idle_since < self._keepalive
            if fresh and not connection.closed and transport and not transport.is_closing():
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        """A new connection: the host's addresses in turn, the last one that worked first.

        While other addresses remain, one gets `ATTEMPT_SECONDS` (a host whose IPv6 route
        swallows packets costs a second once, not the whole connect timeout: the address
        that answered is tried first from then on).
        """
        if self._closed:
            raise RuntimeError("the HTTP pool is closed")
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self._connect_timeout):
            addresses = await self._resolve(loop)
            failure: BaseException | None = None
            for n, address in enumerate(addresses):
                began = loop.time()
                try:
                    async with asyncio.timeout(ATTEMPT_SECONDS if n < len(addresses) - 1 else None):
                        _, protocol = await loop.create_connection(
                            lambda: _Connection(loop),
                            address[0],
                            address[1],
                            ssl=self._ssl,
                            server_hostname=self.host if self._ssl is not None else None,
                        )
                except (OSError, TimeoutError) as exc:
                    failure = exc
                    continue
                self._good = address
                floor, cap = STALE_RACE
                protocol.race_window = min(cap, max(floor, 2 * (loop.time() - began)))
                return protocol
        self._resolved_at = 0.0  # none answered: look the host up again next time
        raise failure or OSError(f"no address found for {self.host}")

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> list[Address]:
        """The host's addresses, looked up once per `DNS_TTL` for every connection opening
        meanwhile (a pool opening 64 connections at start makes one lookup, not 64)."""
        if self._literal:
            return [(self.host, self.port)]
        if not self._addresses or time.monotonic() - self._resolved_at >= DNS_TTL:
            if self._lookup is None or self._lookup.done():
                self._lookup = loop.create_task(self._look_up(loop))
            await asyncio.shield(self._lookup)
        good = self._good
        if good is None or good not in self._addresses:
            return self._addresses
        return [good, *(a for a in self._addresses if a != good)]

    async def _look_up(self, loop: asyncio.AbstractEventLoop) -> None:
        infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        found = [(str(info[4][0]), int(info[4][1])) for info in infos]
        self._addresses = list(dict.fromkeys(found))
        self._resolved_at = time.monotonic()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def header_line(name: str, value: str) -> bytes:
    """One ready header line for `Http1Pool.post`'s `extra`.

    Raises:
        ValueError: the name or value would break the request (a newline, a colon in the name).
    """
    _check_header(name, value)
    return f"{name}: {value}\r\n".encode("latin-1")


def _check_header(name: str, value: str) -> None:
    if not name or any(c in name for c in ":\r\n ") or "\r" in value or "\n" in value:
        raise ValueError(f"header {name!r} cannot be sent as given")
