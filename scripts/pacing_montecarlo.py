"""Monte Carlo bounds for the transport matrix's rate-limited rows (docs/benchmarks.md).

3,000 requests at 100/s, lognormal latency (median 0.4 s, sigma 0.5), at most `cap` in
flight; the ratio is 30 s over the time from the first send to the last answer (the
bench's `ratio`). Policies: `bucket` (uniform pacing, a bucket of `burst` requests that
keeps any `credit` granted at the start until spent), `log` (an exact log of our own
sends: at most `per` in any `window` seconds), `catchup` (asyncgen's `CatchUp`: uniform
pacing, then an own-send log over a window growing 0 -> 2 -> 5 -> 10 s and a lead of
0.05 s of the rate doubling, a step per quiet 0.5 s; a refusal while a window is in force
drops both to 0 for 5 s, doubled each time), `none` (the cap alone). With
`refuse_window`, a rolling window of 100 per `sub` seconds' share at the server refuses
what exceeds it (the refused send is retried, costing its token); `jitter` delays each
send's arrival at the server by up to that many seconds.

    .venv/bin/python scripts/pacing_montecarlo.py
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from collections import deque


def _bucket_send(
    t: float, level: float, updated: float, rate: float, burst: float
) -> tuple[float, float, float]:
    """One send through a token bucket of `burst` at `rate`: (send time, level, updated)."""
    if level < burst:
        level = min(burst, level + (t - updated) * rate)
    updated = t
    if level < 1:
        t += (1 - level) / rate
        level, updated = 1.0, t
    return t, level - 1, updated


def run(
    policy: str,
    *,
    seed: int,
    cap: int = 50,
    burst: float = 10.0,
    credit: float = 1.0,
    per: int = 100,
    window: float = 1.0,
    refuse_window: bool = False,
    sub: float = 1.0,
    jitter: float = 0.0,
    n: int = 3000,
    rate: float = 100.0,
) -> tuple[float, int]:
    """One run: (ratio, refusals)."""
    rng = random.Random(seed)
    step, grow_at, hold = 0, 0.5, 5.0  # `catchup`: the window's step, next growth, hold
    t = updated = last = 0.0
    level = credit
    in_flight: list[float] = []
    sent = refused = 0
    ours: deque[float] = deque()
    server: deque[float] = deque()
    while sent < n:
        while len(in_flight) >= cap:
            t = max(t, heapq.heappop(in_flight))
        span = 0.0
        if policy == "catchup":
            while t >= grow_at and step < 12:
                step, grow_at = step + 1, grow_at + 0.5
            span = (0.0, 2.0, 5.0, 10.0)[min(step, 3)]
        if policy == "bucket" or (policy == "catchup" and span == 0):
            t, level, updated = _bucket_send(t, level, updated, rate, burst)
        elif policy == "log":
            while ours and ours[0] <= t - window:
                ours.popleft()
            if len(ours) >= per:
                t = ours[0] + window
        elif policy == "catchup":
            lead = min(span, 0.05 * 2 ** (step - 1))
            while ours and ours[0] <= t - 10.02:
                ours.popleft()
            log = list(ours)
            late = 0.0
            limits = ((span + 0.02, int(rate * span)), (1.0, int(rate * (1 + lead))))
            for length, allowed in limits:
                inside = [x for x in log if x > t - length]
                if len(inside) >= allowed:
                    late = max(late, inside[len(inside) - allowed] + length + 1e-9)
            if late > t:
                t = late
                continue
            level, updated = 0.0, t
        while in_flight and in_flight[0] <= t:
            heapq.heappop(in_flight)
        if len(in_flight) >= cap:
            continue
        arrival = t + rng.uniform(0.0, jitter) if jitter else t
        while server and server[0] <= arrival - sub:
            server.popleft()
        if policy == "catchup":
            ours.append(t)  # refused sends too, as the limiter logs every send
        if refuse_window and len(server) >= 100 * sub:
            refused += 1
            if policy == "catchup" and step > 0:
                step, grow_at, hold = 0, t + hold, min(60.0, hold * 2)
            elif policy == "catchup":
                grow_at = max(grow_at, t + 0.5)
            continue
        latency = 0.4 * math.exp(0.5 * rng.gauss(0.0, 1.0))
        heapq.heappush(in_flight, t + latency)
        last = max(last, t + latency)
        if policy != "catchup":
            ours.append(t)
        server.append(arrival)
        sent += 1
    return n / rate / last, refused


def main() -> None:
    """Print the mean ratio (and refusals) of 30 seeds per case."""
    cases: list[tuple[str, str, dict[str, object]]] = [
        ("uniform pacing, 0.1 s burst", "bucket", {}),
        ("uniform pacing, 1 s credit at start", "bucket", {"credit": 110.0}),
        ("exact own-send log, 100 per 1 s", "log", {}),
        ("exact own-send log, 100 per 1.05 s (jitter guard)", "log", {"window": 1.05}),
        ("exact own-send log, 1,000 per 10 s", "log", {"per": 1000, "window": 10.0}),
        ("uniform pacing, 45 slots", "bucket", {"cap": 45}),
        ("no pacing, 45 slots", "none", {"cap": 45}),
    ]
    cases += [
        (
            f"rolling 1 s server, uniform pacing, burst {b}",
            "bucket",
            {"burst": float(b), "refuse_window": True},
        )
        for b in (1, 2, 10)
    ]
    cases += [
        (
            f"rolling {sub:.0f} s server, {label}",
            policy,
            {"refuse_window": True, "sub": sub, "jitter": 0.005},
        )
        for sub in (1.0, 10.0)
        for label, policy in (("uniform pacing, 0.1 s burst", "bucket"), ("catch-up", "catchup"))
    ]
    for label, policy, options in cases:
        runs = [run(policy, seed=seed, **options) for seed in range(30)]  # type: ignore[arg-type]
        ratio = statistics.mean(r[0] for r in runs)
        refusals = statistics.mean(r[1] for r in runs)
        print(f"{label:55s} ratio {ratio:.4f}  refusals {refusals:.1f}")


if __name__ == "__main__":
    main()
