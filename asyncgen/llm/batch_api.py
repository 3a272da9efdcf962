"""The Batch API over HTTP: upload a file, create/retrieve/list/cancel batches, download.

Shapes as OpenAI documents them (also served by Azure OpenAI, Groq, Together and the
simulator). Transient failures (connection, timeout, 408/409/429/5xx) are retried with
backoff here, since losing a poll or a download must never lose a paid batch; other
statuses raise the transport's `LLMStatusError` with the provider's message.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from asyncgen import offload
from asyncgen.config.llm import TimeoutSettings
from asyncgen.errors import LLMError, LLMStatusError, RequestInfo
from asyncgen.jsontypes import JsonObject
from asyncgen.llm import wire
from asyncgen.llm.retry import RETRYABLE_STATUS

Sleep = Callable[[float], Awaitable[None]]

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
UPLOAD_CHUNK = 1 << 20  # bytes read from the input file per step of a streamed upload
DOWNLOAD_CHUNK = 1 << 20
STATES = ("validating", "in_progress", "finalizing", "cancelling", *sorted(TERMINAL))


class BatchAPI:
    """One endpoint's `/files` and `/batches`, with a key; transient errors retried."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeouts: TimeoutSettings,
        *,
        attempts: int = 8,
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(
            connect=timeouts.connect,
            read=timeouts.read,
            write=max(timeouts.write, 300.0),
            pool=timeouts.pool,
        )
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=http_transport
        )
        self._attempts = attempts
        self._sleep = sleep
        self._rng = random.Random()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def upload(self, path: Path) -> str:
        """Upload a JSONL input file with purpose `batch`, streamed from disk; its file id.

        The multipart body is built around the file's chunks as they are read (off the
        loop), so a 200 MB input never sits in memory.
        """
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: application/jsonl\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = (await offload.to_thread(path.stat)).st_size
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
        }

        async def body() -> AsyncIterator[bytes]:
            yield head
            handle = await offload.to_thread(path.open, "rb")
            try:
                while chunk := await offload.to_thread(handle.read, UPLOAD_CHUNK):
                    yield chunk
            finally:
                await offload.to_thread(handle.close)
            yield tail

        response = await self._send("POST", "/files", headers=headers, content=body)
        return str(response["id"])

    async def create(self, file_id: str, window: str, metadata: dict[str, str]) -> JsonObject:
        """Create a chat-completions batch over an uploaded file."""
        body = {
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": window,
            "metadata": metadata,
        }
        return await self._send("POST", "/batches", json=body)

    async def retrieve(self, batch_id: str) -> JsonObject:
        """The batch object now."""
        return await self._send("GET", f"/batches/{batch_id}")

    async def cancel(self, batch_id: str) -> JsonObject:
        """Ask the provider to cancel; finished requests stay in the output file."""
        return await self._send("POST", f"/batches/{batch_id}/cancel")

    async def list_all(self, page_size: int = 100) -> AsyncIterator[JsonObject]:
        """Every batch of the account, newest first, page by page."""
        after: str | None = None
        while True:
            params: JsonObject = {"limit": page_size}
            if after:
                params["after"] = after
            page = await self._send("GET", "/batches", params=params)
            data = page.get("data") or []
            for batch in data:
                yield batch
            if not page.get("has_more") or not data:
                return
            after = data[-1]["id"]

    async def find(self, metadata: dict[str, str], since: float) -> JsonObject | None:
        """The newest batch whose metadata holds every pair of `metadata`.

        Listing stops at batches created before `since` (unix seconds), so a resume does
        not page through an account's whole history.
        """
        async for batch in self.list_all():
            if int(batch.get("created_at") or 0) < since:
                return None
            found = batch.get("metadata") or {}
            if all(found.get(k) == v for k, v in metadata.items()):
                return batch
        return None

    async def download(self, file_id: str, path: Path) -> Path:
        """Save a file's content at `path`, streamed to disk chunk by chunk (temp, fsync,
        rename; written off the loop), so an output file never sits in memory whole."""
        temp = path.with_name(f".{path.name}.tmp")
        call = f"GET /files/{file_id}/content"
        info: RequestInfo = {"base_url": self.base_url, "model": None, "call": call}

        async def attempt() -> None:
            handle = await offload.to_thread(temp.open, "wb")
            try:
                async with self._client.stream("GET", f"/files/{file_id}/content") as response:
                    if response.status_code >= 300:
                        await response.aread()
                        raise wire.status_error(response, info=info, key_env=None)
                    async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
                        await offload.to_thread(handle.write, chunk)
                await offload.to_thread(_sync_close, handle)
            except BaseException:
                await offload.to_thread(handle.close)
                raise
            await offload.to_thread(os.replace, temp, path)

        await self._retried(attempt, info)
        return path

    # -- one request, retried while the failure is transient -------------------------

    async def _send(self, method: str, url: str, **kwargs: Any) -> JsonObject:
        content = await self._raw(method, url, **kwargs)
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise LLMError(f"{method} {url}: the Batch API answered non-JSON") from exc
        if not isinstance(data, dict):
            raise LLMError(f"{method} {url}: the Batch API answered {type(data).__name__}")
        return data

    async def _raw(self, method: str, url: str, **kwargs: Any) -> bytes:
        info: RequestInfo = {"base_url": self.base_url, "model": None, "call": f"{method} {url}"}
        content = b""

        async def attempt() -> None:
            nonlocal content
            call = dict(kwargs)
            if callable(call.get("content")):  # a streamed body: a fresh stream per attempt
                call["content"] = call["content"]()
            response = await self._client.request(method, url, **call)
            if response.status_code >= 300:
                raise wire.status_error(response, info=info, key_env=None)
            content = response.content

        await self._retried(attempt, info)
        return content

    async def _retried(self, attempt: Callable[[], Awaitable[None]], info: RequestInfo) -> None:
        """Run `attempt` until it succeeds; transient failures are retried with backoff."""
        tries = 0
        while True:
            tries += 1
            try:
                await attempt()
                return
            except wire.transport_exceptions() as exc:
                error: LLMError = wire.transport_error(exc, info=info)
                if tries >= self._attempts:
                    raise error from exc
            except LLMStatusError as exc:
                if exc.status_code not in RETRYABLE_STATUS or tries >= self._attempts:
                    raise
            await self._sleep(min(30.0, 0.5 * 2 ** (tries - 1)) * (0.5 + self._rng.random()))


def provider_error(status: int, body: Any, info: RequestInfo) -> LLMStatusError:
    """The error a batch error line means, as the online call would have raised it."""
    response = httpx.Response(status, content=orjson.dumps(body))
    return wire.status_error(response, info=info, key_env=None)


def _sync_close(handle: Any) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
