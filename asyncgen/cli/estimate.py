"""`generate … --estimate`: a small pilot run, projected to the full n before a night's commit.

The pilot (default 20 items) runs the real pipeline against the real endpoint in a
temporary directory, with the run's settings, and its ledger says what each stage spent.
Calls made per conversation (assistant, user, noise, scenarios, dialogues) scale with the
records. The query stages scale with the calls the plan makes for n
(`interaction.stages` sizes them): one query-writing call per persona per `BATCH` queries,
one style transfer per query; the pilot gives each stage's requests per planned call
(re-asks included) and cost per request.

Wall time is start-up (the pilot's time beyond what its requests explain) plus the
largest of what the known limits allow (RPM, TPM: configured or learned from the pilot's
headers) and what the requests take at the pilot's median latency: the query stage runs
`min(interaction_generation.max_workers, engine.max_workers)` personas at once, each
writing its queries in sequential calls then style-transferring them together;
conversations are sequential turns with `min(llm.limits.concurrency, engine.max_workers)`
in flight.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncgen.config import RunConfig
from asyncgen.engine.progress import fmt_count, fmt_duration
from asyncgen.store.jsonl import iter_jsonl
from asyncgen.store.ledger import LedgerTotals, Spend, read_ledger
from asyncgen.store.rundir import RunLayout, read_json

PREP_KINDS = frozenset({"query_generation", "style_transfer"})


@dataclass(frozen=True)
class Estimate:
    """The pilot's figures and the projection for the full n."""

    pilot_items: int
    pilot_done: int
    pilot_spend: Spend
    pilot_seconds: float
    target: int
    requests: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    wall_s: float
    rpm_limit: float | None
    tpm_limit: float | None
    bound: str

    def lines(self) -> list[str]:
        """What `--estimate` prints."""
        pilot = self.pilot_spend
        limits = ", ".join(
            f"{name} {fmt_count(value)}"
            for name, value in (("rpm", self.rpm_limit), ("tpm", self.tpm_limit))
            if value
        )
        return [
            f"pilot: {self.pilot_done}/{self.pilot_items} records in "
            f"{fmt_duration(self.pilot_seconds)}, {pilot.requests} requests, "
            f"{fmt_count(pilot.tokens)} tokens, ${pilot.cost_usd:.4f}",
            f"projected for --n {self.target}:",
            f"  requests   {self.requests:,}",
            f"  tokens     {self.tokens_in:,} in / {self.tokens_out:,} out",
            f"  cost       ${self.cost_usd:,.{2 if self.cost_usd >= 10 else 4}f}",
            f"  wall time  {fmt_duration(self.wall_s)} ({self.wall_s:,.1f} s; "
            f"bound by {self.bound}; limits: {limits or 'none known'})",
        ]


def queries_for(config: RunConfig) -> int:
    """Query/style-transfer calls the interaction stages make for `config.engine.n`."""
    from asyncgen.interaction.stages import personas_needed, queries_needed

    personas = config.personas.num_personas
    return personas_needed(config, personas) * queries_needed(config, personas)


def stage_plan(config: RunConfig) -> tuple[int, int]:
    """(personas given queries, queries per persona) for `config.engine.n`."""
    from asyncgen.interaction.stages import personas_needed, queries_needed

    personas = config.personas.num_personas
    return personas_needed(config, personas), queries_needed(config, personas)


def planned_calls(config: RunConfig) -> dict[str, int]:
    """Calls each query stage makes for `config.engine.n`, before re-asks."""
    from asyncgen.interaction.queries.writer import BATCH

    personas, per_persona = stage_plan(config)
    return {
        "query_generation": personas * math.ceil(per_persona / BATCH),
        "style_transfer": personas * per_persona,
    }


def stage_seconds(config: RunConfig, latency: float) -> float:
    """The query stage at `latency` per call: personas in waves of the stage's workers,
    each `ceil(queries / BATCH)` writing calls in a row, then one style-transfer round."""
    from asyncgen.interaction.queries.writer import BATCH

    personas, per_persona = stage_plan(config)
    workers = max(1, min(config.interaction_generation.max_workers, config.engine.max_workers))
    return math.ceil(personas / workers) * (math.ceil(per_persona / BATCH) + 1) * latency


def pilot_config(config: RunConfig, items: int, run_dir: Path) -> RunConfig:
    """The run's settings for `items` records in `run_dir`; no file outside it is touched."""
    pilot = config.model_copy(deep=True)
    pilot.engine.n = items
    pilot.engine.out = str(run_dir)
    pilot.engine.metrics_port = None
    pilot.interaction_generation.export_training_data = False
    pilot.dialogue.output_file = Path(config.dialogue.output_file).name
    pilot.dialogue.hash_file = Path(config.dialogue.hash_file).name
    pilot.dialogue.embedding_file = Path(config.dialogue.embedding_file).name
    return pilot


def _last_limits(run_dir: Path) -> tuple[float | None, float | None, float]:
    """The RPM/TPM limits in force at the pilot's end (configured or learned) and its
    median request latency."""
    rpm = tpm = None
    latency = 0.0
    for _, line in iter_jsonl(RunLayout.in_dir(run_dir).metrics):
        rpm, tpm = line.get("rpm_limit") or rpm, line.get("tpm_limit") or tpm
        latency = float(line.get("latency_p50") or latency)
    return rpm, tpm, latency


def project(
    config: RunConfig,
    pilot: RunConfig,
    spend: LedgerTotals,
    summary: dict[str, Any],
    limits: tuple[float | None, float | None, float],
) -> Estimate:
    """Scale the pilot's spend and time to `config.engine.n`: each stage by its own plan."""
    target, items = config.engine.n, pilot.engine.n
    done = max(1, int(summary.get("done", 0)))
    has_stages = config.engine.pipeline == "interaction" and not config.personas.queries_file
    scales = dict.fromkeys(spend.by_kind, target / done)
    if has_stages:
        wanted, piloted = planned_calls(config), planned_calls(pilot)
        for kind in PREP_KINDS:
            scales[kind] = wanted[kind] / max(1, piloted[kind])
    requests = tokens_in = tokens_out = conversation_requests = 0
    cost = 0.0
    for kind, part in spend.by_kind.items():
        scale = scales[kind]
        requests += round(part.requests * scale)
        tokens_in += round(part.tokens_in * scale)
        tokens_out += round(part.tokens_out * scale)
        cost += part.cost_usd * scale
        if kind not in PREP_KINDS or not has_stages:
            conversation_requests += round(part.requests * scale)
    concurrency = max(1, min(config.llm.limits.concurrency, config.engine.max_workers))
    rpm, tpm, latency = limits

    def at_latency(run: RunConfig, conversations: float) -> float:
        stages = stage_seconds(run, latency) if has_stages else 0.0
        return stages + conversations * latency / concurrency

    pilot_conversations = sum(
        part.requests for kind, part in spend.by_kind.items()
        if kind not in PREP_KINDS or not has_stages
    )  # fmt: skip
    pilot_seconds = session_seconds(summary)
    start_up = max(0.0, pilot_seconds - at_latency(pilot, pilot_conversations))
    options = {
        f"latency {latency:.2f}s at {concurrency} in flight": at_latency(
            config, conversation_requests
        )
    }
    if rpm:
        options["rpm"] = requests / rpm * 60
    if tpm:
        options["tpm"] = (tokens_in + tokens_out) / tpm * 60
    bound = max(options, key=lambda k: options[k])
    return Estimate(
        pilot_items=items,
        pilot_done=int(summary.get("done", 0)),
        pilot_spend=spend.total,
        pilot_seconds=pilot_seconds,
        target=target,
        requests=requests,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=cost,
        wall_s=start_up + options[bound],
        rpm_limit=rpm,
        tpm_limit=tpm,
        bound=bound,
    )


def session_seconds(summary: dict[str, Any]) -> float:
    """Session start to finish (prepare included), from the summary's timestamps."""
    from datetime import datetime

    try:
        start = datetime.fromisoformat(str(summary["started_at"]))
        end = datetime.fromisoformat(str(summary["finished_at"]))
    except (KeyError, ValueError):
        return float(summary.get("wall_time_s") or 0.0)
    return max(float(summary.get("wall_time_s") or 0.0), (end - start).total_seconds())


def run_estimate(config: RunConfig, items: int, *, quiet: bool) -> Estimate:
    """Run the pilot in a temporary directory, project it, remove the directory.

    Raises:
        AsyncgenError: as `generate` would (bad key, endpoint, budget without a price).
    """
    from asyncgen.cli.launch import launch
    from asyncgen.engine.registry import load_pipeline

    items = max(1, min(items, config.engine.n))
    folder = Path(tempfile.mkdtemp(prefix="asyncgen-estimate-"))
    try:
        run_dir = folder / "pilot"
        pilot = pilot_config(config, items, run_dir)
        pipeline = load_pipeline(pilot.engine.pipeline, pilot)
        layout = RunLayout.in_dir(run_dir, pipeline.records_file, pilot.engine.log_file)
        launch(pilot, pipeline, layout, quiet=True, resume=False, use_gate=True)
        summary = read_json(layout.summary)
        spend = read_ledger(run_dir) or LedgerTotals()
        return project(config, pilot, spend, summary, _last_limits(run_dir))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
