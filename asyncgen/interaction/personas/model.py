"""A persona: an id, categorical features, and (optionally) its own system prompt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from asyncgen.prompts import json_after

PROFILE_LABEL = "User profile (JSON):"


@dataclass(frozen=True)
class Persona:
    """One simulated user; `features` maps bank dimension → value."""

    persona_id: str
    features: dict[str, str]
    system_prompt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (one personas.jsonl line)."""
        data: dict[str, Any] = {"persona_id": self.persona_id, "features": dict(self.features)}
        if self.system_prompt is not None:
            data["system_prompt"] = self.system_prompt
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Persona:
        """Rebuild from `to_dict` output (or the spec's `persona_features` key)."""
        features = data.get("features", data.get("persona_features"))
        if not isinstance(features, dict):
            raise ValueError("persona has no features mapping")
        prompt = data.get("system_prompt")
        return cls(
            persona_id=str(data["persona_id"]),
            features={str(k): str(v) for k, v in features.items()},
            system_prompt=str(prompt) if prompt else None,
        )


def profile_json(features: dict[str, str]) -> str:
    """The features as one compact JSON line (machine-readable for the simulator)."""
    return orjson.dumps(features, option=orjson.OPT_SORT_KEYS).decode()


def summary(features: dict[str, str]) -> str:
    """A one-sentence description of the persona for prompts."""
    if not features:
        return "an ordinary user."
    parts = [f"{key.replace('_', ' ')}: {value}" for key, value in features.items()]
    return "; ".join(parts) + "."


def parse_profile(text: str) -> dict[str, str]:
    """The features from a prompt's `User profile (JSON):` line, or {} when absent."""
    data = json_after(text, PROFILE_LABEL)
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
