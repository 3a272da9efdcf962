"""The dialogue plan: item *i* as a pure function of (config, seed, i, datasets).

Service-count class and resolution status come from exact stratified mixes; the service
combination is the least-used one of its class (round-robin by the item's rank in the
class); the base dialogue comes from a seeded, service-balanced permutation of the unique base
conversations, so each is used at most once (or once per pass with `allow_base_reuse`).
"""

from __future__ import annotations

import random
from typing import Any

from asyncgen.config import RunConfig
from asyncgen.dialogue.mix import StratifiedMix, balanced_order, round_robin
from asyncgen.dialogue.multiwoz import MultiWOZDataset
from asyncgen.dialogue.space import ScenarioSpace
from asyncgen.personas.finepersonas import PersonaBank


class DialoguePlanner:
    """Builds the payload of every plan item."""

    def __init__(
        self, config: RunConfig, seed: int, dataset: MultiWOZDataset, personas: PersonaBank
    ) -> None:
        self.config = config
        self.settings = config.dialogue
        self.seed = seed
        self.dataset = dataset
        self.personas = personas
        self.space = ScenarioSpace(self.settings)
        block = self.settings.mix_block_size
        self.services_mix = StratifiedMix(self.settings.service_weights, block, seed, "services")
        self.resolution_mix = StratifiedMix(
            self.settings.resolution_statuses, block, seed, "resolution"
        )
        self.unique_bases = dataset.unique_indices()
        self._passes: dict[int, list[int]] = {}

    @property
    def capacity(self) -> int | None:
        """How many items can get a fresh base dialogue (None = unlimited with reuse)."""
        return None if self.settings.allow_base_reuse else len(self.unique_bases)

    def base_index(self, index: int) -> int | None:
        """Dataset row of item `index`'s base dialogue; None once the dataset is exhausted.

        Each pass over the unique base dialogues is a service-balanced permutation
        (`balanced_order`): every core service gets its quota of base dialogues.
        """
        size = len(self.unique_bases)
        cycle, position = divmod(index, size)
        if cycle > 0 and not self.settings.allow_base_reuse:
            return None
        order = self._passes.get(cycle)
        if order is None:
            groups = [self.dataset[i].services for i in self.unique_bases]
            block = len(self.settings.core_services) * 4
            order = balanced_order(groups, self.seed, f"base:{cycle}", block)
            self._passes = {cycle: order}
        return self.unique_bases[order[position]]

    def payload(self, index: int) -> dict[str, Any]:
        """Everything item `index` needs, drawn deterministically."""
        rng = random.Random(f"{self.seed}:dialogue:{index}")
        cls, rank = self.services_mix.classify(index)
        combos = self.space.combinations(cls)
        combo: list[str] = round_robin(combos, rank, self.seed, cls)
        services = list(combo)
        rng.shuffle(services)
        resolution, _ = self.resolution_mix.classify(index)
        out: dict[str, Any] = {"service_count": cls, "services": services}
        out["resolution_status"] = resolution
        out.update(self._scenario_fields(services[0], rng))
        out.update(self._generation_fields(rng))
        out.update(self._base_fields(index))
        persona_index = self.personas.select_index(rng, self.settings.persona_selection)
        persona = self.personas.personas[persona_index]
        out.update(
            persona_index=persona_index,
            persona_id=persona.id,
            persona_cluster=persona.cluster_label,
            model_seed=rng.getrandbits(32),
        )
        return out

    def _scenario_fields(self, primary: str, rng: random.Random) -> dict[str, Any]:
        category = rng.choice(self.space.get_categories_for_service(primary))
        when = self.space.random_time_slot(rng)
        region = rng.choice(self.settings.regions)
        user, assistant = self.space.emotions(rng)
        return {
            "scenario_category": category,
            "regions": [region],
            "time_slot": when.slot,
            "time": when.time,
            "user_emotions": user,
            "assistant_emotions": assistant,
        }

    def _generation_fields(self, rng: random.Random) -> dict[str, Any]:
        sampling = self.config.llm.sampling
        min_turns, max_turns = self.space.turn_range(rng)
        return {
            "generation_params": {
                "temperature": rng.choice(sampling.temperature),
                "top_p": rng.choice(sampling.top_p),
                "frequency_penalty": rng.choice(sampling.frequency_penalty),
                "presence_penalty": rng.choice(sampling.presence_penalty),
                "min_turns": min_turns,
                "max_turns": max_turns,
            }
        }

    def _base_fields(self, index: int) -> dict[str, Any]:
        row = self.base_index(index)
        if row is None:
            return {"base_index": None, "base_dialogue_id": None, "base_dialogue_hash": None}
        base = self.dataset[row]
        return {
            "base_index": row,
            "base_dialogue_id": base.dialogue_id,
            "base_dialogue_hash": base.conversation_hash,
        }
