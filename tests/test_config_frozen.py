"""The effective config is frozen when a run starts: nothing in the run can change a
setting the plan, the fingerprint and the snapshot were made with."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from engine_support import LocalPipeline
from test_engine_run import make_config, run

from asyncgen.contract import Outcome, RunContext, WorkItem
from asyncgen.errors import ConfigError, ConfigFrozenError


class _Meddler(LocalPipeline):
    """A pipeline that tries to change the run's settings while its items run."""

    refusals = 0

    async def run_item(self, item: WorkItem, ctx: RunContext) -> Outcome:
        try:
            ctx.config.engine.seed = 999
        except ConfigFrozenError:
            self.refusals += 1
        try:
            ctx.config.interaction_generation.assistant_model.model_pool.append({})
        except ConfigFrozenError:
            self.refusals += 1
        try:
            ctx.config.dedup.pipelines["interaction"] = None  # type: ignore[assignment]
        except ConfigFrozenError:
            self.refusals += 1
        return await super().run_item(item, ctx)


async def test_a_run_cannot_change_its_config(tmp_path: Path) -> None:
    """Every assignment during the run fails; the snapshot and the records keep the seed."""
    config = make_config(**{"engine.n": 5})
    pipeline = _Meddler(config)
    summary = await run(tmp_path, pipeline, config)
    assert summary.done == 5 and pipeline.refusals == 15
    assert config.is_frozen and config.engine.is_frozen and config.llm.limits.is_frozen
    snapshot = orjson.loads((tmp_path / "config.json").read_bytes())
    assert snapshot["engine"]["seed"] == config.engine.seed != 999
    with pytest.raises(ConfigError, match="EngineSettings.n: the config is frozen"):
        config.engine.n = 6


def test_a_copy_of_a_frozen_config_can_be_changed() -> None:
    """The next run's config starts from a copy: a deep copy is thawed throughout."""
    config = make_config().freeze()
    copy = config.model_copy(deep=True)
    copy.engine.n = 7
    copy.llm.limits.rpm = 10
    copy.dedup.pipelines["dialogue"] = copy.dedup.pipelines.get("dialogue")  # type: ignore[assignment]
    assert (copy.engine.n, config.engine.n) == (7, 20)
    shallow = config.model_copy()
    shallow.quality = copy.quality  # its own fields may change ...
    with pytest.raises(ConfigFrozenError):
        shallow.engine.n = 8  # ... but the sections it shares with the frozen one may not


def test_the_dialogue_threshold_is_resolved_when_the_config_is_built() -> None:
    """A dialogue run's dedup bar is `dialogue.similarity_threshold`, set at build time;
    an interaction run keeps `dedup.threshold`."""
    dialogue = make_config(**{"engine.pipeline": "dialogue", "dialogue.similarity_threshold": 0.8})
    interaction = make_config(**{"dialogue.similarity_threshold": 0.8})
    assert dialogue.dedup.threshold == 0.8 and interaction.dedup.threshold == 0.9


def test_batch_mode_raises_the_worker_counts_without_changing_the_config() -> None:
    """Batch mode keeps `llm.batch.max_live` items live; the counts are derived, so the
    snapshot keeps what was asked for and a resume online is not widened."""
    online = make_config(**{"engine.max_workers": 8}).freeze()
    batch = make_config(
        **{"engine.max_workers": 8, "llm.mode": "batch", "llm.batch.max_live": 500}
    ).freeze()
    assert (online.run_workers, online.stage_workers) == (8, 20)
    assert (batch.run_workers, batch.stage_workers) == (500, 500)
    assert batch.engine.max_workers == 8 and batch.interaction_generation.max_workers == 20
