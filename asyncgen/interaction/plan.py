"""What one planned conversation carries from the plan to `run_item` (its payload)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConversationPlan:
    """Item *i* of the interaction plan: which query, how long, where the noise goes.

    Attributes:
        persona_id: the persona whose query this is.
        query_id: the prepared (style-transferred) query the conversation opens with.
        cycle: how many times the plan has gone round the queries before this item.
        target_turns: the planned number of turns (the turn mix may adjust it at run time).
        noise_turns: user turns (1-based) that get distractor noise.
        model_seed: seeds the conversation's model lock.
        conversation_seed: seeds everything else the conversation draws.
    """

    persona_id: str
    query_id: str
    cycle: int
    target_turns: int
    noise_turns: tuple[int, ...]
    model_seed: str
    conversation_seed: str
