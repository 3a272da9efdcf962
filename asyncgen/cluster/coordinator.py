"""One provider rate budget for the whole cluster: a `RateLimiter` per (endpoint, key, model).

Workers do not pace against their own buckets (two workers would each send the whole
RPM); they lease sends from the coordinator of their key, which paces them with the same
limiter a single process uses, whatever its rules (RPM/TPM buckets and their burst,
header learning: `x-ratelimit-limit-*` lowers the limit, `remaining-*` the level net of
what was granted since; the response to a 429, now for the whole cluster; token refunds
from the answers' usage). What a worker learns reaches it in the reports it piggybacks
on its next lease, so the cluster holds the provider's limit as one process does.

The registry creates the coordinators (so they live as long as the run's driver, not as
long as whichever worker asked first) and returns the same one for the same key.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from asyncgen.config.llm import LimitSettings
from asyncgen.llm.headers import RateLimitInfo
from asyncgen.llm.limiter import Permit, RateLimiter

Want = tuple[int, int, bool]
"""(prompt tokens, completion tokens, urgent) of one send waiting for budget."""
Report = tuple[int, str, float, int | None, RateLimitInfo | None, float | None]
"""(claim, outcome, latency, used tokens, x-ratelimit-* headers, retry-after) of one send."""

UNBOUNDED_WINDOW = 1_000_000  # concurrency is each worker's own business


class RateCoordinator:
    """The rate budget of one (endpoint, key, model) for every worker of the run."""

    def __init__(self, limits: dict[str, Any], name: str) -> None:
        settings = LimitSettings.model_validate(limits).model_copy(
            update={"adaptive": False, "concurrency": UNBOUNDED_WINDOW}
        )
        self.name = name
        self._limiter = RateLimiter(settings, clock=time.monotonic, name=name)
        self._permits: dict[int, Permit] = {}
        self._next_claim = 0
        self.granted = 0
        self.reported = 0

    async def grant(self, wants: list[Want], reports: list[Report]) -> list[int]:
        """Settle `reports`, then wait until every send in `wants` may go; their claims.

        Sends are granted in the limiter's pacing order (retries first), interleaved with
        other workers' leases, so a lease of k sends comes back when the k-th may go.
        """
        self.settle(reports)
        claims: list[int] = []
        for prompt, completion, urgent in wants:
            permit = await self._limiter.acquire(prompt, completion, urgent=urgent)
            self._next_claim += 1
            self._permits[self._next_claim] = permit
            claims.append(self._next_claim)
        self.granted += len(claims)
        return claims

    def settle(self, reports: list[Report]) -> None:
        """Learn from finished sends: headers, 429s, token refunds."""
        for claim, outcome, latency, used, info, retry_after in reports:
            permit = self._permits.pop(claim, None)
            if permit is None:
                continue
            self.reported += 1
            self._limiter.release(
                permit,
                outcome=outcome,
                latency=latency,
                used_tokens=used,
                info=info,
                retry_after=retry_after,
            )

    def snapshot(self) -> dict[str, Any]:
        """The limiter's snapshot, grants, and sends not yet reported."""
        return {
            **self._limiter.snapshot(),
            "name": self.name,
            "granted": self.granted,
            "outstanding": len(self._permits),
        }


class RateRegistry:
    """Creates one `RateCoordinator` actor per (endpoint, key variable, model) and hands it out."""

    def __init__(self, limits: dict[str, Any]) -> None:
        self._limits = limits
        self._coordinators: dict[tuple[str, str, str], Any] = {}

    def coordinator(self, base_url: str, key_env: str, model: str) -> Any:
        """The coordinator actor of this key (created on first request)."""
        key = (base_url, key_env, model)
        found = self._coordinators.get(key)
        if found is None:
            import ray

            digest = hashlib.blake2b(repr(key).encode(), digest_size=6).hexdigest()
            actor = ray.remote(num_cpus=0)(RateCoordinator)
            found = actor.options(name=None, max_concurrency=1000).remote(
                self._limits, f"{base_url} {model} [{key_env}] #{digest}"
            )
            self._coordinators[key] = found
        return found

    async def snapshots(self) -> list[dict[str, Any]]:
        """Every coordinator's snapshot."""
        return [await c.snapshot.remote() for c in self._coordinators.values()]
