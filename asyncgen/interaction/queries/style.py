"""Style transfer: rewrite a neutral query in the persona's own voice."""

from __future__ import annotations

from asyncgen.interaction.jsonout import JsonAsker, MalformedOutputError, json_request
from asyncgen.interaction.personas.model import Persona, profile_json, summary
from asyncgen.interaction.queries.model import QueryRecord


class StyleTransfer(JsonAsker):
    """Adapts queries to a persona's tone, length and habits (JSON `{adapted_query}`)."""

    PROMPT = "style_transfer"

    async def adapt(self, persona: Persona, query: str) -> str:
        """The query in the persona's voice.

        Raises:
            MalformedOutputError: every answer was malformed or empty (raw text kept).
            LLMError: the transport could not get an answer.
        """
        request = json_request(
            self.template,
            max_tokens=min(1024, 4 * len(query) + 128),
            temperature=0.8,
            summary=summary(persona.features),
            profile_json=profile_json(persona.features),
            query=query,
        )
        answer = await self.ask(request, required=("adapted_query",), check=_non_empty)
        return str(answer.data["adapted_query"]).strip()

    async def adapt_record(self, persona: Persona, record: QueryRecord) -> QueryRecord:
        """The record with its adapted query; the original kept (status `failed`) on failure."""
        try:
            return record.adapted(await self.adapt(persona, record.original_query))
        except MalformedOutputError:
            return record.adapted(record.original_query, status="failed")


def _non_empty(data: dict[str, object], raw: str) -> None:
    if not str(data.get("adapted_query") or "").strip():
        raise MalformedOutputError("style_transfer answer: adapted_query is empty", raw=raw)
