"""Everything around one run: endpoint (or the embedded simulator), transport, gate, loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from asyncgen import collector, offload
from asyncgen.config import RunConfig, resolve_api_key
from asyncgen.contract import Pipeline, UniquenessGate
from asyncgen.engine.runner import RunOptions, run_generation
from asyncgen.engine.summary import RunSummary
from asyncgen.store.rundir import OpenRun, RunLayout

if TYPE_CHECKING:
    from rich.console import Console

    from asyncgen.llm import Transport
    from asyncgen.llm.types import RunClient

logger = logging.getLogger("asyncgen.engine")
T = TypeVar("T")

SIMULATED_NOTICE = (
    "No API key and no --base-url: using the built-in simulator on 127.0.0.1 "
    "(output is simulated, records are marked simulated: true)."
)


@dataclass(frozen=True)
class Endpoint:
    """Where calls go, with which key, and whether it is the embedded simulator."""

    base_url: str | None
    api_key: str | None
    is_simulated: bool


def needs_simulator(config: RunConfig) -> bool:
    """True when no key and no base URL are configured, or the provider is the simulator."""
    if config.llm.provider == "simulator":
        return True
    return resolve_api_key(config.llm) is None and not config.llm.base_url


def _configured_endpoint(config: RunConfig) -> Endpoint | None:
    """The configured endpoint with its key, or None when the run needs the simulator."""
    if needs_simulator(config):
        return None
    return Endpoint(config.llm.base_url, resolve_api_key(config.llm), is_simulated=False)


@contextlib.asynccontextmanager
async def open_endpoint(config: RunConfig, console: Console | None) -> AsyncIterator[Endpoint]:
    """The configured endpoint, or a simulator child process for the duration of the run.

    With the simulator, `config.llm.provider` becomes "simulator" (the snapshot says so,
    and a resume starts a simulator again).
    """
    # the key may come from `.env` files: read them off the loop, in one trip
    configured = await offload.to_thread(_configured_endpoint, config)
    if configured is not None:
        yield configured
        return
    from asyncgen.sim.embedded import start_simulator

    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    console.print(SIMULATED_NOTICE, highlight=False)
    if config.llm.provider != "simulator":  # the CLI's config says so already (and is frozen)
        config.llm.provider = "simulator"
    async with start_simulator(config.sim) as sim:
        yield Endpoint(sim.base_url, sim.api_key, is_simulated=True)


@contextlib.asynccontextmanager
async def open_transport(config: RunConfig, endpoint: Endpoint) -> AsyncIterator[Transport]:
    """The one transport of the run."""
    from asyncgen.llm import Transport

    transport = Transport.from_settings(
        config.llm, api_key=endpoint.api_key, base_url=endpoint.base_url
    )
    async with transport:
        yield transport


@contextlib.asynccontextmanager
async def open_client(
    config: RunConfig, endpoint: Endpoint, transport: Transport, run_dir: Path
) -> AsyncIterator[RunClient]:
    """The transport itself, or in batch mode (`llm.mode: batch`) the batch client over it.

    Batch mode keeps `llm.batch.max_live` conversations live (each waits on a round):
    `RunConfig.run_workers` and `stage_workers` raise the worker counts to it.
    """
    if config.llm.mode != "batch":
        from asyncgen.llm.batch_journal import unfinished_batches

        waiting = await offload.to_thread(unfinished_batches, run_dir)
        if waiting:
            logger.warning(
                "%s has %d batches submitted in batch mode and not collected; they are "
                "paid for. Rerun with --mode batch to use their answers.",
                run_dir,
                waiting,
            )
        yield transport
        return
    from asyncgen.llm.batch_client import open_batch_client

    async with open_batch_client(
        transport,
        config.llm,
        base_url=endpoint.base_url,
        api_key=endpoint.api_key,
        run_dir=run_dir,
        expected_round_time=config.sim.batch.round_time if endpoint.is_simulated else None,
    ) as client:
        yield client


def make_gate(config: RunConfig, run_dir: Path) -> UniquenessGate | None:
    """The uniqueness gate for this run, or None when dedup is off."""
    if not config.dedup.enabled:
        return None
    from asyncgen.dedup import create_gate  # lazy: keeps numpy and the embedders off start-up

    return create_gate(config, run_dir)


async def execute(
    config: RunConfig,
    pipeline: Pipeline,
    layout: RunLayout | OpenRun,
    *,
    options: RunOptions,
    console: Console | None,
    resume: bool = False,
    use_gate: bool = True,
) -> RunSummary:
    """Open the endpoint and transport, then run the pipeline into `layout`."""
    run_dir = layout.layout.run_dir if isinstance(layout, OpenRun) else layout.run_dir
    async with (
        open_endpoint(config, console) as endpoint,
        open_transport(config, endpoint) as transport,
        open_client(config, endpoint, transport, run_dir) as client,
    ):
        options.is_simulated = endpoint.is_simulated
        gate = make_gate(config, run_dir) if use_gate else None
        return await run_generation(
            config,
            pipeline,
            run_dir=layout,
            client=client,
            gate=gate,
            resume=resume,
            options=options,
        )


def run_loop(main: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
    """Run a coroutine on a fresh event loop (uvloop when available); the collector a
    hot start held (`asyncgen.collector`) runs again once the loop does."""
    loop_factory: Any = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_await(main))


async def _await(main: Awaitable[T]) -> T:
    collector.release()
    return await main
