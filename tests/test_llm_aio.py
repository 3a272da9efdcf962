"""Whole-body answers on each HTTP backend (native, aiohttp) against a real server on a socket."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable, Iterator

import orjson
import pytest
from aiohttp import web

from asyncgen.config import LLMSettings
from asyncgen.errors import LLMConnectionError
from asyncgen.llm import ChatRequest, Transport, set_testing

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ANSWER = {
    "id": "chatcmpl-1",
    "model": "m1",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


async def serve(handler: Handler) -> tuple[web.AppRunner, str]:
    """An aiohttp server on a free loopback port answering POST /v1/chat/completions."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/v1"


BACKENDS = pytest.mark.parametrize("backend", ["native", "aiohttp"])


def transport(base_url: str, backend: str) -> Transport:
    settings = LLMSettings.model_validate(
        {"provider": "compatible", "base_url": base_url, "model": "m1", "http_backend": backend}
    )
    return Transport.from_settings(settings, api_key="sk-test", max_retries=0)


@BACKENDS
async def test_gzip_answer_is_decoded(backend: str) -> None:
    """Providers compress answers when asked (both backends ask): the body is decoded."""
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        body = gzip.compress(orjson.dumps(ANSWER))
        headers = {"Content-Encoding": "gzip", "x-ratelimit-limit-requests": "600"}
        return web.Response(body=body, content_type="application/json", headers=headers)

    runner, url = await serve(handler)
    try:
        async with transport(url, backend) as client:
            result = await client.chat(ChatRequest(messages=[{"role": "user", "content": "q"}]))
            snapshot = client.stats.snapshot()
    finally:
        await runner.cleanup()
    assert result.content == "hi" and result.completion_tokens == 1
    assert seen["Authorization"] == "Bearer sk-test" and "gzip" in seen["Accept-Encoding"]
    assert snapshot["rpm_limit"] == 600  # headers read from the whole-body response


@BACKENDS
async def test_dropped_connection_is_a_connection_error(backend: str) -> None:
    """A server that hangs up without answering gives a connection error, not a hang."""

    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response(text="never sent")

    runner, url = await serve(handler)
    try:
        async with transport(url, backend) as client:
            with pytest.raises(LLMConnectionError):
                await client.chat(ChatRequest(messages=[{"role": "user", "content": "q"}]))
    finally:
        await runner.cleanup()
