"""Rate-limit header dialects: how each provider spells limit, remaining and reset.

A dialect turns the limiter's per-dimension state (`DimensionState`: requests, tokens,
input_tokens, output_tokens) into response headers. Every answer carries them, 4xx
included, and a refusal reports remaining 0 for the dimension that refused (the limiter
sets that). Names are precomputed; per request only the numbers are formatted.

- ``openai``: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, resets as Go
  durations (``1s``, ``20ms``, ``6m0s``) until the allowance is whole again.
- ``azure``: the same names; an unlimited dimension says ``-1`` (limit and remaining);
  every third answer carries only ``x-ratelimit-remaining-tokens`` (Azure deployments
  often send nothing else).
- ``anthropic``: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
  {limit,remaining,reset}``, resets as RFC 3339 UTC timestamps; ``tokens`` is the most
  restrictive token dimension in effect.
- ``openrouter``: ``X-RateLimit-{Limit,Remaining,Reset}`` for requests, the reset as a
  UNIX time in milliseconds.
- ``groq``: OpenAI's names, where ``requests`` is the daily budget (RPD) and ``tokens``
  per minute; resets as Go durations (``2m59.56s``).
- ``together``: ``x-ratelimit-{limit,remaining,reset}`` for requests and
  ``x-tokenlimit-{limit,remaining}`` for tokens, in per-second units (the reset in
  seconds).
- ``none``: no limit headers (vLLM).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from asyncgen.sim.ratelimit import (
    HEADER_KINDS,
    OPENAI_NAMES,
    DimensionState,
    openai_headers,
)

__all__ = ["DIALECTS", "Dialect", "HeaderList", "dialect"]

HeaderList = list[tuple[bytes, bytes]]
Dialect = Callable[[Sequence[DimensionState], float, int], HeaderList]

_ANTHROPIC = {
    dim: tuple(
        f"anthropic-ratelimit-{dim.replace('_', '-')}-{kind}".encode() for kind in HEADER_KINDS
    )
    for dim in ("requests", "tokens", "input_tokens", "output_tokens")
}
_OPENROUTER = (b"X-RateLimit-Limit", b"X-RateLimit-Remaining", b"X-RateLimit-Reset")
_TOGETHER_REQUESTS = (b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset")
_TOGETHER_TOKENS = (b"x-tokenlimit-limit", b"x-tokenlimit-remaining")
_UNLIMITED = b"-1"
_AZURE_SPARSE_EVERY = 3
_TOKEN_DIMENSIONS = ("tokens", "input_tokens", "output_tokens")


def _openai(states: Sequence[DimensionState], wall: float, number: int) -> HeaderList:
    return [header for state in states for header in openai_headers(state)]


def _azure(states: Sequence[DimensionState], wall: float, number: int) -> HeaderList:
    by_name = {s.name: s for s in states}
    if number % _AZURE_SPARSE_EVERY == 0:
        tokens = by_name.get("tokens")
        value = str(tokens.remaining).encode() if tokens else _UNLIMITED
        return [(OPENAI_NAMES["tokens"][1], value)]
    headers: HeaderList = []
    for dim, names in OPENAI_NAMES.items():
        state = by_name.get(dim)
        if state is None:
            headers += [(names[0], _UNLIMITED), (names[1], _UNLIMITED)]
        else:
            headers += openai_headers(state)
    return headers


def rfc3339(moment: float) -> str:
    """A UNIX time as Anthropic writes resets: ``2026-12-07T09:31:05Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(moment)))


def _anthropic(states: Sequence[DimensionState], wall: float, number: int) -> HeaderList:
    headers: HeaderList = []
    tightest: DimensionState | None = None
    for state in states:
        if state.name in _TOKEN_DIMENSIONS and (
            tightest is None or state.remaining < tightest.remaining
        ):
            tightest = state
        if state.name != "tokens" and state.name in _ANTHROPIC:
            headers += _anthropic_triple(state.name, state, wall)
    if tightest is not None:
        headers += _anthropic_triple("tokens", tightest, wall)
    return headers


def _anthropic_triple(dim: str, state: DimensionState, wall: float) -> HeaderList:
    names = _ANTHROPIC[dim]
    return [
        (names[0], str(state.limit).encode()),
        (names[1], str(state.remaining).encode()),
        (names[2], rfc3339(wall + state.reset).encode()),
    ]


def _openrouter(states: Sequence[DimensionState], wall: float, number: int) -> HeaderList:
    if not states:
        return []
    state = next((s for s in states if s.name == "requests"), states[0])
    reset_ms = math.ceil((wall + state.reset) * 1000)
    return [
        (_OPENROUTER[0], str(state.limit).encode()),
        (_OPENROUTER[1], str(state.remaining).encode()),
        (_OPENROUTER[2], str(reset_ms).encode()),
    ]


def _per_second(value: int) -> bytes:
    return str(max(1, math.ceil(value / 60))).encode()


def _together(states: Sequence[DimensionState], wall: float, number: int) -> HeaderList:
    headers: HeaderList = []
    for state in states:
        limit = _per_second(state.limit)
        remaining = str(min(int(limit), state.remaining)).encode()
        if state.name == "requests":
            reset = f"{state.reset:.3f}".rstrip("0").rstrip(".").encode()
            headers += [
                (_TOGETHER_REQUESTS[0], limit),
                (_TOGETHER_REQUESTS[1], remaining),
                (_TOGETHER_REQUESTS[2], reset),
            ]
        elif state.name == "tokens":
            headers += [(_TOGETHER_TOKENS[0], limit), (_TOGETHER_TOKENS[1], remaining)]
    return headers


def _none(states: Sequence[DimensionState], wall: float, number: int) -> HeaderList:
    return []


DIALECTS: dict[str, Dialect] = {
    "openai": _openai,
    "azure": _azure,
    "anthropic": _anthropic,
    "openrouter": _openrouter,
    "groq": _openai,
    "together": _together,
    "none": _none,
}


def dialect(name: str) -> Dialect:
    """The header dialect called `name`."""
    return DIALECTS[name]
