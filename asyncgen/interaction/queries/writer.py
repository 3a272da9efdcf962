"""Ask a model for the queries a persona would bring (JSON `{queries: [...]}`)."""

from __future__ import annotations

from typing import Any

import orjson

from asyncgen.errors import BudgetExceededError
from asyncgen.interaction.jsonout import JsonAsker, MalformedOutputError, json_request
from asyncgen.interaction.personas.model import Persona, profile_json, summary

MAX_AVOID_SHOWN = 30
BATCH = 20  # queries asked for per call: long lists get truncated or repetitive


class QueryWriter(JsonAsker):
    """Writes `n` distinct neutral queries for a persona, re-asking for any shortfall."""

    PROMPT = "query_generation"

    async def write(self, persona: Persona, n: int, avoid: list[str] | None = None) -> list[str]:
        """Up to `n` new distinct queries, asked for `BATCH` at a time.

        Fewer come back when `max_retries + 1` calls in a row added nothing new
        (malformed, or only repeats), or when the budget refused a later call (what the
        earlier calls paid for is kept).

        Raises:
            LLMError: the transport could not get an answer.
            BudgetExceededError: the budget refused the first call.
        """
        taken = {q.strip().lower() for q in avoid or []}
        found: list[str] = []
        round_number = fruitless = 0
        while len(found) < n and fruitless <= self.max_retries:
            seen = [*(avoid or []), *found][-MAX_AVOID_SHOWN:]
            want = min(BATCH, n - len(found))
            round_number += 1
            try:
                batch = await self._ask(persona, want, seen, round_number)
            except MalformedOutputError:
                batch = []
            except BudgetExceededError:
                if not found:
                    raise
                return found[:n]
            before = len(found)
            for query in batch:
                if query.lower() not in taken:
                    taken.add(query.lower())
                    found.append(query)
            fruitless = 0 if len(found) > before else fruitless + 1
        return found[:n]

    async def generate_queries_for_persona(
        self,
        features: dict[str, str],
        num_queries: int,
        *,
        persona_id: str = "persona",
        avoid: list[str] | None = None,
    ) -> list[str]:
        """The guide's call: `num_queries` new queries for a persona given by its features.

        Raises:
            LLMError: the transport could not get an answer.
        """
        return await self.write(Persona(persona_id, dict(features)), num_queries, avoid)

    async def _ask(
        self, persona: Persona, n: int, avoid: list[str], round_number: int
    ) -> list[str]:
        request_json = {"persona_id": persona.persona_id, "num_queries": n, "round": round_number}
        request = json_request(
            self.template,
            max_tokens=min(4096, 120 * n + 64),
            temperature=0.9,
            num_queries=n,
            summary=summary(persona.features),
            profile_json=profile_json(persona.features),
            request_json=orjson.dumps(request_json).decode(),
            avoid=orjson.dumps(avoid).decode() if avoid else "(none)",
        )
        answer = await self.ask(
            request,
            required=("queries",),
            check=lambda data, raw: None if isinstance(data["queries"], list) else _bad(raw),
        )
        return _strings(answer.data["queries"], answer.raw)


def _bad(raw: str) -> None:
    raise MalformedOutputError("query_generation answer: queries is not a list", raw=raw)


def _strings(value: Any, raw: str) -> list[str]:
    if not isinstance(value, list):
        raise MalformedOutputError("query_generation answer: queries is not a list", raw=raw)
    return [str(q).strip() for q in value if isinstance(q, str | int | float) and str(q).strip()]
