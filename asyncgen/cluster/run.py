"""`execute_on_cluster`: one run on Ray, the cluster counterpart of `engine.session.execute`.

The driver opens the endpoint (the built-in simulator, when no key and no URL are set,
runs here on 127.0.0.1), joins or starts the cluster, creates the rate registry, the
dedup service (on this node: its state is in the run directory) and, once the run
directory is prepared, the workers; then it runs the ordinary engine with the
`RemotePipeline`, `RemoteGate` and `ClusterClient` in place of the local ones. So the
run directory, resume, accounting, progress and summary are a local run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from typing import Any

from rich.console import Console

from asyncgen import offload
from asyncgen.cluster.connect import Cluster, connect, is_loopback
from asyncgen.cluster.coordinator import RateRegistry
from asyncgen.cluster.dedup import DedupService, RemoteGate
from asyncgen.cluster.dispatch import ShardDispatcher, WorkerSlot
from asyncgen.cluster.lease import CoordinatorBudget
from asyncgen.cluster.remote import ClusterClient, RemotePipeline
from asyncgen.cluster.worker import ShardWorker, WorkerSpec
from asyncgen.config import RunConfig
from asyncgen.config.loader import redacted
from asyncgen.contract import Pipeline, RunContext
from asyncgen.engine.runner import RunOptions, run_generation
from asyncgen.engine.session import Endpoint, open_endpoint
from asyncgen.engine.summary import RunSummary
from asyncgen.errors import ClusterError, ConfigError
from asyncgen.store.rundir import OpenRun, RunLayout

logger = logging.getLogger("asyncgen.cluster")
STOP_TIMEOUT = 10.0


async def execute_on_cluster(
    config: RunConfig,
    pipeline: Pipeline,
    layout: RunLayout | OpenRun,
    *,
    options: RunOptions,
    console: Console | None,
    resume: bool = False,
    use_gate: bool = True,
) -> RunSummary:
    """Run the pipeline into `layout` with its items on the Ray cluster `engine.ray.address`
    (`execute`'s signature; an opened run is reopened by the cluster's own runner).

    Raises:
        ConfigError: Ray is missing, the cluster cannot be reached, or the built-in
            simulator (loopback only) would have to serve a cluster on other machines.
        ClusterError: the cluster lost a part the run cannot go on without.
    """
    address = config.engine.ray.address
    assert address is not None
    if isinstance(layout, OpenRun):
        await layout.settled()  # its writes done before the cluster's runner reopens it
        layout = layout.layout
    async with open_endpoint(config, console) as endpoint:
        if endpoint.is_simulated and not is_loopback(address):
            raise ConfigError(
                "the built-in simulator listens on 127.0.0.1 only; with a Ray cluster at "
                f"{address} give --base-url (and the key in the workers' environment)"
            )
        options.is_simulated = endpoint.is_simulated
        _share_key(config, endpoint, address)
        cpus = _local_cpus(config)
        # On the loop's thread: Ray sets signal handlers only from the main thread, and
        # nothing runs on the loop yet (the simulator is a child process).
        cluster = connect(address, num_cpus=cpus)
        try:
            return await _run(
                config, pipeline, layout, cluster, endpoint, options, resume, use_gate
            )
        finally:
            await offload.to_thread(cluster.shutdown)


def _share_key(config: RunConfig, endpoint: Endpoint, address: str) -> None:
    """A local cluster's workers inherit this process's environment: put the key there
    (read from `.env` perhaps), so it never travels in a task's arguments."""
    if endpoint.is_simulated or not endpoint.api_key or not is_loopback(address):
        return
    from asyncgen.config.llm import PROVIDER_DEFAULTS

    var = config.llm.api_key_env or PROVIDER_DEFAULTS[config.llm.provider][1]
    os.environ.setdefault(var, endpoint.api_key)


def _local_cpus(config: RunConfig) -> int:
    """Logical CPUs of a local cluster: room for every worker (the rest reserve none)."""
    ray_settings = config.engine.ray
    need = math.ceil(ray_settings.workers * ray_settings.worker_cpus)
    return max(os.cpu_count() or 1, need)


async def _run(
    config: RunConfig,
    pipeline: Pipeline,
    layout: RunLayout,
    cluster: Cluster,
    endpoint: Endpoint,
    options: RunOptions,
    resume: bool,
    use_gate: bool,
) -> RunSummary:
    from asyncgen.llm import Transport

    ray = cluster.ray
    settings = config.engine.ray
    registry = ray.remote(num_cpus=0)(RateRegistry).remote(
        config.llm.limits.model_dump(mode="json")
    )

    budgets: list[CoordinatorBudget] = []

    def budget_for(base_url: str, key_env: str, model: str) -> CoordinatorBudget:
        budget = CoordinatorBudget(
            lambda: registry.coordinator.remote(base_url, key_env, model),
            batch=settings.lease_batch,
        )
        budgets.append(budget)
        return budget

    workers = ClusterWorkers(cluster, config, layout, endpoint, registry, pipeline)
    transport = Transport.from_settings(
        config.llm, api_key=endpoint.api_key, base_url=endpoint.base_url, budget_for=budget_for
    )
    workers.charge_listeners = transport.usage.listeners
    async with transport:
        transport.limiter_for()  # the default model's coordinator: started before any item
        await asyncio.gather(*(budget.warm() for budget in budgets))
        client = ClusterClient(
            transport,
            lambda: workers.slots,
            max_cost=config.llm.max_cost,
            max_tokens=config.llm.max_tokens,
        )
        remote = RemotePipeline(pipeline, workers.start, workers.stop)
        gate = _gate(cluster, config, layout) if use_gate and config.dedup.enabled else None
        return await run_generation(
            config,
            remote,
            run_dir=layout,
            client=client,
            gate=gate,
            resume=resume,
            options=options,
        )


def _gate(cluster: Cluster, config: RunConfig, layout: RunLayout) -> RemoteGate:
    """The dedup service, pinned to this node (its index is saved in the run directory).

    It reserves no CPU in Ray's accounting, so it is placed even on a head node that
    offers none to tasks; its embedder runs in a child process as in a local run.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    strategy = NodeAffinitySchedulingStrategy(node_id=cluster.node_id(), soft=False)
    service = (
        cluster.ray.remote(DedupService)
        .options(num_cpus=0, max_concurrency=10_000, scheduling_strategy=strategy)
        .remote(_plain_config(config), str(layout.run_dir))
    )
    return RemoteGate(service)


def _plain_config(config: RunConfig) -> dict[str, Any]:
    """The config as JSON without any secret (workers read keys from their environment)."""
    plain: dict[str, Any] = _drop_redacted(redacted(config.model_dump(mode="json")))
    return plain


def _drop_redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_redacted(v) for k, v in value.items() if v != "***"}
    if isinstance(value, list):
        return [_drop_redacted(v) for v in value]
    return value


class ClusterWorkers:
    """Starts the run's worker actors, feeds them through a dispatcher, stops them."""

    def __init__(
        self,
        cluster: Cluster,
        config: RunConfig,
        layout: RunLayout,
        endpoint: Endpoint,
        registry: Any,
        pipeline: Pipeline,
    ) -> None:
        self._cluster = cluster
        self._config = config
        self._layout = layout
        self._endpoint = endpoint
        self._registry = registry
        self._pipeline = _pickled(cluster, pipeline)
        self.slots: list[WorkerSlot] = []
        self.charge_listeners: list[Any] = []
        self.dispatcher: ShardDispatcher | None = None

    async def start(self, ctx: RunContext) -> ShardDispatcher:
        """Create the workers, wait until each has prepared the pipeline, start dispatching.

        Raises:
            ClusterError: a worker could not start (its error is named).
        """
        ray = self._cluster.ray
        settings = self._config.engine.ray
        plain = _plain_config(self._config)
        actor_class = ray.remote(ShardWorker).options(
            num_cpus=settings.worker_cpus, max_concurrency=100_000, max_restarts=0
        )
        actors = [
            actor_class.remote(
                WorkerSpec(
                    index=i,
                    config=plain,
                    run_dir=str(self._layout.run_dir),
                    base_url=self._endpoint.base_url,
                    is_simulated=self._endpoint.is_simulated,
                    sim_api_key=self._endpoint.api_key if self._endpoint.is_simulated else None,
                    registry=self._registry,
                    lease_batch=settings.lease_batch,
                    stats_interval=settings.stats_interval,
                    pipeline=self._pipeline,
                )
            )
            for i in range(settings.workers)
        ]
        try:
            infos = await asyncio.wait_for(
                asyncio.gather(*(actor.start.remote() for actor in actors)),
                settings.start_timeout,
            )
        except Exception as exc:
            for actor in actors:
                with contextlib.suppress(Exception):
                    ray.kill(actor)
            if isinstance(exc, TimeoutError):
                need = settings.workers * settings.worker_cpus
                raise ClusterError(
                    f"{settings.workers} Ray workers were not running after "
                    f"{settings.start_timeout:g} s: they need {need:g} free CPUs "
                    f"(engine.ray.worker_cpus each); the cluster has "
                    f"{ray.available_resources().get('CPU', 0):g}"
                ) from exc
            raise ClusterError(f"a Ray worker could not start: {_first_line(exc)}") from exc
        self.slots = [
            WorkerSlot(index=i, actor=actor, pid=int(info["pid"]))
            for i, (actor, info) in enumerate(zip(actors, infos, strict=True))
        ]
        for info in infos:
            logger.info("ray worker %s: pid %s, node %s", info["index"], info["pid"], info["node"])
        self.dispatcher = ShardDispatcher(
            self.slots,
            capacity=self._config.engine.max_workers,
            shard_size=settings.shard_size,
            is_lost=lambda exc: isinstance(exc, ray.exceptions.RayActorError),
            on_charges=self._charged,
        )
        self.dispatcher.start()
        return self.dispatcher

    def _charged(self, charges: list[Any]) -> None:
        """Workers' charges reach the run's ledger as the driver's own do (its listeners)."""
        for listener in list(self.charge_listeners):
            for charge in charges:
                listener(charge)

    async def stop(self) -> None:
        """Stop dispatching; let live workers send their last reports; end them."""
        ray = self._cluster.ray
        if self.dispatcher is not None:
            await self.dispatcher.aclose()
            if self.dispatcher.redone:
                logger.info("%d items of lost workers ran on others", self.dispatcher.redone)
            for slot in self.slots:
                logger.info(
                    "ray worker %d: %d items in %d shards, %d messages, %d leases%s",
                    slot.index,
                    slot.done,
                    slot.shards,
                    slot.messages,
                    int(slot.stats.get("leases", 0)),
                    "" if slot.alive else " (lost)",
                )
        for slot in self.slots:
            if not slot.alive:
                continue
            with contextlib.suppress(Exception):
                slot.stats = await asyncio.wait_for(slot.actor.aclose.remote(), STOP_TIMEOUT)
            with contextlib.suppress(Exception):
                ray.kill(slot.actor)


def _pickled(cluster: Cluster, pipeline: Pipeline) -> bytes | None:
    """The pipeline as it is before `prepare`, for the workers to unpickle (None: they
    construct it by name from the config)."""
    try:
        data: bytes = cluster.ray.cloudpickle.dumps(pipeline)
    except Exception as exc:
        logger.info("workers construct the pipeline by name (%s)", type(exc).__name__)
        return None
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
