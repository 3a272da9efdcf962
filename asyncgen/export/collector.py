"""TrainingDataCollector: interactions and dialogues in, training samples out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from asyncgen.errors import DatasetError
from asyncgen.export.convert import record_kind, record_samples
from asyncgen.export.options import ConfigLike, ExportOptions, training_settings
from asyncgen.export.reader import ReadReport
from asyncgen.export.run import iter_run_samples
from asyncgen.export.sample import TrainingSample


class _HasToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


RecordLike = Mapping[str, Any] | _HasToDict


def _as_dict(record: RecordLike) -> Mapping[str, Any]:
    return record if isinstance(record, Mapping) else record.to_dict()


class TrainingDataCollector:
    """Collects and transforms interactions (and dialogues) to training samples.

    Handles conversion to `TrainingSample`, extraction of prompt trajectories, inclusion
    of noisy versions, and the choice of clean or noisy user turns
    (`training_data.user_turns`; `both` yields a second, noisy sample per noised record).
    """

    def __init__(self, config: ConfigLike = None) -> None:
        """Initialize the collector.

        Args:
            config: a RunConfig, a config dict with a ``training_data`` section, or None.

        Raises:
            ConfigError: the training_data section is invalid.
        """
        self.settings = training_settings(config)
        self.options = ExportOptions.from_settings(self.settings)

    def interaction_to_training_sample(self, interaction: RecordLike) -> TrainingSample:
        """Convert a single interaction (dict or `Interaction`) to a training sample.

        Args:
            interaction: the interaction dictionary (`Interaction.to_dict()` shape).

        Returns:
            The sample, with the configured user turns (`both` → the clean one).

        Raises:
            DatasetError: the record is not an interaction of the documented shape.
        """
        record = _as_dict(interaction)
        if record_kind(record) != "interaction":
            raise DatasetError("not an interaction: it has no 'messages' list")
        return record_samples(record, self.options.convert)[0]

    def dialogue_to_training_sample(self, dialogue: Mapping[str, Any]) -> TrainingSample:
        """Convert a single dialogue record (its turns become the conversation).

        Raises:
            DatasetError: the record is not a dialogue of the documented shape.
        """
        if record_kind(dialogue) != "dialogue":
            raise DatasetError("not a dialogue: it has no 'turns' list")
        return record_samples(dialogue, self.options.convert)[0]

    def record_to_samples(self, record: RecordLike) -> list[TrainingSample]:
        """Every sample one record yields (two under `both` when it was noised).

        Raises:
            DatasetError: the record has neither documented shape.
        """
        return record_samples(_as_dict(record), self.options.convert)

    def iter_samples(self, records: Iterable[RecordLike]) -> Iterator[TrainingSample]:
        """Samples of many records, lazily, interactions and dialogues alike."""
        for record in records:
            yield from self.record_to_samples(record)

    def collect_from_interactions(self, interactions: Iterable[RecordLike]) -> list[TrainingSample]:
        """Convert multiple interactions (or dialogues) to training samples.

        Args:
            interactions: interaction dictionaries, e.g. `InteractionStorage.load_all()`.

        Returns:
            The samples, in input order.

        Raises:
            DatasetError: a record has neither documented shape.
        """
        return list(self.iter_samples(interactions))

    def collect_from_dialogues(
        self, dialogues: Iterable[Mapping[str, Any]]
    ) -> list[TrainingSample]:
        """Convert dialogue records to training samples (one per dialogue and variant)."""
        return list(self.iter_samples(dialogues))

    def collect_from_run(
        self, run_dir: str | Path, report: ReadReport | None = None
    ) -> list[TrainingSample]:
        """Samples of a whole run directory; unusable lines are reported and skipped.

        Raises:
            DatasetError: an unusable line while `training_data.strict`.
            StoreError: no records file.
        """
        report = report if report is not None else ReadReport()
        return [
            sample
            for _, samples in iter_run_samples(Path(run_dir), self.options, report)
            for sample in samples
        ]
