"""Interaction pipeline settings: interaction_generation.*, user_model.*, distractor.*."""

from typing import Literal, Self

from pydantic import Field, model_validator

from asyncgen.config.base import Settings, require_weights
from asyncgen.config.llm import PoolEntry, ProviderName

NoiseTarget = Literal["initial_query", "followups"]


class AssistantModelSettings(Settings):
    """The assistant side of a conversation; `model_pool` overrides `provider`/`model`."""

    provider: ProviderName = "openai"
    model: str = "gpt-4o-mini"
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_completion_tokens: int = Field(default=1024, gt=0)
    model_pool: list[PoolEntry] = Field(default_factory=list)


class UserModelSettings(Settings):
    """The simulated user that follows up or stops when satisfied."""

    provider: ProviderName = "openai"
    model: str = "gpt-4o-mini"
    temperature: float = Field(default=0.8, ge=0, le=2)
    max_completion_tokens: int = Field(default=256, gt=0)
    system_prompt_template: str = "prompts/user_feedback.txt"
    feedback_probability: float = Field(default=0.6, ge=0, le=1)


class InteractionGenerationSettings(Settings):
    """The conversation loop (spec: interaction_generation.*)."""

    min_turns: int = Field(default=2, ge=1)
    max_turns: int = Field(default=5, ge=1)
    turn_policy: Literal["natural", "target"] = Field(
        default="natural",
        description="natural: the user model may stop before the target (the spec); "
        "target: the realised turn counts follow turn_weights",
    )
    turn_weights: dict[int, float] | None = Field(
        default=None,
        description="weight per target turn count in [min_turns, max_turns]; None = uniform",
    )
    max_workers: int = Field(default=20, gt=0)
    max_retries: int = Field(default=3, ge=0)
    retry_delay: float = Field(default=2.0, ge=0)
    max_supplement_rounds: int = Field(default=3, ge=0)
    export_training_data: bool = True
    assistant_model: AssistantModelSettings = Field(default_factory=AssistantModelSettings)
    user_model: UserModelSettings = Field(default_factory=UserModelSettings)

    @model_validator(mode="after")
    def _turn_range(self) -> Self:
        if self.min_turns > self.max_turns:
            raise ValueError(f"min_turns ({self.min_turns}) exceeds max_turns ({self.max_turns})")
        weights = self.turn_weights
        if weights is not None:
            outside = sorted(k for k in weights if not self.min_turns <= k <= self.max_turns)
            if outside:
                raise ValueError(
                    f"turn_weights has turn counts {outside} outside "
                    f"[min_turns, max_turns] = [{self.min_turns}, {self.max_turns}]"
                )
            require_weights(self, "turn_weights")
        return self


class PersonaSettings(Settings):
    """Persona sampling from the bank, or loading from a file."""

    num_personas: int = Field(default=50, gt=0)
    queries_per_persona: int = Field(default=5, gt=0)
    bank_file: str | None = None
    personas_file: str | None = None
    queries_file: str | None = None
    feature_share: float = Field(default=0.7, gt=0, le=1)
    min_differing_features: int = Field(default=3, ge=0)
    personalized_system_prompt: bool = True
    spare_query_share: float = Field(default=0.2, ge=0, le=5)


class DistractorSettings(Settings):
    """Noise injected into user turns; clean and noisy versions are both kept."""

    enabled: bool = True
    use_semantic: bool = False
    apply_to: list[NoiseTarget] = Field(
        default_factory=lambda: list[NoiseTarget](["initial_query", "followups"])
    )
    noise_probability: float = Field(default=0.3, ge=0, le=1)
    char_noise_rate: float = Field(default=0.05, ge=0, le=1)
    strategies: list[str] = Field(default_factory=list)
    layer_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "surface_noise": 0.5,
            "incomplete_information": 0.25,
            "semantic_ambiguity": 0.25,
        }
    )
    num_noisy_versions: int = Field(default=1, ge=1)
    model: str | None = None
