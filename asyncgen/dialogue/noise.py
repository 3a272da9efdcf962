"""Noise on the user turns of generated dialogues, through the interaction distractor.

Off by default (`dialogue.apply_noise`). Each user turn is noised with probability
`distractor.noise_probability` (the first turn counts as `initial_query`, the rest as
`followups` for `distractor.apply_to`); the clean utterance stays, the sent noisy version goes in
`noisy_user_utterance` and every version with its strategies in `noise`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from asyncgen.config import RunConfig
from asyncgen.errors import ConfigError, LLMError
from asyncgen.llm.types import ChatClient

if TYPE_CHECKING:
    from asyncgen.dialogue.record import DialogueRecord


class DialogueNoiser:
    """Applies the configured distractor (rule-based or semantic) to user turns."""

    def __init__(self, config: RunConfig, client: ChatClient, seed: int) -> None:
        from asyncgen.interaction.distractor import create_distractor_model

        distractor = create_distractor_model(config, client=client, seed=seed)
        if distractor is None:
            raise ConfigError("dialogue.apply_noise needs distractor.enabled: true")
        self.distractor = distractor
        self.probability = config.distractor.noise_probability
        self.targets = set(config.distractor.apply_to)
        self.seed = seed

    async def apply(self, record: DialogueRecord) -> None:
        """Add noisy versions to some user turns of `record`, in place."""
        rng = random.Random(f"{self.seed}:noise:{record['dialogue_id']}")
        features = {"persona": record["persona"][:200], "cluster": str(record["persona_cluster"])}
        noised = 0
        for turn in record["turns"]:
            target = "initial_query" if turn["turn_number"] == 1 else "followups"
            if target not in self.targets or rng.random() >= self.probability:
                continue
            try:
                result = await self.distractor.noise(
                    turn["user_utterance"], features, persona_id=record["persona_id"], rng=rng
                )
            except LLMError as exc:  # the clean dialogue stands; say why this turn has no noise
                turn["noise_error"] = f"{type(exc).__name__}: {exc}"[:200]
                continue
            turn["noisy_user_utterance"] = result.sent.noisy_text
            turn["noise"] = [v.to_dict() for v in result.versions]
            noised += 1
        record["distractor_applied"] = noised > 0
        record["distractor_type"] = getattr(self.distractor, "distractor_type", "unknown")
        record["noised_turns"] = noised
