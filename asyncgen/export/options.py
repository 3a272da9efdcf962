"""Export options: the training_data settings, from a RunConfig, a dict or the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from asyncgen.config import RunConfig, TrainingDataSettings
from asyncgen.errors import ConfigError
from asyncgen.export.convert import ConvertOptions, UserTurns
from asyncgen.export.formats import FORMATS

ConfigLike = RunConfig | TrainingDataSettings | Mapping[str, Any] | None


def training_settings(config: ConfigLike) -> TrainingDataSettings:
    """The training_data settings from a RunConfig, a config dict or the section itself.

    Raises:
        ConfigError: the training_data section does not validate (names the key).
    """
    if config is None:
        return TrainingDataSettings()
    if isinstance(config, RunConfig):
        return config.training_data
    if isinstance(config, TrainingDataSettings):
        return config
    section = config.get("training_data", config if _looks_like_section(config) else {})
    try:
        return TrainingDataSettings.model_validate(section or {})
    except ValidationError as exc:
        problems = [
            f"training_data.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        ]
        raise ConfigError("; ".join(problems)) from exc


def _looks_like_section(config: Mapping[str, Any]) -> bool:
    return bool(config) and set(config) <= set(TrainingDataSettings.model_fields)


@dataclass(frozen=True)
class ExportOptions:
    """Everything one export needs to know."""

    out_dir: Path
    formats: tuple[str, ...] = ("json",)
    ratios: tuple[float, float, float] | None = (0.8, 0.1, 0.1)
    seed: int = 0
    user_turns: UserTurns = "clean"
    include_noisy_versions: bool = True
    system_prompt: str | None = None
    keep_rejected: bool = False
    strict: bool = False
    use_timestamp: bool = False
    batch_size: int = 1000

    @classmethod
    def from_settings(cls, settings: TrainingDataSettings, **overrides: Any) -> ExportOptions:
        """Options from settings; keyword overrides (None = keep) win.

        Raises:
            ConfigError: an unknown format or bad split ratios.
        """
        split = settings.split
        base = cls(
            out_dir=Path(settings.output_dir),
            formats=tuple(settings.format),
            ratios=(split.train, split.validation, split.test),
            seed=settings.split_seed,
            user_turns=settings.user_turns,
            include_noisy_versions=settings.include_noisy_versions,
            system_prompt=settings.system_prompt,
            keep_rejected=not settings.drop_failed,
            strict=settings.strict,
            batch_size=settings.batch_size,
        )
        chosen = {k: v for k, v in overrides.items() if v is not None}
        options = replace(base, **chosen)
        options.check()
        return options

    @property
    def convert(self) -> ConvertOptions:
        """The sample conversion part."""
        return ConvertOptions(self.user_turns, self.include_noisy_versions)

    def check(self) -> None:
        """Validate formats and ratios.

        Raises:
            ConfigError: an unknown format, or ratios that are negative or do not sum to 1.
        """
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise ConfigError(
                f"unknown export format(s) {', '.join(unknown) or '(none)'}; "
                f"choose from {', '.join(FORMATS)}"
            )
        if self.ratios is not None:
            check_ratios(self.ratios)


def check_ratios(ratios: Sequence[float]) -> None:
    """Three non-negative ratios that sum to 1.

    Raises:
        ConfigError: otherwise.
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise ConfigError(
            f"split ratios must be three non-negative numbers summing to 1 "
            f"(train,validation,test), got {','.join(f'{r:g}' for r in ratios)}"
        )


def parse_ratios(text: str) -> tuple[float, float, float]:
    """`"0.8,0.1,0.1"` → (0.8, 0.1, 0.1).

    Raises:
        ConfigError: not three numbers summing to 1.
    """
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"--split wants three numbers like 0.8,0.1,0.1, got {text!r}") from exc
    check_ratios(values)
    return (values[0], values[1], values[2])


def parse_formats(text: str) -> tuple[str, ...]:
    """`"openai,sharegpt"` → ("openai", "sharegpt"), order kept, duplicates dropped."""
    return tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
