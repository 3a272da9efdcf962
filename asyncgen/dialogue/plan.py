"""The dialogue plan: item *i* as a pure function of (config, seed, i, datasets).

Service-count class and resolution status come from exact stratified mixes; the service
combination is the least-used one of its class (round-robin by the item's rank in the
class); the base dialogue comes from a seeded, service-balanced permutation of the unique base
conversations, so each is used at most once (or once per pass with `allow_base_reuse`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from asyncgen.config import RunConfig
from asyncgen.dialogue.grounding import Goal
from asyncgen.dialogue.mix import StratifiedMix, balanced_order, round_robin
from asyncgen.dialogue.multiwoz import MultiWOZDataset
from asyncgen.dialogue.space import ScenarioSpace
from asyncgen.jsontypes import JsonObject
from asyncgen.personas.finepersonas import PersonaBank

COUNT_NAMES = {1: "single", 2: "double", 3: "triple", 4: "quadruple"}


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """The sampling values and turn bounds drawn for one dialogue (the record's
    `generation_params`)."""

    temperature: float
    top_p: float
    frequency_penalty: float
    presence_penalty: float
    min_turns: int
    max_turns: int

    def to_dict(self) -> JsonObject:
        """The record's `generation_params` object."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "frequency_penalty": self.frequency_penalty,
            "presence_penalty": self.presence_penalty,
            "min_turns": self.min_turns,
            "max_turns": self.max_turns,
        }


@dataclass(frozen=True, slots=True)
class DialoguePlan:
    """Everything one dialogue is given (a plan item's payload, or a spec API call's).

    The scene (services, category, region, time, emotions, resolution, sampling) drives
    the prompts; a planned item also names its base dialogue and persona, which a spec
    API call (`generate_dynamic_scenario`, `generate_dialogue`) does not have. The field
    names are the record's, so `to_dict` is what a reject's `plan` shows.
    """

    services: tuple[str, ...]
    scenario_category: str
    regions: tuple[str, ...]
    time_slot: str
    time: str
    generation_params: GenerationParams
    model_seed: int
    service_count: str = ""
    resolution_status: str = "Resolved"
    user_emotions: tuple[str, ...] = ()
    assistant_emotions: tuple[str, ...] = ()
    base_index: int | None = None
    base_dialogue_id: str | None = None
    base_dialogue_hash: str | None = None
    persona_index: int | None = None
    persona_id: str | None = None
    persona_cluster: int | None = None
    goal: Goal | None = field(default=None, compare=False)
    """Set at run time for a grounded dialogue: the base dialogue's last annotated state
    (service -> slot -> value)."""

    def to_dict(self) -> JsonObject:
        """The plan as JSON, keyed as the record is (a grounded plan adds `goal`)."""
        data: JsonObject = {
            "service_count": self.service_count,
            "services": list(self.services),
            "resolution_status": self.resolution_status,
            "scenario_category": self.scenario_category,
            "regions": list(self.regions),
            "time_slot": self.time_slot,
            "time": self.time,
            "user_emotions": list(self.user_emotions),
            "assistant_emotions": list(self.assistant_emotions),
            "generation_params": self.generation_params.to_dict(),
            "base_index": self.base_index,
            "base_dialogue_id": self.base_dialogue_id,
            "base_dialogue_hash": self.base_dialogue_hash,
            "persona_index": self.persona_index,
            "persona_id": self.persona_id,
            "persona_cluster": self.persona_cluster,
            "model_seed": self.model_seed,
        }
        if self.goal:
            data["goal"] = {service: dict(slots) for service, slots in self.goal.items()}
        return data


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

    def payload(self, index: int) -> DialoguePlan:
        """Everything item `index` needs, drawn deterministically (the draws in the order
        they have always been made, so a plan never changes under a resumed run)."""
        rng = random.Random(f"{self.seed}:dialogue:{index}")
        cls, rank = self.services_mix.classify(index)
        combos = self.space.combinations(cls)
        combo: list[str] = round_robin(combos, rank, self.seed, cls)
        services = list(combo)
        rng.shuffle(services)
        resolution, _ = self.resolution_mix.classify(index)
        category = rng.choice(self.space.get_categories_for_service(services[0]))
        when = self.space.random_time_slot(rng)
        region = rng.choice(self.settings.regions)
        user, assistant = self.space.emotions(rng)
        generation = self._generation_params(rng)
        row = self.base_index(index)
        base = self.dataset[row] if row is not None else None
        persona_index = self.personas.select_index(rng, self.settings.persona_selection)
        persona = self.personas.personas[persona_index]
        return DialoguePlan(
            services=tuple(services),
            scenario_category=category,
            regions=(region,),
            time_slot=when.slot,
            time=when.time,
            generation_params=generation,
            model_seed=rng.getrandbits(32),
            service_count=cls,
            resolution_status=resolution,
            user_emotions=tuple(user),
            assistant_emotions=tuple(assistant),
            base_index=row,
            base_dialogue_id=base.dialogue_id if base is not None else None,
            base_dialogue_hash=base.conversation_hash if base is not None else None,
            persona_index=persona_index,
            persona_id=persona.id,
            persona_cluster=persona.cluster_label,
        )

    def _generation_params(self, rng: random.Random) -> GenerationParams:
        sampling = self.config.llm.sampling
        min_turns, max_turns = self.space.turn_range(rng)
        return GenerationParams(
            temperature=rng.choice(sampling.temperature),
            top_p=rng.choice(sampling.top_p),
            frequency_penalty=rng.choice(sampling.frequency_penalty),
            presence_penalty=rng.choice(sampling.presence_penalty),
            min_turns=min_turns,
            max_turns=max_turns,
        )
