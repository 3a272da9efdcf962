"""The simulator's answers, by prompt kind.

Each prompt template in `prompts/` declares a kind; the transport sends it in the
``X-Asyncgen-Kind`` header; the simulator looks the kind up here and answers in the format
that kind's parser expects. Unknown kinds get generic prose.

A responder module registers its kinds with `@responder("kind")`; modules are imported
once, lazily, by `get_responder`.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RESPONDER_MODULES = (
    "asyncgen.sim.responders.generic",
    "asyncgen.sim.responders.interaction",
    "asyncgen.sim.responders.dialogue",
    "asyncgen.sim.responders.judge",
    "asyncgen.sim.responders.quality_judge",
)
GENERIC_KIND = "generic"


@dataclass
class SimRequest:
    """What a responder sees of one chat-completions request."""

    kind: str
    messages: list[dict[str, Any]]
    model: str
    max_tokens: int | None
    rng: random.Random
    malformed_rate: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    contradiction_rate: float = 0.0  # user follow-ups that contradict the persona

    @property
    def system(self) -> str:
        """The first system message, or ''."""
        return next(
            (str(m.get("content", "")) for m in self.messages if m.get("role") == "system"), ""
        )

    @property
    def last_user(self) -> str:
        """The last user message, or ''."""
        users = [str(m.get("content", "")) for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""


Responder = Callable[[SimRequest], str]
_REGISTRY: dict[str, Responder] = {}
_loaded = False


def responder(kind: str) -> Callable[[Responder], Responder]:
    """Register a function as the simulator's answer to prompts of `kind`."""

    def decorate(func: Responder) -> Responder:
        _REGISTRY[kind] = func
        return func

    return decorate


def get_responder(kind: str) -> Responder:
    """The responder for `kind`, falling back to generic prose."""
    _load_builtin()
    return _REGISTRY.get(kind) or _REGISTRY[GENERIC_KIND]


def known_kinds() -> list[str]:
    """Every kind the simulator answers specifically."""
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    for module in RESPONDER_MODULES:
        importlib.import_module(module)
    _loaded = True
