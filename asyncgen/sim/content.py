"""What the simulator answers: the responder for the prompt kind, duplicates, max_tokens.

Every request gets its own RNG derived from (seed, kind, messages), so the same request
gets the same answer whatever order requests arrive in (a resumed run sees the answers it
saw before). `--duplicate-rate` repeats an earlier answer of the same kind. Whether a request
repeats is a pure function of its hash (a share `duplicate_rate` of all requests); those
that do not repeat answer themselves and are remembered in a per-kind bottom-k sample (the
`memory` smallest hashes, a set that depends on which requests were seen, not on their
order); a repeating request gets the first remembered answer at or after a point drawn
from its hash (its own answer while nothing of its kind is remembered yet).
"""

from __future__ import annotations

import bisect
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from asyncgen.sim.responders import SimRequest, get_responder
from asyncgen.tokens import count_tokens, truncate_to_tokens

__all__ = ["Answer", "Answerer"]

_MASK64 = (1 << 64) - 1


@dataclass
class Answer:
    """One answer before faults: text, why it stopped, its size, whether it repeats another."""

    content: str
    finish_reason: str
    completion_tokens: int
    is_duplicate: bool = False


@dataclass
class _Memory:
    """The bottom-k sample of one kind's answers, keyed by request hash."""

    keys: list[int] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict)


class Answerer:
    """Turns a parsed request into seeded, reproducible content."""

    def __init__(
        self,
        *,
        seed: int,
        duplicate_rate: float,
        malformed_rate: float,
        memory: int = 256,
        contradiction_rate: float = 0.0,
    ) -> None:
        self.seed_key = seed.to_bytes(16, "little", signed=True)
        self.duplicate_rate = duplicate_rate
        self.malformed_rate = malformed_rate
        self.contradiction_rate = contradiction_rate
        self.memory = memory
        self._kinds: dict[str, _Memory] = {}

    def request_hash(
        self, kind: str, messages: list[dict[str, Any]], variant: int = 0
    ) -> tuple[int, int]:
        """Two 64-bit values from (seed, kind, messages[, variant]): content and duplicates."""
        key: list[Any] = [kind, messages] if variant == 0 else [kind, messages, variant]
        payload = orjson.dumps(key, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.blake2b(payload, digest_size=16, key=self.seed_key).digest()
        return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")

    def answer(
        self,
        kind: str,
        messages: list[dict[str, Any]],
        *,
        model: str,
        max_tokens: int | None,
        params: dict[str, Any],
        variant: int = 0,
    ) -> Answer:
        """The answer for this request, truncated to `max_tokens` (finish_reason "length").

        `variant` > 0 answers the same request with another seed (choice `variant` of `n`).
        """
        content_key, dup_key = self.request_hash(kind, messages, variant)
        is_repeat = _unit(dup_key) < self.duplicate_rate
        if is_repeat:
            earlier = self._earlier(kind, dup_key)
            if earlier is not None:
                return _fit(earlier, max_tokens, True)
        request = SimRequest(
            kind=kind,
            messages=messages,
            model=model,
            max_tokens=max_tokens,
            rng=random.Random(content_key),
            malformed_rate=self.malformed_rate,
            params=params,
            contradiction_rate=self.contradiction_rate,
        )
        text = get_responder(kind)(request)
        if self.duplicate_rate > 0 and not is_repeat:
            self._remember(kind, content_key, text)
        return _fit(text, max_tokens, False)

    def _earlier(self, kind: str, dup_key: int) -> str | None:
        """A remembered answer of this kind, chosen by the request's hash."""
        memory = self._kinds.get(kind)
        if memory is None or not memory.keys:
            return None
        point = (dup_key * 0x9E3779B97F4A7C15) & _MASK64
        index = bisect.bisect_left(memory.keys, point) % len(memory.keys)
        return memory.texts[memory.keys[index]]

    def _remember(self, kind: str, key: int, text: str) -> None:
        """Keep the answers of the `memory` smallest request hashes of this kind."""
        memory = self._kinds.setdefault(kind, _Memory())
        if key in memory.texts:
            return
        if len(memory.keys) >= self.memory:
            if key > memory.keys[-1]:
                return
            del memory.texts[memory.keys.pop()]
        bisect.insort(memory.keys, key)
        memory.texts[key] = text

    def forget(self) -> None:
        """Drop every remembered answer."""
        self._kinds.clear()


def _unit(value: int) -> float:
    """A 64-bit hash as a uniform number in [0, 1)."""
    return (value >> 11) / float(1 << 53)


def _fit(text: str, max_tokens: int | None, is_duplicate: bool) -> Answer:
    """Apply `max_tokens`: cut the text and say "length" when it does not fit."""
    tokens = count_tokens(text)
    if max_tokens is not None and tokens > max_tokens:
        text = truncate_to_tokens(text, max_tokens)
        return Answer(text, "length", count_tokens(text), is_duplicate)
    return Answer(text, "stop", tokens, is_duplicate)
