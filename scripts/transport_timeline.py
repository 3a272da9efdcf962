"""Where the time goes in one row of the transport matrix (docs/benchmarks.md).

The transport in-process (not the `complete` process: the limiter is the same) against a
fresh simulator of the row, its limiter's `acquire` and `release` stamped: when each
request left and when its answer was read. Printed: the ratio (as the bench's), the send
phase and the tail after the last send, the client's latency, and until the last send
how long the endpoint's slots (`--slots`) were all taken or not: a slot free while the
pacer held the next send is a pacing gap, all taken is the endpoint's own limit.

    PYTHONPATH=. .venv/bin/python scripts/transport_timeline.py concurrency --rpm 6000
    PYTHONPATH=. .venv/bin/python scripts/transport_timeline.py daily --rpm 6000 --slots 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_transport as bench

from asyncgen.config import LLMSettings
from asyncgen.llm import ChatRequest, Transport
from asyncgen.llm.limiter import Permit, RateLimiter

Stamp = tuple[float, float]  # (sent, answered), monotonic seconds


async def run(base_url: str, n: int, rpm: int | None) -> list[Stamp]:
    """n requests through the transport, 50 at a time (the bench's cap): each one's stamps."""
    limits: dict[str, Any] = {"concurrency": bench.CAP}
    if rpm:
        limits["rpm"] = rpm
    settings = LLMSettings.model_validate(
        {"provider": "simulator", "model": "sim-model", "limits": limits}
    )
    sent: dict[int, float] = {}
    stamps: list[Stamp] = []
    acquire, release = RateLimiter.acquire, RateLimiter.release

    async def stamped_acquire(self: RateLimiter, *args: Any, **kwargs: Any) -> Permit:
        permit = await acquire(self, *args, **kwargs)
        sent[permit.seq] = time.monotonic()
        return permit

    def stamped_release(self: RateLimiter, permit: Permit, **kwargs: Any) -> None:
        stamps.append((sent.pop(permit.seq), time.monotonic()))
        release(self, permit, **kwargs)

    RateLimiter.acquire = stamped_acquire  # type: ignore[method-assign]
    RateLimiter.release = stamped_release  # type: ignore[method-assign]
    try:
        async with Transport.from_settings(
            settings, api_key=bench.KEY, base_url=base_url
        ) as client:

            async def call(i: int) -> None:
                request = ChatRequest(messages=bench.messages(i), kind="complete", max_tokens=32)
                await client.chat(request)

            await bench.drive(n, bench.CAP, call)
    finally:
        RateLimiter.acquire, RateLimiter.release = acquire, release  # type: ignore[method-assign]
    return stamps


def levels(stamps: list[Stamp]) -> Iterator[tuple[float, float, int]]:
    """(from, to, requests in flight) over the run, seconds from the first send."""
    t0 = min(s for s, _ in stamps)
    events = sorted([(s - t0, 1) for s, _ in stamps] + [(a - t0, -1) for _, a in stamps])
    level, previous = 0, 0.0
    for moment, change in events:
        yield previous, moment, level
        level += change
        previous = moment


def report(stamps: list[Stamp], slots: int) -> str:
    """The figures described in the module's docstring."""
    t0 = min(s for s, _ in stamps)
    last_send = max(s for s, _ in stamps) - t0
    end = max(a for _, a in stamps) - t0
    latency = [a - s for s, a in stamps]
    full = short = weighted = 0.0
    first_full: float | None = None
    for start, stop, level in levels(stamps):
        stop = min(stop, last_send)
        if stop <= start:
            continue
        weighted += level * (stop - start)
        if level >= slots:
            full += stop - start
            first_full = start if first_full is None else first_full
        else:
            short += stop - start
    n = len(stamps)
    return "\n".join(
        [
            f"requests {n}: ratio {n / (bench.RPM / 60) / end:.4f}; last send at {last_send:.2f} s "
            f"({n / last_send:.1f}/s), then a tail of {end - last_send:.2f} s",
            f"client latency mean {statistics.mean(latency):.4f} s, "
            f"median {statistics.median(latency):.4f} s",
            f"until the last send: {slots} or more in flight {full:.2f} s, fewer {short:.2f} s "
            f"(first {slots} at {first_full if first_full is None else round(first_full, 3)} s), "
            f"mean in flight {weighted / last_send:.2f}",
        ]
    )


def main() -> None:
    """One run of a row; print where its time went."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("row", choices=list(bench.ALGORITHMS))
    parser.add_argument("--rpm", type=int, default=None, help="the RPM the user gives")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--profile", default="openai", help="the simulator's header profile")
    parser.add_argument("--slots", type=int, default=45, help="the endpoint's requests in flight")
    args = parser.parse_args()
    with bench.fresh_simulator(args.profile, bench.ALGORITHMS[args.row]) as sim:
        bench.warm(sim)
        bench.pin_here(bench.CLIENT_CORE)
        stamps = asyncio.run(run(sim.base_url, args.n, args.rpm))
    print(f"load average {os.getloadavg()}")
    print(report(stamps, args.slots))


if __name__ == "__main__":
    main()
