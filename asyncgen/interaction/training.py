"""The last stage: training data from a finished interaction run (via asyncgen.export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asyncgen.config import RunConfig, TrainingDataSettings
from asyncgen.store import RunLayout, read_json

DEFAULT_OUTPUT_DIR = TrainingDataSettings().output_dir


def training_output_dir(config: RunConfig, run_dir: Path) -> Path:
    """`training_data.output_dir`, or `<run_dir>/training_data` when left at its default."""
    configured = config.training_data.output_dir
    default = RunLayout.in_dir(run_dir).training_data
    return default if configured == DEFAULT_OUTPUT_DIR else Path(configured)


def export_training_data(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Export the run's records as training samples (a blocking call: run it off-loop).

    Returns:
        `total_samples`, `sample_files` (format → split → path), `statistics_file`,
        `statistics`, `output_dir`.

    Raises:
        AsyncgenError: the records cannot be read or the files cannot be written.
    """
    from asyncgen.export import TrainingDataExporter

    out = training_output_dir(config, run_dir)
    cfg = config.model_copy(deep=True)
    cfg.training_data.output_dir = str(out)
    result = TrainingDataExporter(cfg).export_run(run_dir)
    return {
        "total_samples": result.statistics.get("total_samples", 0),
        "sample_files": result.files,
        "statistics_file": result.statistics_file,
        "statistics": result.statistics,
        "output_dir": str(out),
    }


def finished_complete(run_dir: Path, since: str) -> bool:
    """Whether summary.json says this session (finished after `since`) completed."""
    path = RunLayout.in_dir(run_dir).summary
    if not path.is_file():
        return False
    summary = read_json(path)
    return summary.get("status") == "complete" and str(summary.get("finished_at", "")) >= since
