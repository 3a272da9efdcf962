"""Quality in the loop: the judge that scores each finished record (issue 22)."""

from pydantic import Field, field_validator

from asyncgen.config.base import Settings

KNOWN_CRITERIA = ("persona_adherence", "naturalness", "task_success", "goal_completion")


class JudgeSettings(Settings):
    """`quality.judge`: score records during the run; replace those under the threshold.

    The judge's calls go through the run's transport, limiter, ledger and budget (prompt
    kind `quality_judge`), so its cost is the run's. A record whose lowest criterion is
    under `threshold` is rejected (`low_quality`) and replaced like a duplicate.
    """

    enabled: bool = False
    model: str | None = Field(default=None, description="judge model; None = llm.model")
    rubric: list[str] = Field(
        default_factory=lambda: ["persona_adherence", "naturalness", "task_success"],
        description="criteria scored 1-5; dialogues also get goal_completion",
    )
    threshold: float = Field(
        default=3.0, ge=1, le=5, description="every criterion must reach this score"
    )
    sample_share: float = Field(
        default=1.0, ge=0, le=1, description="share of records judged (picked by record id)"
    )
    max_tokens: int = Field(default=200, gt=0)
    temperature: float = Field(default=0.0, ge=0, le=2)
    keep_unjudged: bool = Field(
        default=True,
        description="a record the judge could not score (error, unusable answer) is kept",
    )

    @field_validator("rubric")
    @classmethod
    def _known(cls, rubric: list[str]) -> list[str]:
        unknown = [name for name in rubric if name not in KNOWN_CRITERIA]
        if unknown or not rubric:
            known = ", ".join(KNOWN_CRITERIA)
            raise ValueError(f"unknown rubric criteria {unknown or '(empty)'}; known: {known}")
        return list(dict.fromkeys(rubric))


class DiversitySettings(Settings):
    """`quality.diversity`: watch for mode collapse over a moving window of kept records."""

    enabled: bool = True
    window: int = Field(default=200, ge=2, description="records in the moving window")
    min_records: int = Field(default=50, ge=2, description="records before the first figures")
    min_distinct_2: float = Field(
        default=0.1, ge=0, le=1, description="warn when distinct-2 falls under this"
    )
    max_nn_similarity: float = Field(
        default=0.85, ge=0, le=1, description="warn when mean nearest-neighbour cosine exceeds this"
    )


class QualitySettings(Settings):
    """`quality`: decisions about what is kept, made during the run."""

    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    diversity: DiversitySettings = Field(default_factory=DiversitySettings)
