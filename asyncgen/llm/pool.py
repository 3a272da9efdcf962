"""The weighted model pool: one model and one set of sampling values per conversation."""

from __future__ import annotations

import random
from collections import Counter

from asyncgen.config.llm import LLMSettings, PoolEntry, SamplingLists
from asyncgen.llm.types import ModelHandle


class ModelPool:
    """Draws `ModelHandle`s and counts the realised model mix."""

    def __init__(self, settings: LLMSettings) -> None:
        self._settings = settings
        self.mix: Counter[str] = Counter()

    def lock(
        self,
        rng: random.Random,
        pool: list[PoolEntry] | None = None,
        sampling: SamplingLists | None = None,
        *,
        draw_sampling: bool = True,
    ) -> ModelHandle:
        """Choose a model by weight and draw the sampling values for one conversation.

        Args:
            rng: the conversation's seeded generator (the only source of randomness).
            pool: weighted entries; empty or None means the configured provider/model.
            sampling: value lists; None means `llm.sampling` from config.
            draw_sampling: False leaves every sampling value None (requests keep their own).

        Returns:
            A frozen handle to pass to every call of the conversation.
        """
        entry = self._choose(rng, pool)
        lists = sampling if sampling is not None else self._settings.sampling
        values: dict[str, float | None] = dict.fromkeys(
            ("temperature", "top_p", "frequency_penalty", "presence_penalty")
        )
        if draw_sampling:
            for name in values:
                values[name] = rng.choice(getattr(lists, name))
        self.mix[entry.model] += 1
        return ModelHandle(
            provider=entry.provider,
            model=entry.model,
            base_url=entry.base_url,
            api_key_env=entry.api_key_env,
            **values,
        )

    def _choose(self, rng: random.Random, pool: list[PoolEntry] | None) -> PoolEntry:
        if not pool:
            s = self._settings
            return PoolEntry(provider=s.provider, model=s.model, base_url=None, api_key_env=None)
        if len(pool) == 1:
            return pool[0]
        return rng.choices(pool, weights=[e.weight for e in pool], k=1)[0]
