"""The cluster's parts without Ray: leases, the shared limit, merged counters, redispatch."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from engine_support import cli, subprocess_env

from asyncgen.cluster.coordinator import RateCoordinator, Report, Want
from asyncgen.cluster.dispatch import ShardDispatcher, WorkerSlot
from asyncgen.cluster.lease import CoordinatorBudget
from asyncgen.cluster.remote import merge_snapshots
from asyncgen.contract import Failure, Outcome, Record, WorkItem


class _Method:
    def __init__(self, fn: Any) -> None:
        self._fn = fn

    def remote(self, *args: Any) -> Awaitable[Any]:
        return self._fn(*args)


class FakeCoordinator:
    """A `RateCoordinator` behind the shape of an actor handle (`grant.remote(...)`)."""

    def __init__(self, real: RateCoordinator) -> None:
        self.real = real
        self.calls: list[tuple[list[Want], list[Report]]] = []
        self.grant = _Method(self._grant)
        self.reported = 0  # reports the real coordinator has taken in
        self._granted = asyncio.Condition()

    async def _grant(self, wants: list[Want], reports: list[Report]) -> list[int]:
        self.calls.append((list(wants), list(reports)))
        await asyncio.sleep(0.002)  # a round trip
        granted = await self.real.grant(wants, reports)
        self.reported += len(reports)
        async with self._granted:
            self._granted.notify_all()
        return granted

    async def until_reported(self, count: int) -> None:
        """Until `count` reports have reached the real coordinator (a wait on events: a
        fixed sleep failed whenever the test process paused across it)."""
        async with self._granted:
            await self._granted.wait_for(lambda: self.reported >= count)


def budget(coordinator: FakeCoordinator, batch: int = 16) -> CoordinatorBudget:
    async def resolve() -> FakeCoordinator:
        return coordinator

    return CoordinatorBudget(resolve, batch=batch, report_delay=0.01)


async def test_leases_batch_waiting_sends_and_carry_reports() -> None:
    """40 sends waiting at once go in leases of at most 16; reports ride along."""
    coordinator = FakeCoordinator(RateCoordinator({}, "t"))
    source = budget(coordinator)
    claims = await asyncio.gather(*(source.take(10, 10, urgent=False) for _ in range(40)))
    assert len(set(claims)) == 40
    assert all(len(wants) <= 16 for wants, _ in coordinator.calls)
    assert len(coordinator.calls) <= 4
    for claim in claims:
        source.settle(
            claim, outcome="ok", latency=0.01, used_tokens=15, info=None, retry_after=None
        )
    # the report delay passes: reports go without a lease
    await asyncio.wait_for(coordinator.until_reported(40), timeout=5)
    assert sum(len(reports) for _, reports in coordinator.calls) == 40
    assert coordinator.real.snapshot()["outstanding"] == 0


async def test_a_429_reaches_the_coordinator_at_once_and_slows_everyone() -> None:
    """One worker's 429 lowers the cluster's send rate at once (one limit for the cluster);
    a single 429 holds no one (the transport's rate control: issue 17)."""
    coordinator = FakeCoordinator(RateCoordinator({"rpm": 6000}, "t"))
    first, second = budget(coordinator), budget(coordinator)
    claim = await first.take(1, 1, urgent=False)
    first.settle(claim, outcome="rate_limited", latency=0.0, used_tokens=None, info=None,
                 retry_after=0.3)  # fmt: skip
    await asyncio.sleep(0.01)
    await second.take(1, 1, urgent=False)
    snapshot = coordinator.real.snapshot()
    assert snapshot["rate_events"] == 1 and snapshot["margin"] < 1.0


async def test_two_workers_share_one_rpm_budget() -> None:
    """Two sources leasing for 1.5 s from one 6,000 RPM coordinator get ~one limit, not two."""
    coordinator = FakeCoordinator(RateCoordinator({"rpm": 6000}, "t"))
    sources = [budget(coordinator), budget(coordinator)]
    deadline = time.monotonic() + 1.5
    granted = [0, 0]
    paused = 0.0  # seconds the loop could not run (a full GC, a busy machine)

    async def send(i: int) -> None:
        while time.monotonic() < deadline:
            await sources[i].take(1, 1, urgent=False)
            granted[i] += time.monotonic() <= deadline

    async def watch() -> None:
        nonlocal paused
        last = time.monotonic()
        while last < deadline:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            late = min(now, deadline) - last - 0.01
            paused += late if late > 0.04 else 0.0  # a pause, not the loop's jitter
            last = now

    await asyncio.gather(watch(), *(send(i % 2) for i in range(40)))
    total = sum(granted)
    # a 0.1 s burst (10) plus 100/s for 1.5 s; two private budgets would give twice that.
    # A pause of the process grants nothing for its length (the bucket holds one burst):
    # the floor counts only the time the loop ran (it read 76-116 under 0.05-0.4 s pauses)
    floor = 0.75 * (10 + 100 * (1.5 - paused))
    assert floor <= total <= 200, (granted, paused)
    assert min(granted) > 0.3 * total


def test_merged_counters_add_up() -> None:
    """Counts add, counters merge, limits take the tightest."""
    parts = [
        {"requests": 3, "tokens_in": 10, "retries": {"http_500": 1}, "rpm_limit": 600},
        {"requests": 5, "tokens_in": 7, "retries": {"http_500": 2, "timeout": 1}, "cost_usd": 0.5},
        {"requests": 1, "rpm_limit": 500, "latency_p95": 0.2},
    ]
    merged = merge_snapshots(parts)
    assert merged["requests"] == 9 and merged["tokens_in"] == 17
    assert merged["retries"] == {"http_500": 3, "timeout": 1}
    assert merged["rpm_limit"] == 500 and merged["latency_p95"] == 0.2
    assert merged["cost_usd"] == 0.5 and merged["workers"] == 2


class Lost(Exception):
    """Stands in for Ray's RayActorError."""


class FakeWorker:
    """A worker actor: outcomes stream per item; `die_after` outcomes, then it is gone."""

    def __init__(self, name: str, die_after: int | None = None) -> None:
        self.name = name
        self.die_after = die_after
        self.ran: list[int] = []
        self.run_shard = self

    def options(self, **_: Any) -> FakeWorker:
        return self

    def remote(self, items: list[WorkItem]) -> AsyncIterator[Awaitable[Any]]:
        return self._stream(items)

    async def _stream(self, items: list[WorkItem]) -> AsyncIterator[Awaitable[Any]]:
        for position, item in enumerate(items):
            await asyncio.sleep(0.001)
            if self.die_after is not None and len(self.ran) >= self.die_after:
                raise Lost(self.name)
            self.ran.append(item.index)
            outcome: Outcome = Record(id=item.record_id, data={"by": self.name})
            yield _ready(([(position, outcome)], {"requests": len(self.ran)}, []))


async def _ready(value: Any) -> Any:
    return value


async def test_a_dead_workers_unfinished_items_run_elsewhere_once() -> None:
    """Worker 0 dies after 5 outcomes; every item ends exactly once, the rest on worker 1."""
    dying, healthy = FakeWorker("w0", die_after=5), FakeWorker("w1")
    slots = [WorkerSlot(0, dying), WorkerSlot(1, healthy)]
    dispatcher = ShardDispatcher(
        slots, capacity=8, shard_size=4, is_lost=lambda exc: isinstance(exc, Lost)
    )
    dispatcher.start()
    items = [WorkItem(index=i, seed=0, payload=None) for i in range(60)]
    outcomes = await asyncio.gather(*(dispatcher.run_item(item) for item in items))
    await dispatcher.aclose()
    assert all(isinstance(o, Record) for o in outcomes)
    assert sorted(dying.ran + healthy.ran) == list(range(60))  # none twice, none lost
    assert len(dying.ran) == 5 and not slots[0].alive and dispatcher.redone > 0


async def test_no_worker_left_fails_waiting_items_with_cluster_error() -> None:
    """When the last worker dies, waiting items raise ClusterError (the engine stops)."""
    from asyncgen.errors import ClusterError

    slots = [WorkerSlot(0, FakeWorker("w0", die_after=2))]
    dispatcher = ShardDispatcher(slots, capacity=4, shard_size=4, is_lost=lambda e: True)
    dispatcher.start()
    results = await asyncio.gather(
        *(dispatcher.run_item(WorkItem(index=i, seed=0, payload=None)) for i in range(10)),
        return_exceptions=True,
    )
    await dispatcher.aclose()
    errors = [r for r in results if isinstance(r, ClusterError)]
    assert len(errors) == 8 and not any(isinstance(r, Failure) for r in results)


@pytest.mark.parametrize("command", ["generate", "complete"])
def test_ray_without_ray_installed_is_one_line_exit_2(tmp_path: Path, command: str) -> None:
    """`--ray` with Ray missing says how to install it, and creates nothing."""
    blocker = tmp_path / "blocker"
    (blocker / "ray").mkdir(parents=True)
    (blocker / "ray" / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"id": "a", "messages": [{"role": "user", "content": "hi"}]}\n')
    args = {
        "generate": ["generate", "--n", "3", "--out", str(tmp_path / "r")],
        "complete": ["complete", "--input", str(inputs), "--output", str(tmp_path / "o.jsonl")],
    }[command]
    env = subprocess_env()
    env["PYTHONPATH"] = f"{blocker}:{env['PYTHONPATH']}"
    result = subprocess.run(
        cli(*args, "--ray", "local", "--quiet"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: --ray needs Ray: pip install 'asyncgen[ray]'"]
    assert not (tmp_path / "r").exists() and not (tmp_path / "o.run").exists()


def test_ray_with_batch_mode_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """`--mode batch --ray`: one clear line, exit 2, no run directory."""
    result = subprocess.run(
        cli(
            "generate",
            "--n",
            "3",
            "--out",
            str(tmp_path / "r"),
            "--ray",
            "local",
            "--mode",
            "batch",
            "--quiet",
        ),  # fmt: skip
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: --mode batch runs on one machine (one Batch API job per round): drop --ray"
    ]
    assert not (tmp_path / "r").exists()


async def test_a_limiter_with_a_budget_source_asks_it_instead_of_its_buckets() -> None:
    """The transport's hook: take before each send, settle after, local buckets unused."""
    from asyncgen.config.llm import LimitSettings
    from asyncgen.llm.limiter import RateLimiter

    class Source:
        def __init__(self) -> None:
            self.taken: list[tuple[int, int, bool]] = []
            self.settled: list[tuple[object, str, int | None]] = []

        async def take(self, prompt_tokens: int, completion_tokens: int, *, urgent: bool) -> int:
            self.taken.append((prompt_tokens, completion_tokens, urgent))
            return len(self.taken)

        def settle(self, claim: object, *, outcome: str, latency: float, used_tokens: int | None,
                   info: object, retry_after: float | None) -> None:  # fmt: skip
            self.settled.append((claim, outcome, used_tokens))

    source = Source()
    limiter = RateLimiter(LimitSettings(rpm=60), clock=time.monotonic, budget=source)
    started = time.monotonic()
    permits = [await limiter.acquire(10, 5, urgent=i == 3) for i in range(20)]
    assert time.monotonic() - started < 0.5  # 60 RPM buckets would have allowed 1 now
    for permit in permits:
        limiter.release(permit, outcome="ok", used_tokens=12)
    assert limiter.needs_token_estimate
    assert source.taken[3] == (10, 5, True) and len(source.taken) == 20
    assert source.settled == [(i + 1, "ok", 12) for i in range(20)]
