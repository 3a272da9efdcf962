"""`EnhancedPersonaGenerationPipeline`: the spec's whole pipeline in one call.

personas → queries → style transfer → interactions (on the run engine, resumable) →
training data (the export engine). Rerunning with the same run directory resumes.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from asyncgen import offload
from asyncgen.config import RunConfig, as_run_config, load_config
from asyncgen.interaction.pipeline import InteractionPipeline
from asyncgen.interaction.training import export_training_data


class EnhancedPersonaGenerationPipeline:
    """Runs every stage of the interaction pipeline and exports training data."""

    def __init__(
        self,
        config_path: str | Path | None = None,
        *,
        config: RunConfig | None = None,
        run_dir: str | Path | None = None,
        console: Console | None = None,
    ) -> None:
        """Load the configuration.

        Args:
            config_path: a YAML config file (None = the packaged defaults).
            config: a ready RunConfig instead of a file.
            run_dir: the run directory (default `engine.out`, else a timestamped folder).
            console: where notices go (default: a quiet in-memory console).

        Raises:
            ConfigError: the file is invalid.
        """
        self.config = as_run_config(config) if config is not None else load_config(config_path)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.console = console or Console(file=io.StringIO())

    def _effective(self, num_personas: int | None, queries_per_persona: int | None) -> RunConfig:
        cfg = self.config.model_copy(deep=True)
        if num_personas is not None:
            cfg.personas.num_personas = num_personas
        if queries_per_persona is not None:
            cfg.personas.queries_per_persona = queries_per_persona
        cfg.engine.n = cfg.personas.num_personas * cfg.personas.queries_per_persona
        return cfg

    async def run(
        self, num_personas: int | None = None, *, queries_per_persona: int | None = None
    ) -> dict[str, Any]:
        """Generate `num_personas × queries_per_persona` interactions, then training data.

        Returns:
            `run_dir`, `personas`, `queries`, `interactions` (counts and success rate),
            and `training_data` (`total_samples`, `sample_files`, `statistics_file`).

        Raises:
            AsyncgenError: bad configuration, an unwritable directory, or a failed export.
        """
        from asyncgen.engine.runner import RunOptions
        from asyncgen.engine.session import execute
        from asyncgen.store import RunLayout

        cfg = self._effective(num_personas, queries_per_persona)
        run_dir = self._run_dir(cfg)
        pipeline = InteractionPipeline(cfg)
        layout = RunLayout.in_dir(run_dir, pipeline.records_file, cfg.engine.log_file)
        options = RunOptions(quiet=True, console=self.console)
        summary = await execute(cfg, pipeline, layout, options=options, console=self.console)
        training = pipeline.training or await offload.to_thread(export_training_data, cfg, run_dir)
        done, failed, rejected = summary.done, summary.failed, summary.rejected
        attempted = done + failed + rejected
        return {
            "run_dir": str(run_dir),
            "personas": pipeline.report.personas,
            "queries": pipeline.report.queries,
            "interactions": {
                "total": done,
                "failed": failed,
                "rejected": rejected,
                "success_rate": done / attempted if attempted else 0.0,
                "simulated": summary.simulated,
            },
            "training_data": training,
        }

    def _run_dir(self, cfg: RunConfig) -> Path:
        if self.run_dir is not None:
            return self.run_dir
        if cfg.engine.out:
            return Path(cfg.engine.out)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return Path("runs") / f"interaction-{stamp}"
