"""What noise injection returns: every noisy version with its type and strategies."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from asyncgen.interaction.distractor.edits import Edit
from asyncgen.llm.types import ChatClient


@dataclass(frozen=True)
class NoisyVersion:
    """One noisy rewrite of a clean text, in the spec's metadata shape."""

    noisy_text: str
    noise_type: str
    applied_strategies: list[str]
    edits: list[Edit] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The spec's `{noisy_text, noise_type, applied_strategies}` plus the edit log."""
        data: dict[str, Any] = {
            "noisy_text": self.noisy_text,
            "noise_type": self.noise_type,
            "applied_strategies": list(self.applied_strategies),
        }
        if self.edits:
            data["edits"] = [e.to_dict() for e in self.edits]
        data.update(self.details)
        return data


@dataclass(frozen=True)
class NoiseResult:
    """A clean text and its noisy versions; the first version is the one sent."""

    clean_text: str
    versions: list[NoisyVersion]

    @property
    def sent(self) -> NoisyVersion:
        """The version the user actually sends."""
        return self.versions[0]


class Distractor(Protocol):
    """What the generator needs from a distractor (rule-based or semantic)."""

    distractor_type: str

    async def noise(
        self,
        text: str,
        persona_features: dict[str, str],
        *,
        persona_id: str | None = None,
        rng: random.Random,
    ) -> NoiseResult:
        """Every configured noisy version of `text` for this persona."""
        ...

    async def apply_noise(self, text: str, persona_features: dict[str, str]) -> str:
        """The spec's call: one noisy version of `text`."""
        ...

    def bind_client(self, client: ChatClient) -> None:
        """Use this transport for any model call (no-op for rule-based noise)."""
        ...

    def release_client(self, client: ChatClient) -> None:
        """`client` was closed by the generator that bound it: stop using it."""
        ...


def unique(names: list[str]) -> list[str]:
    """Names in first-seen order without repeats."""
    return list(dict.fromkeys(names))
