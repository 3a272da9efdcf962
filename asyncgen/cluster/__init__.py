"""One run on a Ray cluster: many worker processes, one rate limit per key, one dataset.

The driver (the `asyncgen generate --ray …` process) keeps everything a local run has:
the plan, the run directory and its writers, resume, the summary. What it hands out is
the work: item indices go to worker actors in shards, each worker runs the pipeline's
items on its own event loop with its own transport, and streams every outcome back.

    driver: plan → dispatcher ─shards→ ShardWorker × K (pipeline.run_item, own transport)
              ↑ outcomes (streamed)          │ rate budget leases
    writers ← engine ← RemoteGate ──→ DedupService (the run's SemanticGate)
                                       RateCoordinator per (endpoint, key, model)

| module | job |
|---|---|
| `connect` | import Ray or say how to install it; start a loopback-only local cluster or join one |
| `coordinator` | `RateRegistry`, `RateCoordinator`: one `RateLimiter` per key for the cluster |
| `lease` | `CoordinatorBudget`: a worker limiter's `BudgetSource`, batching leases and reports |
| `dedup` | `DedupService` (the run's gate inside an actor), `RemoteGate` (its proxy) |
| `worker` | `ShardWorker`: pipeline + transport in an actor; runs shards, streams outcomes |
| `dispatch` | `ShardDispatcher`: shards to live workers; a dead one's unfinished items rerun |
| `remote` | `RemotePipeline` (run_item through the dispatcher), `ClusterClient` (merged counters) |
| `run` | `execute_on_cluster`: the cluster counterpart of `engine.session.execute` |
"""

from __future__ import annotations

from asyncgen.cluster.connect import RAY_INSTALL_HINT, check_settings, require_ray

__all__ = ["RAY_INSTALL_HINT", "check_settings", "execute_on_cluster", "require_ray"]


def __getattr__(name: str) -> object:
    if name == "execute_on_cluster":  # lazy: `import asyncgen.cluster` stays light
        from asyncgen.cluster.run import execute_on_cluster

        return execute_on_cluster
    raise AttributeError(name)
