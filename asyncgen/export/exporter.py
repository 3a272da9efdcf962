"""TrainingDataExporter: samples to files, split by group, with statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from asyncgen import offload
from asyncgen.export.columnar import require_datasets
from asyncgen.export.convert import sample_group_keys
from asyncgen.export.options import ConfigLike, ExportOptions, training_settings
from asyncgen.export.outputs import OutputSet
from asyncgen.export.run import STATISTICS_NAME, ExportResult, export_run
from asyncgen.export.sample import TrainingSample
from asyncgen.export.split import SPLIT_NAMES, SplitPlan, plan_for, split_section
from asyncgen.export.stats import Clock, compute, local_now
from asyncgen.store.atomic import write_bytes_atomic


class TrainingDataExporter:
    """Exports training samples to files.

    JSON export (the spec's file names: ``train_samples.json`` …), an optional
    train/validation/test split by group (no persona, and no base dialogue, in two
    splits), statistics, timestamped file names; and every other format of
    `training_data.format` through `export_formats` / `export_run`.
    """

    def __init__(self, config: ConfigLike = None, *, clock: Clock | None = None) -> None:
        """Initialize the exporter.

        Args:
            config: a RunConfig, a config dict with a ``training_data`` section, or None.
            clock: the time for `created_at` and timestamped names (default: now).

        Raises:
            ConfigError: the training_data section is invalid.
        """
        self.settings = training_settings(config)
        self.options = ExportOptions.from_settings(self.settings)
        self.output_dir = Path(self.settings.output_dir)
        self._clock = clock or local_now

    def export_samples(
        self, samples: Sequence[TrainingSample], split: bool = False, use_timestamp: bool = True
    ) -> dict[str, str]:
        """Export samples to JSON files.

        Args:
            samples: the training samples.
            split: split into train/validation/test by group with the configured ratios.
            use_timestamp: add ``_YYYYmmdd_HHMMSS`` to the file names.

        Returns:
            Split name → file path: ``{'train': '.../train_samples.json', ...}``.
        """
        return self.export_formats(samples, ("json",), split=split, use_timestamp=use_timestamp)[
            "json"
        ]

    def export_formats(
        self,
        samples: Sequence[TrainingSample],
        formats: Sequence[str] | None = None,
        *,
        split: bool = False,
        use_timestamp: bool = True,
    ) -> dict[str, dict[str, str]]:
        """Export samples in several formats at once (default: `training_data.format`).

        Returns:
            Format → split → path (format ``hf`` → ``{"dataset": folder}``).

        Raises:
            ConfigError: an unknown format, or ``hf`` without the `datasets` extra.
        """
        options = replace(self.options, formats=tuple(formats or self.options.formats))
        options.check()
        if "hf" in options.formats:
            require_datasets()
        plan = self._plan(samples) if split else None
        stamp = self._stamp() if use_timestamp else None
        outputs = OutputSet(options, SPLIT_NAMES if plan else ("train",), stamp)
        try:
            for sample in samples:
                index = plan.split_index(sample_group_keys(sample)) if plan else 0
                outputs.write(SPLIT_NAMES[index], sample)
            return outputs.commit()
        except BaseException:
            outputs.abort()
            raise

    def export_statistics(
        self, samples: Sequence[TrainingSample], use_timestamp: bool = True
    ) -> str:
        """Export dataset statistics.

        Returns:
            Path to the statistics JSON file (``statistics[_YYYYmmdd_HHMMSS].json``).
        """
        stats = self.compute_statistics(samples)
        name = f"{STATISTICS_NAME}{'_' + self._stamp() if use_timestamp else ''}.json"
        data = orjson.dumps(stats, option=orjson.OPT_INDENT_2)
        return str(write_bytes_atomic(self.output_dir / name, data))

    async def aexport_samples(
        self, samples: Sequence[TrainingSample], split: bool = False, use_timestamp: bool = True
    ) -> dict[str, str]:
        """`export_samples` in a worker thread, for callers on an event loop."""
        return await offload.to_thread(self.export_samples, samples, split, use_timestamp)

    async def aexport_statistics(
        self, samples: Sequence[TrainingSample], use_timestamp: bool = True
    ) -> str:
        """`export_statistics` in a worker thread, for callers on an event loop."""
        return await offload.to_thread(self.export_statistics, samples, use_timestamp)

    def compute_statistics(self, samples: Sequence[TrainingSample]) -> dict[str, Any]:
        """Compute dataset statistics.

        Returns:
            ``total_samples``, ``avg_turns``, ``avg_trajectory_length``, ``distractor_stats``
            (``samples_with_noise``, ``noise_rate``), ``persona_distribution``,
            ``created_at``, and ``split`` with the configured and realised ratios.
        """
        stats = compute(samples, self._clock)
        ratios = self.options.ratios
        plan = self._plan(samples) if ratios is not None else None
        stats["split"] = split_section(plan, ratios, self.options.seed, stats["total_samples"])
        return stats

    def export_run(self, run_dir: str | Path, **overrides: Any) -> ExportResult:
        """Stream a whole run directory to the configured formats (see `export_run`).

        Args:
            run_dir: the run directory.
            overrides: `ExportOptions` fields to change (formats, ratios, user_turns, …).
        """
        options = replace(self.options, **overrides)
        return export_run(Path(run_dir), options, self._clock)

    def _plan(self, samples: Sequence[TrainingSample]) -> SplitPlan:
        ratios = self.options.ratios or (1.0, 0.0, 0.0)
        return plan_for(((sample_group_keys(s), 1) for s in samples), ratios, self.options.seed)

    def _stamp(self) -> str:
        return self._clock().strftime("%Y%m%d_%H%M%S")
