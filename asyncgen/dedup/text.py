"""What is embedded: text built from a dialogue or interaction record, as configured."""

from __future__ import annotations

from typing import Any

from asyncgen.config.dedup import DedupSettings


def _dialogue_lines(turns: list[dict[str, Any]], user_only: bool) -> list[str]:
    """Lines of a dialogue record's turns, user (and assistant) alternating."""
    lines: list[str] = []
    for turn in turns:
        user = turn.get("user_utterance")
        if user:
            lines.append(f"User: {user}")
        reply = turn.get("assistant_response")
        if reply and not user_only:
            lines.append(f"Assistant: {reply}")
    return lines


def _interaction_lines(messages: list[dict[str, Any]], user_only: bool) -> list[list[str]]:
    """Turns of an interaction record: each user message opens a turn, system lines skipped."""
    turns: list[list[str]] = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if not content or role == "system":
            continue
        if role == "user":
            turns.append([f"User: {content}"])
        elif not user_only:
            if not turns:
                turns.append([])
            turns[-1].append(f"Assistant: {content}")
    return turns


def record_text(
    data: dict[str, Any],
    settings: DedupSettings | None = None,
) -> str | None:
    """The text a record is checked by, following `dedup.embed` / `first_k` / `max_chars`.

    Dialogue records carry `turns` [{user_utterance, assistant_response}], interaction
    records carry `messages` [{role, content}]; anything else yields None (not checked).

    Args:
        data: A record's JSON object.
        settings: Dedup settings; defaults when None.

    Returns:
        The text, or None when the record has no conversation to compare.
    """
    settings = settings or DedupSettings()
    user_only = settings.embed == "user_turns"
    limit = settings.first_k if settings.embed == "first_k_turns" else None
    if isinstance(data.get("turns"), list):
        turns = data["turns"][:limit] if limit else data["turns"]
        lines = _dialogue_lines(turns, user_only)
    elif isinstance(data.get("messages"), list):
        grouped = _interaction_lines(data["messages"], user_only)
        lines = [line for turn in grouped[:limit] for line in turn]
    else:
        return None
    text = "\n".join(lines).strip()
    return text[: settings.max_chars] if text else None


def describe_text_mode(settings: DedupSettings) -> dict[str, Any]:
    """What was embedded, for the run's records (meta.json, summary)."""
    mode: dict[str, Any] = {"embed": settings.embed, "max_chars": settings.max_chars}
    if settings.embed == "first_k_turns":
        mode["first_k"] = settings.first_k
    return mode
