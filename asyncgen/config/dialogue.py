"""Settings for the dialogue pipeline (the MultiWOZ-seeded generator of the report)."""

from __future__ import annotations

from pydantic import Field, model_validator

from asyncgen.config.base import Settings


class DialogueSettings(Settings):
    """The report's CLI parameters and scenario space; lists are overridable in YAML.

    Scenario lists left empty here are filled from the package's built-in defaults.
    """

    output_file: str = "generated_dialogues.json"
    hash_file: str = "dialogue_hashes.json"
    embedding_file: str = "dialogue_embeddings.npy"
    similarity_threshold: float = Field(default=0.9, gt=0, le=1)
    dataset_name: str = "pfb30/multi_woz_v22"
    dataset_path: str | None = None
    persona_path: str | None = None
    min_turns: tuple[int, int] = (5, 10)
    max_turns: tuple[int, int] = (7, 20)
    max_retries: int = Field(default=3, ge=0)
    model: str | None = None
    regions: list[str] = Field(default_factory=list)
    general_categories: list[str] = Field(default_factory=list)
    service_categories: dict[str, list[str]] = Field(default_factory=dict)
    core_services: list[str] = Field(default_factory=list)
    combinations: dict[str, list[list[str]]] = Field(default_factory=dict)
    service_weights: dict[str, float] = Field(
        default_factory=lambda: {"single": 0.30, "double": 0.35, "triple": 0.25, "quadruple": 0.10}
    )
    time_slots: dict[str, tuple[int, int]] = Field(default_factory=dict)
    user_emotions: list[str] = Field(default_factory=list)
    assistant_emotions: list[str] = Field(default_factory=list)
    resolution_statuses: dict[str, float] = Field(
        default_factory=lambda: {"Resolved": 0.4, "Failed": 0.3, "Escalated": 0.3}
    )
    apply_noise: bool = False

    @model_validator(mode="after")
    def _ranges(self) -> DialogueSettings:
        for name in ("min_turns", "max_turns"):
            low, high = getattr(self, name)
            if low < 1 or low > high:
                raise ValueError(f"{name} must be a range 1 <= A <= B, got {low} {high}")
        return self
