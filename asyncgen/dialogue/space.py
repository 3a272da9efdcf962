"""The report's scenario space: categories per service, time slots, emotions, turn ranges."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from asyncgen.config import DialogueSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeChoice:
    """A named time slot and a concrete HH:MM inside it."""

    slot: str
    time: str


class ScenarioSpace:
    """Read-only helpers over the dialogue settings' lists."""

    def __init__(self, settings: DialogueSettings) -> None:
        self.settings = settings

    def get_categories_for_service(self, service: str) -> list[str]:
        """General categories plus the service's own (the report's category validation)."""
        specific = self.settings.service_categories.get(service, [])
        return list(self.settings.general_categories) + [
            c for c in specific if c not in self.settings.general_categories
        ]

    def valid_category(self, category: str, service: str, rng: random.Random) -> str:
        """`category` if valid for `service`, else a random valid one (as the report does)."""
        valid = self.get_categories_for_service(service)
        if category in valid:
            return category
        chosen = rng.choice(valid)
        log.info("category %r is not valid for %s; using %r", category, service, chosen)
        return chosen

    def combinations(self, cls: str) -> list[list[str]]:
        """Service combinations of a count class; singles are the core services."""
        if cls == "single":
            return [[s] for s in self.settings.core_services]
        return [list(c) for c in self.settings.combinations.get(cls, [])]

    def generate_random_time(self, slot: str, rng: random.Random) -> str:
        """A concrete HH:MM inside the slot's [start, end) hours."""
        start, end = self.settings.time_slots[slot]
        minute = rng.randrange(start * 60, end * 60)
        return f"{minute // 60:02d}:{minute % 60:02d}"

    def random_time_slot(self, rng: random.Random) -> TimeChoice:
        """A slot name and a time inside it."""
        slot = rng.choice(list(self.settings.time_slots))
        return TimeChoice(slot, self.generate_random_time(slot, rng))

    def emotions(self, rng: random.Random) -> tuple[list[str], list[str]]:
        """Distinct user and assistant emotions for one dialogue (an arc, in order)."""
        low, high = self.settings.emotions_per_speaker
        users = self.settings.user_emotions
        assistants = self.settings.assistant_emotions
        user = rng.sample(users, min(rng.randint(low, high), len(users)))
        assistant = rng.sample(assistants, min(rng.randint(low, high), len(assistants)))
        return user, assistant

    def turn_range(self, rng: random.Random) -> tuple[int, int]:
        """Minimum and maximum turns drawn from their ranges, with max >= min."""
        min_turns = rng.randint(*self.settings.min_turns)
        low, high = self.settings.max_turns
        max_turns = rng.randint(max(low, min_turns), high) if high >= min_turns else min_turns
        return min_turns, max_turns
