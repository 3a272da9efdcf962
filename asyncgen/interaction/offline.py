"""An in-process `ChatClient` answering with the simulator's responders (no sockets).

For unit tests and offline dry runs of the loop: the same answers the simulator gives,
seeded by the request, with optional per-kind overrides to script a misbehaving model.
Integration tests use the real simulator over HTTP instead.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from asyncgen.llm.types import ChatRequest, ChatResult, ClientBase, ModelHandle
from asyncgen.sim.responders import SimRequest, get_responder

Script = Callable[[ChatRequest, int], str]


@dataclass
class LocalResponderClient(ClientBase):
    """Answers each request with `get_responder(kind)`; records every call it saw (it
    bills and counts nothing: `ClientBase`'s accounting)."""

    seed: int = 0
    malformed_rate: float = 0.0
    scripts: dict[str, Script] = field(default_factory=dict)
    calls: list[tuple[ChatRequest, ModelHandle | None]] = field(default_factory=list)

    async def chat(self, request: ChatRequest, handle: ModelHandle | None = None) -> ChatResult:
        """The responder's answer for this request (or the kind's script)."""
        self.calls.append((request, handle))
        model = handle.model if handle else "sim-model"
        script = self.scripts.get(request.kind)
        if script is not None:
            seen = sum(1 for r, _ in self.calls if r.kind == request.kind)
            text = script(request, seen)
        else:
            text = get_responder(request.kind)(self._sim_request(request, model))
        return ChatResult(
            content=text,
            model=model,
            provider=handle.provider if handle else "simulator",
            finish_reason="stop",
            prompt_tokens=sum(len(m["content"]) // 4 for m in request.messages),
            completion_tokens=len(text) // 4,
            latency=0.0,
        )

    def kinds(self) -> list[str]:
        """The kind of every call, in order."""
        return [r.kind for r, _ in self.calls]

    def _sim_request(self, request: ChatRequest, model: str) -> SimRequest:
        payload = orjson.dumps([self.seed, request.kind, request.messages])
        key = int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "little")
        return SimRequest(
            kind=request.kind,
            messages=list(request.messages),
            model=model,
            max_tokens=request.max_tokens,
            rng=random.Random(key),
            malformed_rate=self.malformed_rate,
        )
