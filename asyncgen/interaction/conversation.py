"""One conversation: first message, answers from the locked model, follow-ups, noise."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from asyncgen.config import DistractorSettings, InteractionGenerationSettings
from asyncgen.interaction.assistant import AssistantModel
from asyncgen.interaction.distractor.types import Distractor, NoiseResult
from asyncgen.interaction.records import Clock, Interaction, Message, iso
from asyncgen.interaction.user_model import FeedbackTurn, UserFeedbackModel
from asyncgen.llm.types import ModelHandle


@dataclass(frozen=True)
class ConversationTask:
    """Everything one interaction depends on; `seed` makes it reproducible."""

    persona_id: str
    persona_features: dict[str, str]
    initial_query: str
    original_query: str | None = None
    system_prompt: str | None = None
    target_turns: int = 3
    query_id: str | None = None
    interaction_id: str | None = None
    seed: str = "0"
    noise_turns: frozenset[int] | None = None
    model_seed: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Parts:
    """The collaborators a conversation uses."""

    settings: InteractionGenerationSettings
    assistant: AssistantModel
    user_model: UserFeedbackModel
    distractor: Distractor | None
    noise: DistractorSettings
    clock: Clock


def clamp_turns(target: int, settings: InteractionGenerationSettings) -> int:
    """The target turn count forced into [min_turns, max_turns]."""
    return max(settings.min_turns, min(settings.max_turns, target))


def wants_noise(
    task: ConversationTask, turn: int, noise: DistractorSettings, rng: random.Random
) -> bool:
    """Whether user turn `turn` gets noise: from the plan, else drawn by config."""
    where = "initial_query" if turn == 1 else "followups"
    if not noise.enabled or where not in noise.apply_to:
        return False
    if task.noise_turns is not None:
        return turn in task.noise_turns
    return rng.random() < noise.noise_probability


async def converse(task: ConversationTask, parts: Parts, rng: random.Random) -> Interaction:
    """Run the loop until the user stops or the target is reached.

    Raises:
        MalformedOutputError: the user model never answered in JSON.
        LLMError: a model call failed after the transport's retries.
    """
    target = clamp_turns(task.target_turns, parts.settings)
    lock_rng = random.Random(task.model_seed) if task.model_seed else rng
    handle = parts.assistant.choose(lock_rng)
    created = parts.clock()
    noisy: dict[str, Any] = {}
    first = await _user_message(task, task.initial_query, 1, parts, rng, noisy)
    messages = [first]
    turn, end_reason = 1, "target_reached"
    while True:
        answer = await _assistant_message(task, messages, turn, handle, parts)
        messages.append(answer)
        state = FeedbackTurn(task.persona_features, messages, answer.content, turn, target)
        decision = await parts.user_model.decide(state, rng=rng)
        if decision.followup is None:
            end_reason = decision.reason
            break
        turn += 1
        follow = await _user_message(task, decision.followup, turn, parts, rng, noisy)
        follow.metadata["followup_reason"] = decision.reason
        messages.append(follow)
    return Interaction(
        interaction_id=task.interaction_id or f"interaction_{task.persona_id}",
        persona_id=task.persona_id,
        persona_features=dict(task.persona_features),
        original_query=task.original_query or task.initial_query,
        initial_query=task.initial_query,
        messages=messages,
        num_turns=turn,
        metadata=_metadata(task, parts, handle, created, noisy)
        | {"target_turns": target, "end_reason": end_reason},
    )


async def _assistant_message(
    task: ConversationTask, messages: list[Message], turn: int, handle: ModelHandle, parts: Parts
) -> Message:
    """The locked model's answer to the last user message, with the history before it."""
    result = await parts.assistant.reply(
        messages[-1].content, messages[:-1], handle=handle, system_prompt=task.system_prompt
    )
    meta = {"turn": turn, "model": handle.model, "provider": handle.provider}
    meta["finish_reason"] = result.finish_reason
    return Message("assistant", result.content, iso(parts.clock()), meta)


async def _user_message(
    task: ConversationTask,
    text: str,
    turn: int,
    parts: Parts,
    rng: random.Random,
    noisy: dict[str, Any],
) -> Message:
    """A user message, noised when the plan says so (clean text kept in metadata)."""
    meta: dict[str, Any] = {"turn": turn}
    meta["is_initial" if turn == 1 else "is_followup"] = True
    meta["was_noised"] = False
    content = text
    if parts.distractor is not None and wants_noise(task, turn, parts.noise, rng):
        result = await parts.distractor.noise(
            text, task.persona_features, persona_id=task.persona_id, rng=rng
        )
        content = result.sent.noisy_text
        meta.update(
            was_noised=True,
            clean_content=text,
            noise_type=result.sent.noise_type,
            applied_strategies=list(result.sent.applied_strategies),
        )
        _keep_versions(noisy, turn, result)
    return Message("user", content, iso(parts.clock()), meta)


def _keep_versions(noisy: dict[str, Any], turn: int, result: NoiseResult) -> None:
    versions = [v.to_dict() for v in result.versions]
    if turn == 1:
        noisy["initial_query"] = {"clean_query": result.clean_text, "noisy_versions": versions}
    else:
        noisy.setdefault("followups", []).append(
            {"turn": turn, "clean_text": result.clean_text, "noisy_versions": versions}
        )


def _metadata(
    task: ConversationTask,
    parts: Parts,
    handle: ModelHandle,
    created: Any,
    noisy: dict[str, Any],
) -> dict[str, Any]:
    user = parts.user_model.handle
    sampling = {
        "temperature": parts.assistant.settings.temperature,
        "top_p": handle.top_p,
        "frequency_penalty": handle.frequency_penalty,
        "presence_penalty": handle.presence_penalty,
    }
    meta: dict[str, Any] = {
        "created_at": iso(created),
        "distractor_applied": bool(noisy),
        "distractor_type": parts.distractor.distractor_type if parts.distractor else None,
        "assistant_model": {"model": handle.model, "provider": handle.provider},
        "assistant_sampling": {k: v for k, v in sampling.items() if v is not None},
        "user_model": {"model": user.model, "provider": user.provider},
        "query_id": task.query_id,
        "seed": task.seed,
    }
    if noisy:
        meta["noisy_versions"] = noisy
    return meta | task.extra
