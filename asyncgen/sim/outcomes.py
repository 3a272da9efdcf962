"""What a drawn fault answers: status errors, Cloudflare pages, mid-stream error events.

Status faults answer in the profile's error shape (``asyncgen.sim.error_shapes``):

- ``error_500``, ``error_503``: OpenAI's server_error messages.
- ``insufficient_quota``: 429 with OpenAI's quota body (type and code
  ``insufficient_quota``); the key stays spent until ``POST /sim/reset``: waiting never
  clears it, as with a real exhausted quota.
- ``overloaded_529``: Anthropic's 529 ``overloaded_error``.
- ``timeout_408``: 408, the server gave up waiting.
- ``cloudflare_502/520/522/524``: the HTML error page Cloudflare serves in front of an API
  (``text/html``, the title names host, status and cause), not JSON.
- ``error_in_200``: HTTP 200 whose body is an error object (OpenRouter relays upstream
  failures so).

Mid-stream errors (``stream_error``) follow the profile's provider: OpenAI sends a
``data: {"error": {...}}`` event; OpenRouter a chunk with an ``error`` field and
``finish_reason: "error"``; Anthropic an ``event: error`` with its error object. The
stream then ends without ``[DONE]``.
"""

from __future__ import annotations

from typing import Any

import orjson

from asyncgen.sim.wire import StreamIds, chunk_body

__all__ = [
    "CLOUDFLARE",
    "QUOTA_MESSAGE",
    "STATUS_FAULTS",
    "cloudflare_page",
    "stream_error_events",
]

QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
# fault -> (status, message, OpenAI type, code)
STATUS_FAULTS: dict[str, tuple[int, str, str, str | None]] = {
    "error_500": (
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    "error_503": (
        503,
        "The engine is currently overloaded, please try again later.",
        "server_error",
        None,
    ),
    "insufficient_quota": (429, QUOTA_MESSAGE, "insufficient_quota", "insufficient_quota"),
    "overloaded_529": (529, "Overloaded", "overloaded_error", None),
    "timeout_408": (408, "Request timed out.", "timeout_error", None),
    "error_in_200": (502, "Provider returned error", "server_error", None),
}
CLOUDFLARE: dict[str, tuple[int, str]] = {
    "cloudflare_502": (502, "Bad gateway"),
    "cloudflare_520": (520, "Web server is returning an unknown error"),
    "cloudflare_522": (522, "Connection timed out"),
    "cloudflare_524": (524, "A timeout occurred"),
}
_STREAM_ERROR_MESSAGE = "The server had an error while processing your request. Sorry about that!"


def cloudflare_page(status: int, cause: str, host: str) -> bytes:
    """Cloudflare's error page for `status`, as a browser (or a client) receives it."""
    return f"""<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<html class="no-js" lang="en-US">
<head>
<title>{host} | {status}: {cause}</title>
<meta charset="UTF-8" />
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
</head>
<body>
<div id="cf-wrapper">
<div id="cf-error-details" class="cf-error-details-wrapper">
<h1><span class="cf-error-type">Error</span> <span class="cf-error-code">{status}</span></h1>
<h2 class="cf-subheadline">{cause}</h2>
<p>Cloudflare Ray ID: <strong>8f0sim{status}asyncgen</strong> &bull; Performance &amp; security
by Cloudflare</p>
</div>
</div>
</body>
</html>
""".encode()


def stream_error_events(style: str, ids: StreamIds) -> list[bytes]:
    """The events that end a stream with an error, in the provider's form."""
    if style == "anthropic":
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return [b"event: error\ndata: " + orjson.dumps(error) + b"\n\n"]
    if style == "openrouter":
        extra: dict[str, Any] = {
            "provider": "sim-upstream",
            "error": {"code": 502, "message": "Provider returned error"},
        }
        return [chunk_body(ids, delta={"content": ""}, finish_reason="error", extra=extra)]
    error = {
        "error": {
            "message": _STREAM_ERROR_MESSAGE,
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    return [b"data: " + orjson.dumps(error) + b"\n\n"]
