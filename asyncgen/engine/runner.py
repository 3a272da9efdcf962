"""`run_generation`: one run of a pipeline into a run directory, fresh or resumed."""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from asyncgen import offload
from asyncgen.config import RunConfig
from asyncgen.contract import Pipeline, RunContext, UniquenessGate
from asyncgen.engine.breaker import FailureBreaker
from asyncgen.engine.lag import LagMonitor
from asyncgen.engine.metrics import MetricsRecorder
from asyncgen.engine.plan import Planner, PlanStart, find_start
from asyncgen.engine.progress import Mode, ProgressReporter, display_for
from asyncgen.engine.shutdown import Shutdown
from asyncgen.engine.stages import StageMeter
from asyncgen.engine.summary import RunSummary, Status
from asyncgen.engine.tally import Sampler, Tally, transport_stats
from asyncgen.engine.workers import WorkerPool, Writers
from asyncgen.errors import StoreError
from asyncgen.jsontypes import JsonObject
from asyncgen.llm.types import RunClient
from asyncgen.quality.diversity import build_watch
from asyncgen.report.live import LiveReport
from asyncgen.store import lock
from asyncgen.store.index import write_index
from asyncgen.store.jsonl import JsonlWriter
from asyncgen.store.ledger import Ledger, ledger_path

if TYPE_CHECKING:
    from rich.console import Console

    from asyncgen.engine.prometheus import MetricsServer, RunCollector
    from asyncgen.quality.judge import QualityJudge
from asyncgen.store.resume import ExistingRun, load_existing
from asyncgen.store.rundir import (
    OpenRun,
    RunLayout,
    open_run,
    write_json_atomic,
)

logger = logging.getLogger("asyncgen.engine")


_heap_frozen = False


def _freeze_heap() -> None:
    """Move everything loaded so far out of the collector's reach.

    Full (generation 2) collections otherwise rescan every module, model and settings
    object each time, and each one stalls the event loop: measured 130-175 ms per pass
    at full speed, the bulk of the loop's lag. What the run allocates later is still
    collected normally. A young-generation pass only (not a full one: ~20-40 ms of the
    first request's start-up, for the handful of start-up cycles it would find).

    Once per process: a program that calls the Python API run after run would otherwise
    pin each earlier run's uncollected garbage for good.
    """
    global _heap_frozen
    if _heap_frozen:
        return
    _heap_frozen = True
    gc.collect(1)
    gc.freeze()


def utc_now() -> datetime:
    """The wall clock, injectable for tests."""
    return datetime.now(UTC)


@dataclass
class RunOptions:
    """How a run shows itself and reacts to signals; every field has a sensible default."""

    quiet: bool = False
    console: Console | None = None
    progress: Mode | None = None
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = utc_now
    is_simulated: bool = False
    install_signals: bool = False
    shutdown: Shutdown | None = None
    lag_interval: float | None = None
    title: str | None = None
    extra: JsonObject = field(default_factory=dict)


async def run_generation(
    config: RunConfig,
    pipeline: Pipeline,
    *,
    run_dir: Path | RunLayout | OpenRun,
    client: RunClient,
    gate: UniquenessGate | None = None,
    resume: bool = False,
    options: RunOptions | None = None,
) -> RunSummary:
    """Run `pipeline` until the run directory holds `config.engine.n` records.

    A directory that already holds a run is resumed (the same as `resume=True`): torn
    tails are cut, the done set is rebuilt, and only missing records are generated.

    Args:
        config: the effective configuration (n, seed, workers, cadences from `engine`);
            frozen here, so any later assignment to it raises `ConfigFrozenError`.
        pipeline: the plug-in that plans and runs items.
        run_dir: the run directory, a full layout (as `complete` uses), or a directory
            the caller already opened (`store.open_run`; the CLI does, before starting a
            simulator): it is opened once either way.
        client: the one transport every call goes through.
        gate: the uniqueness gate, or None to keep every record.
        resume: require an existing run in `run_dir`.
        options: display, clocks, signals.

    Returns:
        The run's summary (also written to summary.json).

    Raises:
        StoreError: the directory cannot be written, or holds a run with another plan.
        RunLockedError: another process is writing the run directory.
    """
    config.freeze()  # the effective config: planned, fingerprinted and snapshotted as is
    opts = options or RunOptions()
    opened = run_dir if isinstance(run_dir, OpenRun) else None
    if isinstance(run_dir, OpenRun):
        layout = run_dir.layout
    elif isinstance(run_dir, RunLayout):
        layout = run_dir
    else:
        layout = _layout(run_dir, pipeline, config)
    if resume and not layout.plan.exists():
        raise StoreError(f"nothing to resume in {layout.run_dir}: it holds no run (no plan.json)")
    ctx = RunContext(
        config=config,
        client=client,
        run_dir=layout.run_dir,
        logger=logging.getLogger(f"asyncgen.{pipeline.name}"),
        is_simulated=opts.is_simulated,
    )
    try:
        await offload.to_thread(lock.acquire, layout.run_dir)
    except BaseException:
        if gate is not None:  # never started: stops its preload, writes nothing
            await gate.aclose()
        raise
    started_at = opts.wall()
    ledger = Ledger(
        ledger_path(layout.run_dir),
        session_name(started_at),
        fsync_interval=config.engine.fsync_interval,
    )
    listeners = client.usage.listeners  # where the ledger hooks in
    exporter: MetricsServer | None = None
    try:
        await offload.to_thread(ledger.open)
        await ledger.start()
        listeners.append(ledger.record)
        _carry_budget(client, ledger)
        client.link_ledger(ledger.charges_for, ledger.flush)  # batch mode: a part charged once
        exporter = await _start_exporter(config, client, ledger)
        if opened is None:
            await offload.to_thread(open_run, layout, pipeline, config)
        else:  # the CLI's snapshot is durable before prepare, which may send requests
            await opened.settled()
        meter = StageMeter(ledger, pipeline, clock=opts.clock)
        existing = await _prepare_with_progress(ctx, pipeline, layout, gate, opts, meter)
        run = _Run(config, pipeline, layout, ctx, existing, gate, opts, ledger, started_at)
        run.judge = await _judge(config)
        run.collector = exporter.collector if exporter is not None else None
        run.stage_meter = meter
        return await run.execute()
    finally:
        try:
            await _close(pipeline, gate)
        finally:
            if exporter is not None:
                await exporter.aclose()
            await client.settle()  # batch answers being charged land before the ledger shuts
            if ledger.record in listeners:
                listeners.remove(ledger.record)
            await ledger.aclose()
            await offload.to_thread(lock.release, layout.run_dir)


async def _prepare_with_progress(
    ctx: RunContext,
    pipeline: Pipeline,
    layout: RunLayout,
    gate: UniquenessGate | None,
    opts: RunOptions,
    meter: StageMeter,
) -> ExistingRun:
    """`_prepare` with the stage rows on the display (a transient one, replaced by the run's)."""
    console, mode = display_for(opts.console, opts.progress, quiet=opts.quiet)
    display = ProgressReporter(
        None,
        mode=mode,
        console=console,
        logger=logger,
        log_interval=ctx.config.engine.progress_interval,
        title=opts.title or f"asyncgen {pipeline.name}: preparing",
        stages=meter.rows,
        transient=True,
    )
    display.start()
    try:
        return await _prepare(ctx, pipeline, layout, gate)
    finally:
        await display.aclose()


async def _start_exporter(
    config: RunConfig, client: RunClient, ledger: Ledger
) -> MetricsServer | None:
    """The Prometheus endpoint when `engine.metrics_port` is set (up before any stage)."""
    port = config.engine.metrics_port
    if port is None:
        return None
    from asyncgen.engine.prometheus import MetricsServer, RunCollector

    server = MetricsServer(RunCollector(client, ledger), host=config.engine.metrics_host, port=port)
    await server.start()
    return server


async def _judge(config: RunConfig) -> QualityJudge | None:
    """The quality judge when `quality.judge.enabled`. Loaded in a thread only then: its
    module reads the shipped prompt templates when imported (~3 ms before a first
    request that never needs them)."""
    if not config.quality.judge.enabled:
        return None

    def load() -> QualityJudge | None:
        from asyncgen.quality.judge import build_judge

        return build_judge(config)

    return await offload.to_thread(load)


def _carry_budget(client: RunClient, ledger: Ledger) -> None:
    """Earlier sessions' spend counts against --max-cost/--max-tokens (the run's budget)."""
    client.usage.carry(ledger.before.cost_usd, ledger.before.tokens)


def session_name(started_at: datetime) -> str:
    """A session's id in metrics and ledger lines: its UTC start to the microsecond."""
    return started_at.strftime("%Y%m%dT%H%M%S.%fZ")


async def _close(pipeline: Pipeline, gate: UniquenessGate | None) -> None:
    """Stop the gate and let the pipeline write its end files."""
    try:
        if gate is not None:
            await gate.aclose()
    finally:
        await pipeline.aclose()


async def _prepare(
    ctx: RunContext, pipeline: Pipeline, layout: RunLayout, gate: UniquenessGate | None
) -> ExistingRun:
    """Prepare the pipeline, rebuild what is on disk, start the gate."""
    await pipeline.prepare(ctx)
    retry_failures = pipeline.traits().retry_failures_on_resume
    existing = await offload.to_thread(
        partial(load_existing, collect_dedup=gate is not None, retry_failures=retry_failures),
        layout,
        pipeline,
    )
    if existing.done or existing.failed or existing.rejected:
        logger.info(
            "resuming %s: %d records, %d failures, %d rejects on disk",
            layout.run_dir,
            existing.done,
            existing.failed,
            existing.rejected,
        )
    if gate is not None:
        await gate.start(layout.run_dir, existing.dedup_items)
        existing.dedup_items = []
    return existing


def _layout(run_dir: Path, pipeline: Pipeline, config: RunConfig) -> RunLayout:
    return RunLayout.in_dir(run_dir, pipeline.records_file, config.engine.log_file)


class _Run:
    """One session of a run: set up counters and tasks, work, then account."""

    def __init__(
        self,
        config: RunConfig,
        pipeline: Pipeline,
        layout: RunLayout,
        ctx: RunContext,
        existing: ExistingRun,
        gate: UniquenessGate | None,
        opts: RunOptions,
        ledger: Ledger,
        started_at: datetime,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.collector: RunCollector | None = None
        self.stage_meter: StageMeter | None = None
        self.pipeline = pipeline
        self.layout = layout
        self.ctx = ctx
        self.existing = existing
        self.gate = gate
        self.opts = opts
        self.engine = config.engine
        self.shutdown = opts.shutdown or Shutdown()
        self.started_at = started_at
        self.session = ledger.session
        self.lag = LagMonitor(opts.lag_interval or config.engine.lag_interval)
        in_dir = layout.records.parent == layout.run_dir  # `complete` writes elsewhere
        self.live = LiveReport(layout.run_dir, config.report, enabled=in_dir)
        self.traits = pipeline.traits()  # after prepare: a finite plan knows its size now
        self.judge: QualityJudge | None = None  # `_judge`, set by run_generation
        self.watch = build_watch(config.quality.diversity)

    async def execute(self) -> RunSummary:
        """Work through the plan, then write the index and the summary."""
        target, need, start_at = await offload.cpu(self._target_and_need)
        tally = Tally(
            target=target,
            done_before=self.existing.done,
            failed_before=self.existing.failed,
            rejected_before=self.existing.rejected,
            dedup_before=self.existing.dedup_rejects,
        )
        planner = Planner(
            self.pipeline,
            need=need,
            is_accounted=self.existing.is_accounted,
            max_rounds=self._max_rounds(),
            plan_size=self.traits.plan_size,
            start=start_at,
            patience=self.engine.supplement_patience,
        )
        sampler = Sampler(
            tally,
            planner,
            self.ctx.client,
            self.lag,
            self.opts.clock,
            run_cost=lambda: self.ledger.totals.total.cost_usd,
        )
        if self.collector is not None:
            self.collector.sample = sampler.sample
        if self.watch is not None:
            watch = self.watch
            sampler.diversity = lambda: watch.latest
        _freeze_heap()
        start = self.opts.clock()
        pool = await self._work(planner, tally, sampler)
        wall_time = self.opts.clock() - start
        summary = await self._account(tally, planner, pool, wall_time)
        await self.live.finish()
        if pool.fatal is not None:
            raise pool.fatal
        return summary

    def _max_rounds(self) -> int:
        """engine.max_supplement_rounds, unless the pipeline has its own (or none)."""
        if not self.traits.supplements:
            return 0
        own = self.traits.max_supplement_rounds
        return own if own is not None else self.engine.max_supplement_rounds

    def _target_and_need(self) -> tuple[int, int, PlanStart]:
        """The record target, the items this session must still plan, and where to start."""
        plan_size = self.traits.plan_size
        existing = self.existing
        accounted = existing.done + len(existing.skip_ids - existing.done_ids)
        if plan_size is not None:
            start = find_start(self.pipeline, existing.is_accounted, accounted, plan_size)
            return plan_size, plan_size - start.matched, start
        target = self.engine.n
        if existing.done > target:
            raise StoreError(
                f"{self.layout.run_dir} already holds {existing.done} records, "
                f"more than --n {target}"
            )
        limit = accounted + max(10_000, 2 * target)
        start = find_start(self.pipeline, existing.is_accounted, accounted, limit)
        if start.matched < accounted:  # ids from elsewhere: let the planner skip lazily
            start = PlanStart()
        return target, target - existing.done, start

    async def _work(self, planner: Planner, tally: Tally, sampler: Sampler) -> WorkerPool:
        """Start writers, lag ticker, metrics and progress; run the pool; stop them all."""
        writers = self._writers()
        metrics_writer = JsonlWriter(self.layout.metrics, fsync_interval=self.engine.fsync_interval)
        async with contextlib.AsyncExitStack() as files:  # writers close in reverse order
            await JsonlWriter.start_all(
                (writers.records, writers.failures, writers.rejected, metrics_writer), files
            )
            return await self._run_pool(planner, tally, sampler, writers, metrics_writer)

    async def _run_pool(
        self,
        planner: Planner,
        tally: Tally,
        sampler: Sampler,
        writers: Writers,
        metrics_writer: JsonlWriter,
    ) -> WorkerPool:
        """Lag ticker, metrics and progress around the pool (the writers are open)."""
        self.lag.start()
        metrics = MetricsRecorder(
            metrics_writer,
            sampler.sample,
            self.lag,
            interval=self.engine.metrics_interval,
            session=self.session,
            wall=self.opts.wall,
            on_line=self.live.poke,
            before_line=self.watch.refresh if self.watch is not None else None,
        )
        metrics.start()
        progress = self._progress(sampler)
        progress.start()
        if self.opts.install_signals:
            self.shutdown.install()
        pool = self._pool(planner, tally, writers)
        # batch mode: a round flushes once every live item waits
        self.ctx.client.attach_run(pool.live, lambda: (tally.done_total, tally.target))
        try:
            await pool.run()
        except Exception:
            if pool.fatal is None:
                raise
        finally:
            if self.opts.install_signals:
                self.shutdown.uninstall()
            await progress.aclose()
            await metrics.aclose()
            await self.lag.aclose()
        return pool

    def _pool(self, planner: Planner, tally: Tally, writers: Writers) -> WorkerPool:
        return WorkerPool(
            self.pipeline,
            self.ctx,
            planner,
            tally,
            writers,
            self.shutdown,
            gate=self.gate,
            max_workers=self.config.run_workers,
            queue_size=self.engine.queue_size,
            grace_period=self.engine.grace_period,
            breaker=FailureBreaker(self.engine.stop_failure_share, self.engine.stop_failure_window),
            judge=self.judge,
            watch=self.watch,
        )

    def _writers(self) -> Writers:
        def make(path: Path) -> JsonlWriter:
            return JsonlWriter(
                path, fsync_interval=self.engine.fsync_interval, queue_size=self.engine.queue_size
            )

        return Writers(
            records=make(self.layout.records),
            failures=make(self.layout.failures),
            rejected=make(self.layout.rejected),
        )

    def _progress(self, sampler: Sampler) -> ProgressReporter:
        console, mode = display_for(self.opts.console, self.opts.progress, quiet=self.opts.quiet)
        return ProgressReporter(
            sampler.sample,
            mode=mode,
            console=console,
            logger=logger,
            log_interval=self.engine.progress_interval,
            title=self.opts.title or f"asyncgen {self.pipeline.name}",
            stages=self.stage_meter.rows if self.stage_meter is not None else None,
        )

    async def _account(
        self, tally: Tally, planner: Planner, pool: WorkerPool, wall_time: float
    ) -> RunSummary:
        """Write index.json and summary.json; return the summary."""
        summary = self._summary(tally, planner, pool, wall_time)
        summary.short_reason = self._short_reason(summary.status, planner)
        summary.add_spend(self.ledger.totals.to_dict())
        if pool.fatal is not None:
            summary.error = f"{type(pool.fatal).__name__}: {pool.fatal}"
        elif pool.breaker.tripped:
            summary.error = pool.breaker.tripped
        key = self.traits.index_key
        try:
            await offload.to_thread(
                write_index,
                self.layout.records,
                self.layout.index,
                key,
                self.pipeline.index_entry,
                summary.finished_at,
            )
        except Exception:  # the records are safe; a broken index must not hide the summary
            logger.exception("could not write %s", self.layout.index)
        await offload.to_thread(write_json_atomic, self.layout.summary, summary.to_dict())
        return summary

    def _summary(
        self, tally: Tally, planner: Planner, pool: WorkerPool, wall_time: float
    ) -> RunSummary:
        stats = transport_stats(self.ctx.client)
        retries = stats.get("retries", 0)
        return RunSummary(
            pipeline=self.pipeline.name,
            run_dir=str(self.layout.run_dir),
            status=self._status(tally, planner, pool),
            target=tally.target,
            done=tally.done_total,
            failed=tally.failed_total,
            rejected=tally.rejected_total,
            not_started=planner.owed,
            unreplaced=planner.unreplaced,
            dedup_rejects=tally.dedup_before + tally.dedup_rejects,
            supplement_rounds=planner.rounds_used,
            max_supplement_rounds=planner.max_rounds,
            done_before=tally.done_before,
            session_done=tally.done,
            session_failed=tally.failed,
            session_rejected=tally.rejected,
            requests=int(stats.get("requests", 0)),
            rate_limited=int(stats.get("rate_limited", 0)),
            retries=int(sum(retries.values()) if isinstance(retries, dict) else retries),
            tokens_in=int(stats.get("tokens_in", 0)),
            tokens_out=int(stats.get("tokens_out", 0)),
            cost_usd=float(stats.get("cost_usd", 0.0)),
            wall_time_s=wall_time,
            loop_lag=self.lag.total.summary(),
            simulated=self.ctx.is_simulated,
            started_at=self.started_at.isoformat(timespec="seconds"),
            finished_at=self.opts.wall().isoformat(timespec="seconds"),
            failure_reasons=dict(tally.reasons.most_common(10)),
            torn_bytes_dropped=sum(self.existing.torn_bytes.values()),
            batch=stats.get("batch"),
            quality=self.judge.summary() if self.judge is not None else None,
            figures=self.pipeline.summary_figures(),
            diversity=self.watch.summary() if self.watch is not None else None,
        )

    def _short_reason(self, status: Status, planner: Planner) -> str | None:
        """Why a run holds fewer than n records, in one word (None when complete)."""
        if status == "complete":
            return None
        if status == "failing":
            return "breaker"
        if status in ("interrupted", "budget"):
            return status
        if planner.stopped_no_progress:
            return "no_progress"
        if planner.is_exhausted:
            return "plan_exhausted"
        return "round_limit" if planner.unreplaced else "short"

    def _status(self, tally: Tally, planner: Planner, pool: WorkerPool) -> Status:
        if pool.breaker.tripped:
            return "failing"
        if self.shutdown.is_stopping:
            return "interrupted"
        if pool.budget_stop and planner.owed:
            return "budget"
        is_finite = self.traits.plan_size is not None
        if planner.owed or (not is_finite and tally.done_total < tally.target):
            return "short"
        return "complete"
