"""The training sample: one conversation ready to train on, in the spec's shape."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from asyncgen.errors import DatasetError

_REQUIRED = ("sample_id", "persona_id", "full_conversation")


@dataclass
class TrainingSample:
    """Training data sample (spec: `TrainingSample`).

    Attributes:
        sample_id: unique identifier.
        persona_id: source persona.
        persona_features: persona feature dictionary.
        original_query: query before style transfer.
        initial_query: query after style transfer (noisy when noisy turns were chosen).
        prompt_trajectory: the user prompts in order.
        full_conversation: the conversation as ``{"role", "content"}`` messages.
        num_turns: number of conversation turns.
        noisy_initial_queries: noisy versions of the initial query (if the distractor ran).
        metadata: additional metadata (source record, distractor, model, group keys).
    """

    sample_id: str
    persona_id: str
    persona_features: dict[str, Any] = field(default_factory=dict)
    original_query: str = ""
    initial_query: str = ""
    prompt_trajectory: list[str] = field(default_factory=list)
    full_conversation: list[dict[str, str]] = field(default_factory=list)
    num_turns: int = 0
    noisy_initial_queries: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Convert to a dictionary for JSON export (the spec's sample JSON).

        Top-level containers are copied; nested values are shared (`dataclasses.asdict`'s
        deep copy made export five times slower).
        """
        return {
            "sample_id": self.sample_id,
            "persona_id": self.persona_id,
            "persona_features": dict(self.persona_features),
            "original_query": self.original_query,
            "initial_query": self.initial_query,
            "prompt_trajectory": list(self.prompt_trajectory),
            "full_conversation": [dict(m) for m in self.full_conversation],
            "num_turns": self.num_turns,
            "noisy_initial_queries": [dict(v) for v in self.noisy_initial_queries],
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSample:
        """Create a sample from its dictionary form.

        Args:
            data: a dict as written by `to_dict` (unknown keys are ignored).

        Returns:
            The sample.

        Raises:
            DatasetError: a required field is missing or the conversation is not a list.
        """
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise DatasetError(f"training sample lacks {', '.join(missing)}")
        if not isinstance(data["full_conversation"], list):
            raise DatasetError("training sample full_conversation must be a list of messages")
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @property
    def has_noise(self) -> bool:
        """Whether the distractor touched the source conversation."""
        return bool(self.metadata.get("distractor_applied")) or bool(self.noisy_initial_queries)
