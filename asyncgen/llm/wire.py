"""The OpenAI chat-completions wire format, and the one place lower-layer errors become ours.

Everything that knows about HTTP status codes, JSON bodies, httpx or aiohttp exceptions
lives here; the rest of the transport sees `ChatRequest`, `Completion` and `LLMError`.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from asyncgen.errors import (
    LLMConnectionError,
    LLMError,
    LLMStatusError,
    LLMTimeoutError,
    RateLimitError,
    RequestInfo,
    ServerError,
)
from asyncgen.jsontypes import JsonObject
from asyncgen.llm.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthError,
    EmptyAnswerError,
    LimitExhaustedError,
    MalformedAnswerError,
    ProviderError,
    QuotaExhaustedError,
    RefusalError,
    ToolCallsError,
    TruncatedAnswerError,
)
from asyncgen.llm.headers import limit_headers, long_retry_after, parse_retry_after
from asyncgen.llm.http1 import BodyDecodingError
from asyncgen.llm.types import ChatRequest, ModelHandle

if TYPE_CHECKING:
    from asyncgen.llm.client import HttpAnswer

_SAMPLING = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context window")
_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "billing_not_active",
        "insufficient_credits",
        "payment_required",
        "credit_balance_too_low",
    }
)
_QUOTA_MARKERS = (
    "exceeded your current quota",
    "insufficient credits",
    "credit balance is too low",
    "billing",
)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)


@dataclass(frozen=True)
class Completion:
    """The parts of a chat-completions body the transport uses."""

    content: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    model: str | None
    request_id: str | None
    raw: JsonObject
    cached_tokens: int = 0
    has_usage: bool = True


def build_body(request: ChatRequest, handle: ModelHandle) -> JsonObject:
    """The JSON body: request fields first, the handle's drawn sampling values fill the gaps.

    A request with a `body` (``complete``: the user's line) goes out as written, with
    only `model` set from the handle when the line named none or `--model` overrides it.
    """
    if request.body is not None:
        sent = dict(request.body)
        sent["model"] = handle.model
        return sent
    body: JsonObject = {"model": handle.model, "messages": request.messages}
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    for name in _SAMPLING:
        value = getattr(request, name)
        if value is None:
            value = getattr(handle, name)
        if value is not None:
            body[name] = value
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if request.extra_body:
        body.update(request.extra_body)
    return body


def encode(body: JsonObject) -> bytes:
    """Serialise a request body with orjson."""
    return orjson.dumps(body)


def parse_completion(
    content: bytes, *, require_complete: bool, info: RequestInfo, wants_tools: bool = False
) -> Completion:
    """Decode a 200 body into a `Completion`.

    Raises:
        ProviderError: the body is an error object (HTTP 200 with ``{"error": …}``).
        ContentFilterError, RefusalError, ToolCallsError: the provider answered, but not
            with the text asked for (tool calls are an answer when `wants_tools`).
        MalformedAnswerError: not JSON, or not the chat-completions shape.
        EmptyAnswerError: no text in the first choice.
        TruncatedAnswerError: finish_reason "length" while `require_complete`.
    """
    data: Any = None
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise MalformedAnswerError(
            "the endpoint returned a body that is not JSON", raw=_snippet(content), request=info
        ) from exc
    return completion_of(
        data, require_complete=require_complete, info=info, wants_tools=wants_tools, raw=content
    )


def completion_of(
    data: Any,
    *,
    require_complete: bool,
    info: RequestInfo,
    wants_tools: bool = False,
    raw: bytes | None = None,
) -> Completion:
    """As `parse_completion`, from a body already decoded (a batch output line's `body`:
    encoding it again only to decode it was a measurable share of a round's resolve).

    `raw`, when given, is the body's bytes for error snippets; else they are re-encoded.
    """

    def snippet() -> str:  # only an error needs the body's bytes
        return _snippet(raw if raw is not None else orjson.dumps(data))

    if isinstance(data, dict) and data.get("error") and not data.get("choices"):
        raise _provider_error(data["error"], info, snippet())
    try:
        choice = data["choices"][0]
        message = choice["message"]
        text = message.get("content")
        finish = choice.get("finish_reason")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedAnswerError(
            "the endpoint returned a body that is not a chat completion",
            raw=snippet(),
            request=info,
            usage=usage_of(data) if isinstance(data, dict) and "usage" in data else None,
        ) from exc
    billed = usage_of(data)
    check_answer(message, text, finish, info=info, wants_tools=wants_tools, usage=billed)
    if require_complete and finish == "length":
        raise TruncatedAnswerError(
            "the answer was cut at max_tokens (finish_reason=length)",
            raw=text,
            request=info,
            usage=billed,
        )
    return Completion(
        content=text if isinstance(text, str) else "",
        finish_reason=finish,
        prompt_tokens=billed[0],
        completion_tokens=billed[1],
        model=data.get("model"),
        request_id=data.get("id"),
        raw=data,
        cached_tokens=billed[2],
        has_usage=isinstance(data.get("usage"), dict),
    )


def usage_of(data: Any) -> tuple[int, int, int]:
    """(prompt, completion, cached prompt) tokens from a body's `usage`; zeros when absent."""
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return (0, 0, 0)
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    try:
        return (
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            int(cached or 0),
        )
    except (TypeError, ValueError):
        return (0, 0, 0)


def check_answer(
    message: JsonObject,
    text: Any,
    finish: str | None,
    *,
    info: RequestInfo,
    wants_tools: bool = False,
    usage: tuple[int, int, int] | None = None,
) -> None:
    """Raise when the first choice is not usable text (shared by whole and streamed answers).

    `usage` rides on the error: the provider bills such an answer, so the ledger does too.
    """
    if finish == "content_filter":
        raise ContentFilterError(
            "the provider's content filter withheld the answer (finish_reason=content_filter)",
            raw=text if isinstance(text, str) else None,
            request=info,
            usage=usage,
        )
    refusal = message.get("refusal")
    if refusal:
        raise RefusalError(
            f"the model refused: {str(refusal)[:300]}", raw=str(refusal), request=info, usage=usage
        )
    if message.get("tool_calls") and not (isinstance(text, str) and text.strip()):
        if wants_tools:
            return
        raise ToolCallsError(
            "the model called a tool where text was asked for (finish_reason="
            f"{finish}); no tools were offered",
            raw=orjson.dumps(message.get("tool_calls")).decode()[:500],
            request=info,
            usage=usage,
        )
    if not isinstance(text, str) or not text.strip():
        raise EmptyAnswerError(
            "the endpoint returned an empty answer",
            raw=_snippet(orjson.dumps(message)),
            request=info,
            usage=usage,
        )


def _provider_error(error: Any, info: RequestInfo, raw: str) -> ProviderError:
    message = _server_message({"error": error})
    code = error.get("code") if isinstance(error, dict) else None
    where = info.get("base_url", "the endpoint")
    return ProviderError(
        f"{where} answered 200 with an error (code {code}): {message}",
        code=code,
        raw=raw,
        request=info,
    )


def status_error(response: HttpAnswer, *, info: RequestInfo, key_env: str | None) -> LLMStatusError:
    """Translate an HTTP error status into the tree, with a message that says what to fix.

    Raises:
        QuotaExhaustedError: the account is out of credit (429 insufficient_quota, 402,
            billing errors) or a daily limit is spent: nothing to retry, the run stops.
    """
    code = response.status_code
    body = _json_or_text(response.content, response.headers.get("content-type") or "")
    detail = _server_message(body)
    request_id = response.headers.get("x-request-id")
    common: JsonObject = {
        "status_code": code,
        "body": body,
        "request_id": request_id,
        "request": info,
    }
    where = f"{info.get('base_url', 'the endpoint')} (model {info.get('model')!r})"
    if code == 402 or _is_quota(body):
        var = key_env or "the API key's account"
        raise QuotaExhaustedError(
            f"{where} refused for lack of credit ({_error_code(body) or code}: {detail}): "
            f"add credit or raise the spending limit of the account behind {var}, then "
            "rerun the same command (items not done stay unstarted)",
            request=info,
        )
    if code == 429:
        headers = limit_headers(response.headers.raw)
        long_wait = long_retry_after(headers)
        if long_wait is not None:
            raise LimitExhaustedError(
                f"{where} is out of requests for {long_wait / 3600:.1f} h ({detail}): "
                "rerun the same command then (items not done stay unstarted)",
                request=info,
            )
        retry_after = parse_retry_after(headers, message=detail)
        return RateLimitError(
            f"rate limited (429) by {where}: {detail}", retry_after=retry_after, **common
        )
    if code >= 500:
        return ServerError(f"server error ({code}) from {where}: {detail}", **common)
    if code == 401:
        var = key_env or "the provider's API key variable"
        msg = f"{where} rejected the API key (401): set {var} to a valid key"
        return AuthenticationError(msg, **common)
    if code == 403:
        var = key_env or "the API key"
        return AuthenticationError(
            f"forbidden (403) by {where}: the key in {var} has no access ({detail})", **common
        )
    if code == 404:
        msg = f"not found (404) at {where}: check llm.model / --model and --base-url ({detail})"
        return LLMStatusError(msg, **common)
    if code == 400 and any(m in str(body).lower() for m in _CONTEXT_MARKERS):
        msg = f"prompt too long for {where}: shorten the prompt or lower max_tokens ({detail})"
        return ContextLengthError(msg, **common)
    return LLMStatusError(f"request refused ({code}) by {where}: {detail}", **common)


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            value = err.get("code") or err.get("type")
            return None if value is None else str(value)
    return None


def _is_quota(body: Any) -> bool:
    """insufficient_quota and billing errors: waiting will not clear them."""
    code = _error_code(body)
    if code is not None and code.lower() in _QUOTA_CODES:
        return True
    if isinstance(body, dict):
        err = body.get("error")
        kind = err.get("type") if isinstance(err, dict) else None
        if isinstance(kind, str) and kind.lower() in _QUOTA_CODES:
            return True
        message = _server_message(body).lower()
        return any(marker in message for marker in _QUOTA_MARKERS)
    return False


def transport_error(exc: BaseException, *, info: RequestInfo) -> LLMError:
    """Translate an http1, httpx, aiohttp, asyncio or OS exception; call inside
    ``raise … from exc``."""
    httpx = sys.modules.get("httpx")
    aiohttp = sys.modules.get("aiohttp")
    root = exc
    if httpx is not None and isinstance(exc, httpx.TransportError) and exc.__cause__:
        root = exc.__cause__
    where = info.get("base_url", "the endpoint")
    if isinstance(root, TimeoutError | asyncio.TimeoutError) or (
        httpx is not None and isinstance(root, httpx.TimeoutException)
    ):
        return LLMTimeoutError(f"no answer from {where} within the timeout", request=info)
    if isinstance(exc, BodyDecodingError) or (
        httpx is not None and isinstance(exc, httpx.DecodingError)
    ):
        return MalformedAnswerError(f"undecodable body from {where}: {exc}", request=info)
    reason = type(root).__name__
    if (
        isinstance(root, OSError)
        or (aiohttp is not None and isinstance(root, aiohttp.ClientError))
        or (httpx is not None and isinstance(root, httpx.TransportError))
    ):
        return LLMConnectionError(f"connection to {where} failed ({reason}: {root})", request=info)
    return LLMConnectionError(f"request to {where} failed ({reason}: {root})", request=info)


def transport_exceptions() -> tuple[type[BaseException], ...]:
    """What an HTTP exchange can raise below `LLMError`, for an ``except`` clause.

    httpx's and aiohttp's classes only once loaded: a library never imported raised
    nothing, and importing either costs start-up time a native-client run does not need.
    An ``except transport_exceptions()`` clause calls this only when something is raised.
    """
    found: list[type[BaseException]] = [asyncio.TimeoutError, OSError, BodyDecodingError]
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        found.append(httpx.HTTPError)
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        found.append(aiohttp.ClientError)
    return tuple(found)


def _json_or_text(content: bytes, content_type: str = "") -> Any:
    """The JSON body, or a short text; an HTML page (a proxy's error page) by its title only."""
    head = content[:64].lstrip().lower()
    if "html" in content_type or head.startswith((b"<!doctype html", b"<html")):
        match = _TITLE.search(content[:20000])
        title = match.group(1).decode("utf-8", "replace").strip() if match else ""
        return f"HTML page: {' '.join(title.split())[:120] or 'untitled'}"
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return _snippet(content)


def _server_message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    return str(body)[:300] or "no detail"


def _snippet(content: bytes, limit: int = 500) -> str:
    return content[:limit].decode("utf-8", errors="replace")
