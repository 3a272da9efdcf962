"""An optional LLM-as-judge pass over a sample, through the same transport and limiter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from asyncgen.errors import LLMError
from asyncgen.llm.types import ChatClient, ChatRequest, ModelHandle
from asyncgen.prompts import load_prompt
from asyncgen.quality.judge import parse_scores as parse_judge_scores
from asyncgen.report.view import view_record

SCORES = ("persona_adherence", "naturalness", "task_success")


def judge_messages(record: dict[str, Any]) -> list[dict[str, str]]:
    """The judge prompt for one record: persona and the conversation as text."""
    view = view_record(record)
    persona = record.get("persona") or record.get("persona_features") or "unknown"
    lines = []
    for user, assistant in zip(view.user_turns, view.assistant_turns + [""] * 99, strict=False):
        lines.append(f"user: {user}")
        if assistant:
            lines.append(f"assistant: {assistant}")
    prompt = load_prompt("judge").render(
        persona=json.dumps(persona, ensure_ascii=False)
        if not isinstance(persona, str)
        else persona,
        conversation="\n" + "\n".join(lines),
    )
    return [{"role": "user", "content": prompt}]


def parse_scores(text: str) -> dict[str, int] | None:
    """The three scores from a judge answer, or None when it is not usable."""
    return parse_judge_scores(text, list(SCORES))


async def judge_records(
    records: Sequence[dict[str, Any]],
    client: ChatClient,
    *,
    handle: ModelHandle,
    concurrency: int = 8,
) -> dict[str, Any]:
    """Score each record; unusable answers are counted, not dropped silently."""
    gate = asyncio.Semaphore(concurrency)

    async def one(record: dict[str, Any]) -> dict[str, int] | str:
        async with gate:
            request = ChatRequest(
                messages=judge_messages(record), kind="judge", max_tokens=200, temperature=0.0
            )
            try:
                result = await client.chat(request, handle)
            except LLMError as exc:
                return f"error: {type(exc).__name__}"
            return parse_scores(result.content) or "unparseable answer"

    outcomes = await asyncio.gather(*(one(r) for r in records))
    scored = [o for o in outcomes if isinstance(o, dict)]
    problems = [o for o in outcomes if isinstance(o, str)]
    means = {k: round(sum(s[k] for s in scored) / len(scored), 3) for k in SCORES} if scored else {}
    return {
        "model": handle.model,
        "judged": len(scored),
        "unusable": len(problems),
        "problems": sorted(set(problems)),
        "means": means,
    }
