"""The native HTTP/1.1 client (`asyncgen.llm.http1`) against raw servers on 127.0.0.1 sockets.

Each server is a few lines of `asyncio.start_server` that write exact bytes, so keep-alive,
closes, chunking and stalls are what the test says, not what a framework chooses.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.config import LLMSettings
from asyncgen.errors import LLMConnectionError, LLMTimeoutError, RateLimitError
from asyncgen.llm import ChatRequest, Transport, set_testing
from asyncgen.llm.client import Connection
from asyncgen.llm.http1 import Http1Pool, RemoteProtocolError, header_line

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "model": "m1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


class Server:
    """Counts connections and requests; `handler` answers each connection."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.url = ""


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


async def read_request(reader: asyncio.StreamReader, server: Server) -> bytes | None:
    """One request (head + Content-Length body), or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    server.requests.append(head + body)
    return head + body


def response(status: int = 200, body: bytes = ANSWER, headers: str = "") -> bytes:
    reason = {200: "OK", 429: "Too Many Requests"}.get(status, "X")
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{headers}\r\n"
    ).encode() + body


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, s: Server) -> None:
    while await read_request(reader, s) is not None:
        writer.write(response())
        await writer.drain()


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    state = Server()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await handler(reader, writer, state)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield state
    finally:
        server.close()


def pool(url: str, **kwargs: float) -> Http1Pool:
    return Http1Pool(f"{url}/chat/completions", {"Authorization": "Bearer k"}, size=4, **kwargs)


def transport(url: str) -> Transport:
    settings = LLMSettings.model_validate(
        {"provider": "compatible", "base_url": url, "model": "m1", "timeouts": {"read": 1.0}}
    )
    return Transport.from_settings(settings, api_key="sk-test", max_retries=0)


def chat() -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": "q"}], kind="complete")


async def test_keep_alive_reuses_one_connection() -> None:
    """Sequential requests share one connection; the request carries the fixed headers."""
    async with serve(keep_alive) as server:
        client = pool(server.url)
        answers = [await client.post(b'{"a": 1}', header_line("X-Kind", "k")) for _ in range(5)]
        await client.aclose()
    assert [a.status_code for a in answers] == [200] * 5
    assert orjson.loads(answers[0].content)["id"] == "chatcmpl-1"
    assert server.connections == 1 and len(server.requests) == 5
    first = server.requests[0]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Authorization: Bearer k\r\n" in first and b"X-Kind: k\r\n" in first
    assert first.endswith(b'\r\n\r\n{"a": 1}')


async def test_concurrent_requests_open_at_most_size_connections() -> None:
    async with serve(keep_alive) as server:
        client = pool(server.url)
        await asyncio.gather(*(client.post(b"{}") for _ in range(40)))
        await client.aclose()
    assert len(server.requests) == 40 and server.connections <= 4


async def test_connection_close_answers_open_a_new_connection() -> None:
    """`Connection: close` from the server: the next request goes on a new connection."""

    async def close_each(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(response(headers="Connection: close\r\n"))
        await w.drain()

    async with serve(close_each) as server:
        client = pool(server.url)
        for _ in range(3):
            assert (await client.post(b"{}")).status_code == 200
        await client.aclose()
    assert server.connections == 3


async def test_server_closing_an_idle_connection_costs_no_failure() -> None:
    """A keep-alive connection the server dropped while idle is replaced, not an error."""

    async def one_then_close(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(response())  # keep-alive by HTTP/1.1 default, then the server hangs up
        await w.drain()

    async with serve(one_then_close) as server:
        client = pool(server.url)
        await client.post(b"{}")
        await asyncio.sleep(0.05)
        assert (await client.post(b"{}")).status_code == 200
        await client.aclose()
    assert server.connections == 2 and len(server.requests) == 2


async def test_a_held_request_closed_unanswered_is_an_error_not_a_silent_resend() -> None:
    """A reused connection that takes a request, holds it 0.3 s and hangs up may have done
    the work: the caller gets the error (its retry is counted and paced), the server sees
    the request once; a hang-up at once is the idle race and is resent."""

    async def answer_then_hold(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(response())
        await w.drain()
        await read_request(r, s)
        await asyncio.sleep(0.3 if len(s.requests) == 2 else 0.0)

    async with serve(answer_then_hold) as server:
        client = pool(server.url)
        await client.post(b"{}")
        with pytest.raises(RemoteProtocolError, match="unanswered"):
            await client.post(b"{}")
        await client.aclose()
    assert len(server.requests) == 2


async def test_close_mid_answer_is_a_protocol_error() -> None:
    async def half(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(response()[:-10])
        await w.drain()

    async with serve(half) as server:
        client = pool(server.url)
        with pytest.raises(RemoteProtocolError):
            await client.post(b"{}")
        await client.aclose()


async def test_chunked_answer_in_pieces_and_an_answer_ended_by_close() -> None:
    async def chunked(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while await read_request(r, s) is not None:
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(ANSWER), 40):
                piece = ANSWER[i : i + 40]
                w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await w.drain()
                await asyncio.sleep(0.001)
            w.write(b"0\r\n\r\n")

    async def until_close(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + ANSWER)
        await w.drain()

    async with serve(chunked) as server:
        client = pool(server.url)
        first, second = await client.post(b"{}"), await client.post(b"{}")
        await client.aclose()
    assert first.content == ANSWER == second.content and server.connections == 1
    async with serve(until_close) as server:
        client = pool(server.url)
        assert (await client.post(b"{}")).content == ANSWER
        await client.aclose()


async def test_an_interim_answer_is_skipped() -> None:
    """A 103 Early Hints before the answer (as CDNs send) is not the answer."""

    async def hints(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while await read_request(r, s) is not None:
            w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n")
            w.write(response(headers="x-request-id: req-2\r\n"))
            await w.drain()

    async with serve(hints) as server:
        client = pool(server.url)
        first, second = await client.post(b"{}"), await client.post(b"{}")
        await client.aclose()
    assert first.status_code == second.status_code == 200 and first.content == ANSWER
    assert first.headers.get("X-Request-ID") == "req-2" and server.connections == 1


async def test_gzip_answer_is_decoded() -> None:
    async def zipped(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(response(body=gzip.compress(ANSWER), headers="Content-Encoding: gzip\r\n"))
        await w.drain()

    async with serve(zipped) as server:
        client = pool(server.url)
        assert (await client.post(b"{}")).content == ANSWER
        await client.aclose()
    assert b"Accept-Encoding" not in server.requests[0]  # only the headers it was given


async def test_silent_server_times_out_and_the_connection_is_not_reused() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        await asyncio.sleep(5)

    async with serve(silent) as server:
        client = pool(server.url, read_timeout=0.2)
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await client.post(b"{}")
        assert asyncio.get_running_loop().time() - started < 1.0
        with pytest.raises(TimeoutError):
            await client.post(b"{}")
        await client.aclose()
    assert server.connections == 2


async def test_transport_reads_a_429_with_its_headers() -> None:
    """A 429 through the transport: retry advice, request id and limits reach the caller."""

    async def refuse(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while await read_request(r, s) is not None:
            body = orjson.dumps({"error": {"message": "slow down", "code": "rate_limit_exceeded"}})
            headers = (
                "retry-after-ms: 250\r\nx-request-id: req-429\r\n"
                "x-ratelimit-limit-requests: 600\r\nx-ratelimit-remaining-requests: 0\r\n"
            )
            w.write(response(429, body, headers))
            await w.drain()

    async with serve(refuse) as server, transport(server.url) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.chat(chat())
        snapshot = client.stats.snapshot()
    assert caught.value.retry_after == pytest.approx(0.25)
    assert caught.value.request_id == "req-429" and "slow down" in str(caught.value)
    assert snapshot["rpm_limit"] == 600
    assert b"X-Asyncgen-Kind: complete\r\n" in server.requests[0]


async def test_transport_maps_timeouts_and_garbage() -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        await asyncio.sleep(5)

    async def garbage(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(b"NOT HTTP AT ALL\r\n\r\n")
        await w.drain()
        await asyncio.sleep(1)

    async with serve(silent) as server, transport(server.url) as client:
        with pytest.raises(LLMTimeoutError):
            await client.chat(chat())
    async with serve(garbage) as server, transport(server.url) as client:
        with pytest.raises(LLMConnectionError, match="malformed HTTP"):
            await client.chat(chat())


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (nothing downloaded)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_with_a_trusted_certificate_and_a_refused_one(tmp_path: Path) -> None:
    """https: answers over TLS on a kept-alive connection; an untrusted certificate is an
    `ssl.SSLError` (an OSError: the transport's connection error), never plain text."""
    cert, key = _self_signed(tmp_path)
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    state = Server()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await keep_alive(reader, writer, state)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=server_side)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"
    try:
        trusting = ssl.create_default_context(cafile=str(cert))
        client = Http1Pool(url, {}, size=2, ssl_context=trusting)
        answers = [await client.post(b"{}") for _ in range(3)]
        await client.aclose()
        assert [a.content for a in answers] == [ANSWER] * 3 and state.connections == 1
        stranger = Http1Pool(url, {}, size=1, ssl_context=ssl.create_default_context())
        with pytest.raises(ssl.SSLCertVerificationError):
            await stranger.post(b"{}")
        await stranger.aclose()
    finally:
        server.close()


async def test_one_lookup_for_many_connections_and_the_answering_address_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host name is looked up once for every connection the pool opens; an address that
    refuses is passed over, and the one that answered is tried first from then on."""
    async with serve(keep_alive) as server:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            refused = spare.getsockname()[1]  # closed again: connecting is refused
        loop = asyncio.get_running_loop()
        lookups: list[str] = []
        tried: list[int] = []

        async def getaddrinfo(host: str, port_: int, **kwargs: object) -> list[object]:
            lookups.append(host)
            await asyncio.sleep(0.01)
            tcp = socket.SOCK_STREAM
            return [
                (socket.AF_INET, tcp, 6, "", ("127.0.0.1", refused)),
                (socket.AF_INET, tcp, 6, "", ("127.0.0.1", port)),
            ]

        connect = loop.create_connection

        async def create_connection(factory: Any, host: str, port_: int, **kw: Any) -> Any:
            tried.append(port_)
            return await connect(factory, host, port_, **kw)

        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(loop, "create_connection", create_connection)
        client = Http1Pool("http://llm.test/v1/chat/completions", {}, size=4)
        await asyncio.gather(*(client.post(b"{}") for _ in range(4)))
        opened = len(tried)
        client._idle.clear()  # force one more connection
        await client.post(b"{}")
        await client.aclose()
    assert lookups == ["llm.test"]
    assert tried[:opened].count(refused) >= 1 and tried[opened:] == [port]
    assert b"Host: llm.test\r\n" in server.requests[0]


def test_unsafe_header_values_are_refused() -> None:
    with pytest.raises(ValueError):
        header_line("X-Kind", "a\r\nInjected: 1")
    with pytest.raises(ValueError):
        Http1Pool("http://127.0.0.1:1/v1", {"Bad Name": "v"}, size=1)


@pytest.mark.parametrize("backend", ["native", "aiohttp"])
async def test_a_proxy_from_the_environment_carries_the_requests(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """HTTP_PROXY is honoured: the endpoint's host does not even resolve, the proxy answers."""

    async def proxy(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while await read_request(r, s) is not None:
            w.write(response(headers="x-request-id: via-proxy\r\n"))
            await w.drain()

    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with serve(proxy) as server:
        monkeypatch.setenv("HTTP_PROXY", server.url.removesuffix("/v1"))
        settings = LLMSettings.model_validate(
            {"provider": "compatible", "base_url": "http://llm.invalid/v1", "model": "m1"}
            | {"http_backend": backend}
        )
        async with Transport.from_settings(settings, api_key="k", max_retries=0) as client:
            result = await client.chat(chat())
    assert result.content == "hi"
    assert server.requests[0].startswith(b"POST http://llm.invalid/v1/chat/completions HTTP/1.1")


async def test_a_proxy_in_the_environment_sends_through_httpx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpx honours HTTP(S)_PROXY/NO_PROXY; the native client does not, so it steps aside."""
    settings = LLMSettings.model_validate({"provider": "compatible", "base_url": "http://h/v1"})
    assert Connection(settings, "http://h/v1/chat/completions", api_key=None).native
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    connection = Connection(settings, "http://h/v1/chat/completions", api_key=None)
    assert not connection.native
    await connection.aclose()
