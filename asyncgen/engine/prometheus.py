"""`--metrics-port`: the live display's counters as Prometheus metrics, for a night's run.

An aiohttp server on the run's own event loop answers `GET /metrics`; each scrape reads
the same sources the progress display reads (the transport's counters, the ledger, the
engine's snapshot) at that moment, on the loop, so nothing is read mid-update and no
thread shares the run's objects. It binds 127.0.0.1 unless `engine.metrics_host` says
otherwise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from asyncgen.engine.tally import Snapshot, transport_stats
from asyncgen.errors import ConfigError
from asyncgen.llm.stats import StatsSnapshot
from asyncgen.llm.types import RunClient
from asyncgen.store.ledger import Ledger

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
logger = logging.getLogger("asyncgen.engine")


class RunCollector(Collector):
    """Builds every metric family from the run's live objects on each scrape."""

    def __init__(self, client: RunClient, ledger: Ledger) -> None:
        self.client = client
        self.ledger = ledger
        self.sample: Callable[[], Snapshot] | None = None

    def collect(self) -> Iterator[Metric]:
        """The families: requests by outcome, 429s, retries, tokens, cost, limits, records."""
        stats = transport_stats(self.client)
        yield from self._requests(stats)
        yield from self._spend()
        yield from self._limits(stats)
        if self.sample is not None:
            yield from self._records(self.sample())

    def _requests(self, stats: StatsSnapshot) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            "asyncgen_requests", "Finished model requests by outcome (ok or failure cause)",
            labels=["outcome"],
        )  # fmt: skip
        outcomes.add_metric(["ok"], float(stats.get("successes", 0)))
        for cause, count in dict(stats.get("failures") or {}).items():
            outcomes.add_metric([str(cause)], float(count))
        yield outcomes
        retries = CounterMetricFamily(
            "asyncgen_retries", "Retried attempts by cause", labels=["cause"]
        )
        for cause, count in dict(stats.get("retries") or {}).items():
            retries.add_metric([str(cause)], float(count))
        yield retries
        yield CounterMetricFamily(
            "asyncgen_rate_limited", "429 answers", value=float(stats.get("rate_limited", 0))
        )
        yield CounterMetricFamily(
            "asyncgen_attempts", "HTTP attempts sent", value=float(stats.get("attempts", 0))
        )
        yield GaugeMetricFamily(
            "asyncgen_requests_in_flight",
            "Model requests in flight",
            value=float(stats.get("in_flight", 0)),
        )

    def _spend(self) -> Iterator[Metric]:
        total = self.ledger.totals.total
        tokens = CounterMetricFamily(
            "asyncgen_tokens", "Tokens billed in this run (ledger, every session)", labels=["kind"]
        )
        tokens.add_metric(["input"], float(total.tokens_in))
        tokens.add_metric(["output"], float(total.tokens_out))
        tokens.add_metric(["cached"], float(total.tokens_cached))
        yield tokens
        yield CounterMetricFamily(
            "asyncgen_cost_usd", "USD spent in this run (ledger)", value=total.cost_usd
        )
        yield CounterMetricFamily(
            "asyncgen_billed_failures",
            "Failed attempts the provider billed (ledger)",
            value=float(total.billed_failures),
        )

    def _limits(self, stats: StatsSnapshot) -> Iterator[Metric]:
        limits = GaugeMetricFamily(
            "asyncgen_limit", "Limits in force for the default model", labels=["limit"]
        )
        for name, value in (
            ("rpm", stats.get("rpm_limit")),
            ("tpm", stats.get("tpm_limit")),
            ("concurrency", stats.get("concurrency_limit")),
            ("concurrency_cap", stats.get("concurrency_cap")),
        ):
            if isinstance(value, int | float):
                limits.add_metric([name], float(value))
        yield limits

    def _records(self, snap: Snapshot) -> Iterator[Metric]:
        records = GaugeMetricFamily("asyncgen_records", "Items by state", labels=["state"])
        for state, value in (
            ("done", snap.done),
            ("failed", snap.failed),
            ("rejected", snap.rejected),
            ("in_flight", snap.in_flight),
            ("remaining", max(0, snap.target - snap.done)),
        ):
            records.add_metric([state], float(value))
        yield records
        yield GaugeMetricFamily("asyncgen_target", "Records the run must hold", value=snap.target)
        yield GaugeMetricFamily(
            "asyncgen_records_per_second", "Recent record rate", value=snap.records_per_s
        )
        yield GaugeMetricFamily(
            "asyncgen_requests_per_second", "Recent request rate", value=snap.requests_per_s
        )
        yield GaugeMetricFamily(
            "asyncgen_loop_lag_p99_seconds",
            "Event-loop lag, 99th percentile",
            value=snap.lag_p99_ms / 1000,
        )
        if snap.eta_s is not None:
            yield GaugeMetricFamily(
                "asyncgen_eta_seconds", "Time left at the recent rate", value=snap.eta_s
            )


class MetricsServer:
    """The /metrics endpoint of one run."""

    def __init__(self, collector: RunCollector, *, host: str, port: int) -> None:
        self.collector = collector
        self.host = host
        self.port = port
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self._runner: web.AppRunner | None = None

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE}
        )

    async def start(self) -> None:
        """Bind and serve; `port` becomes the bound port (for port 0).

        Raises:
            ConfigError: the port cannot be bound.
        """
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError(
                f"--metrics-port {self.port}: cannot listen on {self.host}:{self.port} "
                f"({reason}); choose another port"
            ) from exc
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        logger.info("Prometheus metrics on http://%s:%d/metrics", self.host, self.port)

    async def aclose(self) -> None:
        """Stop serving (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
