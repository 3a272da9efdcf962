"""Every fault kind and every algorithm under every profile, through the ASGI app in-process.

The socket tests read each outcome with the SDK; this matrix checks that nothing breaks in
any combination: each answer has a status, the request id, and a body in the profile's
shape (JSON, an SSE stream, or a Cloudflare page).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from asyncgen.config import SimSettings
from asyncgen.sim.app import TRANSPORT_SCOPE_KEY, SimApp
from asyncgen.sim.faults import FAULT_KINDS
from asyncgen.sim.profiles import PROFILES
from asyncgen.sim.ratelimit import ALGORITHMS

BODY = {"model": "m", "messages": [{"role": "user", "content": "Which trains run to Bath?"}]}


class _Transport:
    """Stands in for the socket a dropped-connection fault aborts."""

    aborted = False

    def abort(self) -> None:
        self.aborted = True


async def _call(app: SimApp, body: dict[str, Any]) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, Any]] = []
    raw = orjson.dumps(body)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", b"Bearer k")],
        TRANSPORT_SCOPE_KEY: _Transport(),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if not sent:  # a dropped connection sends nothing
        return 0, {}, b""
    start = sent[0]
    body_bytes = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body_bytes


def _check(status: int, headers: dict[bytes, bytes], body: bytes, stream: bool) -> None:
    if status == 0:
        return
    assert headers[b"x-request-id"].startswith(b"req_sim")
    kind = headers[b"content-type"]
    if kind.startswith(b"text/html"):
        assert b"<title>" in body and status >= 500
    elif kind == b"text/event-stream":
        assert status == 200 and body.startswith(b"data: ")
    elif status == 200 and not stream:
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            assert len(body) > 0  # malformed_json: half a body, on purpose
    else:
        orjson.loads(body)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_fault_under_every_profile(profile: str) -> None:
    """Each fault kind at rate 1, whole and streamed, answers in the profile's forms."""

    async def run() -> None:
        for fault in FAULT_KINDS:
            settings = SimSettings(
                profile=profile, faults={fault: 1.0, "slow_first_byte_seconds": 0.0}
            )
            app = SimApp(settings)
            for stream in (False, True):
                body = {**BODY, "stream": stream}
                if stream:
                    body["stream_options"] = {"include_usage": True}
                for _ in range(2):  # a spent quota answers again without a draw
                    _check(*await _call(app, body), stream)

    asyncio.run(run())


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_algorithm_under_every_profile(profile: str, algorithm: str) -> None:
    """Each algorithm under each profile admits, then refuses with a parseable 429."""
    limits: dict[str, Any] = {"tpm": 600}
    if algorithm == "concurrency":
        limits = {"concurrency_limit": 1}
    elif algorithm == "daily":
        limits.update(rpd=2, rpm=60)  # a per-minute requests bucket no dialect names
    else:
        limits["rpm"] = 2
    app = SimApp(SimSettings(profile=profile, limiter=algorithm, **limits))
    assert app.limiter.algorithm == algorithm

    async def run() -> list[int]:
        statuses = []
        for _ in range(4):
            status, headers, body = await _call(app, {**BODY, "max_tokens": 20})
            _check(status, headers, body, False)
            statuses.append(status)
        return statuses

    statuses = asyncio.run(run())
    if algorithm == "concurrency":  # sequential calls each give their slot back
        assert statuses == [200] * 4
    else:
        assert statuses[0] == 200 and 429 in statuses
