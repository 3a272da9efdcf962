"""The dialogue record: one line of a dialogue run's records.jsonl, as the pipeline writes it."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from asyncgen.jsontypes import JsonObject


class DialogueRecord(TypedDict):
    """The fields agreed in the interfaces file (what `export`, `report` and dedup read).

    `grounding`, `goal` and `goal_met_turn` are there for a grounded dialogue
    (`dialogue.grounding: goals`); the `distractor_*` fields and `noised_turns` when
    `dialogue.apply_noise` is on.
    """

    dialogue_id: str
    services: list[str]
    service_count: str
    turns: list[JsonObject]
    """`DialogueTurn.to_dict()` per turn (noise adds `noisy_user_utterance`, `noise`)."""
    num_lines: int
    user_emotions: list[str]
    assistant_emotions: list[str]
    scenario_category: str
    generated_scenario: str
    time_slot: str
    time: str
    regions: list[str]
    resolution_status: str
    persona: str
    persona_id: str
    persona_cluster: int
    base_dialogue_id: str | None
    base_dialogue_hash: str | None
    generation_params: JsonObject
    model: str
    created_at: str
    attempts: NotRequired[int]
    grounding: NotRequired[str]
    goal: NotRequired[dict[str, dict[str, str]]]
    goal_met_turn: NotRequired[int | None]
    distractor_applied: NotRequired[bool]
    distractor_type: NotRequired[str]
    noised_turns: NotRequired[int]
