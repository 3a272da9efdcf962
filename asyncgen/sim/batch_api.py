"""The simulator's Batch API routes: `/v1/files` and `/v1/batches`, as OpenAI documents them.

    POST   /v1/files                    multipart upload (file, purpose)
    GET    /v1/files[/{id}]             list / retrieve
    GET    /v1/files/{id}/content       download
    DELETE /v1/files/{id}
    POST   /v1/batches                  {input_file_id, endpoint, completion_window, metadata}
    GET    /v1/batches[?after&limit]    newest first, with first_id/last_id/has_more
    GET    /v1/batches/{id}
    POST   /v1/batches/{id}/cancel

`SimApp` hands every request under those prefixes to `BatchRoutes.handle`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from asyncgen import offload
from asyncgen.sim.batch_files import FileStore, UploadError
from asyncgen.sim.batch_jobs import ENDPOINTS, AnswerSource, SimBatches
from asyncgen.sim.wire import JSON_HEADERS, error_body

__all__ = ["PREFIXES", "BatchRoutes"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PREFIXES = ("/v1/files", "/v1/batches")
_WINDOWS = ("24h",)
_MAX_METADATA = 16


class BatchRoutes:
    """Files and batches for one simulator."""

    def __init__(
        self,
        app: AnswerSource,
        authorize: Callable[[Scope], str | None],
        unauthorized: Callable[[Scope, Send], Awaitable[None]],
    ) -> None:
        self.app = app
        self.authorize = authorize
        self.unauthorized = unauthorized
        self.files = FileStore()
        self.batches = SimBatches(app, app.settings.batch, self.files)

    async def aclose(self) -> None:
        """Stop batch work and remove the files."""
        await self.batches.aclose()
        await offload.to_thread(self.files.close)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one request under /v1/files or /v1/batches (auth first, as online)."""
        if self.authorize(scope) is None:
            await self.unauthorized(scope, send)
            return
        method = scope["method"]
        parts = scope["path"].rstrip("/").split("/")[2:]  # ["files", id?, "content"?]
        if parts == ["files"] and method == "POST":  # an upload: streamed to disk
            await self._upload(scope, receive, send)
            return
        body = await _read(receive) if method == "POST" else b""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if parts[0] == "files":
            await self._files(method, parts[1:], body, send)
        else:
            await self._batches(method, parts[1:], body, query, send)

    # -- files -----------------------------------------------------------------------

    async def _files(self, method: str, rest: list[str], body: bytes, send: Send) -> None:
        if method == "GET" and not rest:
            data = [f.to_dict() for f in self.files.files.values()]
            await _ok(send, {"object": "list", "data": data, "has_more": False})
            return
        entry = self.files.files.get(rest[0]) if rest else None
        if entry is None:
            await _missing(send, "file", rest[0] if rest else "")
        elif method == "GET" and rest[1:] == ["content"]:
            headers = [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(entry.size).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for chunk in self.files.chunks(entry.id):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        elif method == "GET" and len(rest) == 1:
            await _ok(send, entry.to_dict())
        elif method == "DELETE" and len(rest) == 1:
            self.files.delete(entry.id)
            await _ok(send, {"id": entry.id, "object": "file", "deleted": True})
        else:
            await _bad(send, f"Unsupported request: {method} /v1/files/{'/'.join(rest)}")

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
        try:
            entry = await self.files.receive(content_type, _chunks(receive))
        except UploadError as exc:
            await _bad(send, str(exc), exc.param)
            return
        if entry.purpose not in ("batch", "fine-tune", "assistants", "user_data"):
            self.files.delete(entry.id)
            await _bad(send, f"Invalid purpose {entry.purpose!r}.", "purpose")
            return
        await _ok(send, entry.to_dict())

    # -- batches ---------------------------------------------------------------------

    async def _batches(
        self, method: str, rest: list[str], body: bytes, query: dict[str, list[str]], send: Send
    ) -> None:
        if method == "POST" and not rest:
            await self._create(body, send)
            return
        if method == "GET" and not rest:
            await self._list(query, send)
            return
        batch = self.batches.batches.get(rest[0]) if rest else None
        if batch is None:
            await _missing(send, "batch", rest[0] if rest else "")
        elif method == "GET" and len(rest) == 1:
            await _ok(send, batch.to_dict())
        elif method == "POST" and rest[1:] == ["cancel"]:
            self.batches.request_cancel(batch)
            await _ok(send, batch.to_dict())
        else:
            await _bad(send, f"Unsupported request: {method} /v1/batches/{'/'.join(rest)}")

    async def _create(self, body: bytes, send: Send) -> None:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            await _bad(send, "We could not parse the JSON body of your request.")
            return
        if not isinstance(payload, dict):
            await _bad(send, "The request body must be a JSON object.")
            return
        file_id = payload.get("input_file_id")
        endpoint = payload.get("endpoint")
        window = payload.get("completion_window")
        metadata = payload.get("metadata")
        entry = self.files.files.get(file_id) if isinstance(file_id, str) else None
        problem = None
        if entry is None:
            problem = (f"No such File object: {file_id}", "input_file_id")
        elif entry.purpose != "batch":
            problem = ("The input file must be uploaded with purpose 'batch'.", "input_file_id")
        elif endpoint not in ENDPOINTS:
            problem = (f"Unsupported endpoint {endpoint!r}.", "endpoint")
        elif window not in _WINDOWS:
            problem = ("completion_window must be '24h'.", "completion_window")
        elif metadata is not None and not _valid_metadata(metadata):
            problem = ("metadata: at most 16 string pairs (keys 64, values 512).", "metadata")
        if problem is not None:
            await _bad(send, *problem)
            return
        assert isinstance(file_id, str) and isinstance(endpoint, str) and isinstance(window, str)
        batch = self.batches.create(file_id, endpoint, window, metadata)
        await _ok(send, batch.to_dict())

    async def _list(self, query: dict[str, list[str]], send: Send) -> None:
        after = query.get("after", [None])[0]
        try:
            limit = max(1, min(100, int(query.get("limit", ["20"])[0] or 20)))
        except ValueError:
            await _bad(send, "limit must be an integer", "limit")
            return
        page, more = self.batches.listing(after, limit)
        data = [b.to_dict() for b in page]
        await _ok(
            send,
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": more,
            },
        )


def _valid_metadata(metadata: Any) -> bool:
    if not isinstance(metadata, dict) or len(metadata) > _MAX_METADATA:
        return False
    return all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
        for k, v in metadata.items()
    )


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """A request body as it arrives."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_json(send: Send, status: int, body: bytes) -> None:
    """One complete JSON response (as `sim.reply.send_json`, which imports the app)."""
    headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _ok(send: Send, payload: dict[str, Any]) -> None:
    await send_json(send, 200, orjson.dumps(payload))


async def _bad(send: Send, message: str, param: str | None = None) -> None:
    await send_json(send, 400, error_body(message, "invalid_request_error", None, param))


async def _missing(send: Send, what: str, ident: str) -> None:
    message = f"No such {what}: {ident!r}"
    await send_json(send, 404, error_body(message, "invalid_request_error", None))
