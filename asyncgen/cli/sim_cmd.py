"""`asyncgen sim serve | profiles | limiters`: the built-in OpenAI-compatible simulator."""

from __future__ import annotations

from typing import Any

import typer

from asyncgen.cli.options import ConfigFile
from asyncgen.config import load_config
from asyncgen.errors import ConfigError

sim_app = typer.Typer(help="The built-in OpenAI-compatible simulator.", no_args_is_help=True)


@sim_app.command("serve")
def serve_command(
    config: ConfigFile = None,
    host: str | None = typer.Option(None, "--host", help="Listen address."),
    port: int | None = typer.Option(None, "--port", help="Listen port; 0 picks a free one."),
    api_key: str | None = typer.Option(None, "--api-key", help="Require this bearer token."),
    profile: str | None = typer.Option(
        None, "--profile", help="Provider modelled (see `asyncgen sim profiles`); openai."
    ),
    rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute per key."),
    tpm: int | None = typer.Option(None, "--tpm", help="Tokens per minute per key."),
    input_tpm: int | None = typer.Option(None, "--input-tpm", help="Input tokens per minute."),
    output_tpm: int | None = typer.Option(None, "--output-tpm", help="Output tokens per minute."),
    upstream_rpm: int | None = typer.Option(
        None, "--upstream-rpm", help="litellm-proxy: the upstream's RPM (default 10x --rpm)."
    ),
    upstream_tpm: int | None = typer.Option(
        None, "--upstream-tpm", help="litellm-proxy: the upstream's TPM (default 10x --tpm)."
    ),
    limiter: str | None = typer.Option(
        None,
        "--limiter",
        help="Rate-limit algorithm: token_bucket | rolling | fixed_minute | fixed_10s | gcra | "
        "concurrency | daily (see `asyncgen sim limiters`).",
    ),
    rpd: int | None = typer.Option(None, "--rpd", help="Requests per day (--limiter daily)."),
    concurrency_limit: int | None = typer.Option(
        None, "--concurrency-limit", help="Requests in flight per key (--limiter concurrency)."
    ),
    sub_window: float | None = typer.Option(
        None, "--sub-window", help="Rolling/bucket sub-window in seconds (1 or 10)."
    ),
    refused_use_quota: bool | None = typer.Option(
        None, "--refused-use-quota/--refused-free", help="Whether refused requests use quota."
    ),
    retry_after: str | None = typer.Option(
        None, "--retry-after", help="429 retry hint: seconds_and_ms | seconds | ms | date | none."
    ),
    latency_median: float | None = typer.Option(None, "--latency-median", help="Seconds."),
    latency_sigma: float | None = typer.Option(None, "--latency-sigma", help="Lognormal sigma."),
    seconds_per_token: float | None = typer.Option(
        None, "--seconds-per-token", help="Generation time per output token."
    ),
    max_concurrency: int | None = typer.Option(
        None, "--max-concurrency", help="Requests in service before queueing or 503."
    ),
    overload: str | None = typer.Option(None, "--overload", help="queue | reject (503)."),
    fault_500: float | None = typer.Option(None, "--fault-500", help="Rate of 500s."),
    fault_503: float | None = typer.Option(None, "--fault-503", help="Rate of 503s."),
    fault_drop: float | None = typer.Option(None, "--fault-drop", help="Rate of dropped sockets."),
    fault_malformed: float | None = typer.Option(
        None, "--fault-malformed", help="Rate of malformed JSON bodies."
    ),
    fault_empty: float | None = typer.Option(None, "--fault-empty", help="Rate of empty answers."),
    fault_length: float | None = typer.Option(
        None, "--fault-length", help="Rate of answers cut at finish_reason length."
    ),
    fault_slow: float | None = typer.Option(
        None, "--fault-slow", help="Rate of first bytes slower than a client timeout."
    ),
    slow_seconds: float | None = typer.Option(
        None, "--slow-seconds", help="How slow a slow first byte is."
    ),
    duplicate_rate: float | None = typer.Option(
        None, "--duplicate-rate", help="Share of answers repeating an earlier one."
    ),
    malformed_rate: float | None = typer.Option(
        None, "--malformed-rate", help="Share of structured answers deliberately malformed."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seeds content, faults and latency."),
    faults: list[str] = typer.Option(
        [],
        "--fault",
        help="KIND=RATE for any fault kind (insufficient_quota, overloaded_529, "
        "cloudflare_524, stream_cut, ...); repeatable.",
    ),
    strict: bool | None = typer.Option(
        None, "--strict/--lenient", help="OpenAI's request validation (default: the profile's)."
    ),
    context_window: int | None = typer.Option(
        None, "--context-window", help="Tokens per request (prompt + max_tokens)."
    ),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve POST /v1/chat/completions, GET /v1/models and GET /sim/stats until Ctrl-C."""
    overrides: dict[str, Any] = {
        "sim.host": host,
        "sim.port": port,
        "sim.api_key": api_key,
        "sim.profile": profile,
        "sim.rpm": rpm,
        "sim.tpm": tpm,
        "sim.input_tpm": input_tpm,
        "sim.output_tpm": output_tpm,
        "sim.upstream_rpm": upstream_rpm,
        "sim.upstream_tpm": upstream_tpm,
        "sim.limiter": limiter,
        "sim.rpd": rpd,
        "sim.concurrency_limit": concurrency_limit,
        "sim.sub_window": sub_window,
        "sim.refused_use_quota": refused_use_quota,
        "sim.retry_after": retry_after,
        "sim.latency_median": latency_median,
        "sim.latency_sigma": latency_sigma,
        "sim.seconds_per_output_token": seconds_per_token,
        "sim.max_concurrency": max_concurrency,
        "sim.overload": overload,
        "sim.faults.error_500": fault_500,
        "sim.faults.error_503": fault_503,
        "sim.faults.drop_connection": fault_drop,
        "sim.faults.malformed_json": fault_malformed,
        "sim.faults.empty_content": fault_empty,
        "sim.faults.truncate_length": fault_length,
        "sim.faults.slow_first_byte": fault_slow,
        "sim.faults.slow_first_byte_seconds": slow_seconds,
        "sim.duplicate_rate": duplicate_rate,
        "sim.malformed_rate": malformed_rate,
        "sim.seed": seed,
        "sim.strict": strict,
        "sim.context_window": context_window,
        **_fault_overrides(faults),
    }
    settings = load_config(config, overrides).sim
    from asyncgen.sim.server import serve

    serve(settings, log_level=log_level.lower())


def _fault_overrides(items: list[str]) -> dict[str, float]:
    """``--fault KIND=RATE`` pairs as ``sim.faults.KIND`` overrides.

    Raises:
        ConfigError: an item that is not KIND=RATE with a number (one line, exit 2).
    """
    overrides: dict[str, float] = {}
    for item in items:
        kind, sep, rate = item.partition("=")
        try:
            overrides[f"sim.faults.{kind.strip()}"] = float(rate)
        except ValueError:
            sep = ""
        if not sep:
            raise ConfigError(f"--fault {item!r}: expected KIND=RATE, e.g. stream_cut=0.05")
    return overrides


@sim_app.command("profiles")
def profiles_command() -> None:
    """List the provider profiles, one line each."""
    from asyncgen.sim.profiles import PROFILES

    width = max(map(len, PROFILES))
    for name, profile in PROFILES.items():
        default = " (default)" if name == "openai" else ""
        typer.echo(f"{name:{width}}  {profile.summary}{default}")


@sim_app.command("limiters")
def limiters_command() -> None:
    """List the rate-limit algorithms, one line each."""
    from asyncgen.sim.ratelimit import ALGORITHMS

    width = max(map(len, ALGORITHMS))
    for name, summary in ALGORITHMS.items():
        typer.echo(f"{name:{width}}  {summary}")


def register(app: typer.Typer) -> None:
    """Add `sim` to the app."""
    app.add_typer(sim_app, name="sim")
