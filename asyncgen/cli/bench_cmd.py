"""`asyncgen bench PROFILE`: measure an endpoint's real rate limits, throughput and latency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import typer

from asyncgen.cli.options import ConfigFile
from asyncgen.config import PROVIDER_DEFAULTS, RunConfig, load_config, resolve_api_key
from asyncgen.errors import ConfigError

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
# CLI option name → `bench.*` setting it overrides (None = not given).
_SETTING_OF = {
    "step_seconds": "step_seconds",
    "step_requests": "step_max_requests",
    "warmup": "warmup_seconds",
    "drain": "drain_seconds",
    "cooldown": "cooldown_seconds",
    "prompt_tokens": "prompt_tokens",
    "output_tokens": "output_tokens",
    "prompts": "prompts_file",
    "rate": "rates",
    "poisson": "poisson",
    "stream": "stream",
    "latency_target": "latency_target",
    "max_concurrency": "max_concurrency",
    "start_rate": "start_rate",
    "ramp_factor": "ramp_factor",
    "max_rate": "max_rate",
    "error_threshold": "error_threshold",
    "max_steps": "max_steps",
    "refine": "refine",
    "confirm": "confirm_failures",
    "seed": "seed",
    "max_duration": "max_duration",
    "slo": "slo",
    "slo_by": "slo_by",
    "run_dir": "run_dir",
    "overload": "overload",
    "measure_seconds": "measure_seconds",
}


def parse_rates(text: str | None) -> list[float] | None:
    """``"2,4,8"`` → ``[2.0, 4.0, 8.0]`` requests/s.

    Raises:
        ConfigError: a value is not a positive number.
    """
    if text is None:
        return None
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise ConfigError(f"--rate: expected comma-separated requests/s, got {text!r}") from exc
    if not rates or any(r <= 0 for r in rates):
        raise ConfigError(f"--rate: every rate must be a positive number, got {text!r}")
    return rates


def _target(config: RunConfig, base_url: str | None, model: str | None, key_env: str) -> Any:
    """The endpoint, model and key; refuse a remote endpoint without a key."""
    from asyncgen.bench import Target

    llm = config.llm
    url = base_url or llm.base_url or PROVIDER_DEFAULTS[llm.provider][0]
    if not url:
        raise ConfigError("no endpoint: pass --base-url (e.g. the URL `asyncgen sim serve` prints)")
    key = resolve_api_key(llm.model_copy(update={"api_key_env": key_env}))
    if key is None and urlparse(url).hostname not in _LOCAL_HOSTS:
        raise ConfigError(
            f"no API key for {url}: set {key_env} (or name another with --api-key-env)"
        )
    return Target(base_url=url.rstrip("/"), model=model or llm.model, api_key=key)


def bench_command(
    profile: str = typer.Argument(..., help="sweep | rate | find-limit | slo"),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible base URL."),
    model: str | None = typer.Option(None, "--model", help="Model name to request."),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the key."
    ),
    out: Path | None = typer.Option(None, "--out", help="Output directory."),
    config: ConfigFile = None,
    step_seconds: float | None = typer.Option(None, "--step-seconds", help="Measured s/step."),
    step_requests: int | None = typer.Option(None, "--step-requests", help="Request cap/step."),
    warmup: float | None = typer.Option(None, "--warmup", help="Unmeasured s before each step."),
    drain: float | None = typer.Option(None, "--drain", help="Max s to await answers per step."),
    cooldown: float | None = typer.Option(None, "--cooldown", help="Rest between steps, s."),
    prompt_tokens: int | None = typer.Option(None, "--prompt-tokens", help="Prompt length."),
    output_tokens: int | None = typer.Option(None, "--output-tokens", help="max_tokens."),
    prompts: Path | None = typer.Option(None, "--prompts", help="JSONL of chat request bodies."),
    rate: str | None = typer.Option(None, "--rate", help="rate profile: requests/s, e.g. 2,4,8."),
    poisson: bool | None = typer.Option(None, "--poisson/--even", help="Poisson arrivals."),
    stream: bool | None = typer.Option(None, "--stream/--no-stream", help="Time TTFT and ITL."),
    latency_target: float | None = typer.Option(None, "--latency-target", help="Goodput, s."),
    max_concurrency: int | None = typer.Option(None, "--max-concurrency", help="In-flight cap."),
    start_rate: float | None = typer.Option(None, "--start-rate", help="find-limit: first req/s."),
    ramp_factor: float | None = typer.Option(None, "--ramp-factor", help="find-limit: step ×."),
    max_rate: float | None = typer.Option(None, "--max-rate", help="find-limit: req/s ceiling."),
    error_threshold: float | None = typer.Option(
        None, "--error-threshold", help="Share of 429s/errors in a step that marks the limit."
    ),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Cap on steps."),
    refine: bool | None = typer.Option(None, "--refine/--no-refine", help="Bisect the limit."),
    confirm: bool | None = typer.Option(
        None, "--confirm/--no-confirm", help="Repeat a failing step before believing it."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seeds arrivals and prompt sampling."),
    max_duration: float | None = typer.Option(
        None, "--max-duration", help="Cap on the whole profile, seconds (steps are cut short)."
    ),
    slo: str | None = typer.Option(
        None, "--slo", help="slo: objectives, e.g. 'ttft_p99<=2s,e2e_p95<=8s'."
    ),
    slo_by: str | None = typer.Option(
        None, "--slo-by", help="slo: search 'rate' (open loop) or 'concurrency'."
    ),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Replay a previous run's records.jsonl (real lengths)."
    ),
    overload: float | None = typer.Option(
        None, "--overload", help="find-limit: saturate at (1 + this) × the hypothesis."
    ),
    measure_seconds: float | None = typer.Option(
        None, "--measure-seconds", help="find-limit: saturated span to measure, seconds."
    ),
) -> None:
    """Benchmark an endpoint (retries and limiter off); write bench.json and a report."""
    values = dict(locals())
    values["prompts"] = None if prompts is None else str(prompts)
    values["run_dir"] = None if run_dir is None else str(run_dir)
    if slo is not None:
        from asyncgen.bench._slo import parse_slos

        parse_slos(slo)  # a typo is a one-line error before anything is sent
    values["rate"] = parse_rates(rate)
    overrides = {f"bench.{key}": values[name] for name, key in _SETTING_OF.items()}
    cfg = load_config(config, overrides)
    target = _target(cfg, base_url, model, api_key_env)
    from asyncgen.store.rundir import default_run_dir

    out_dir = out or default_run_dir(profile, datetime.now(UTC), Path("bench-results"))
    from rich.console import Console

    from asyncgen.bench import print_summary, run_bench

    console = Console()
    try:
        result = asyncio.run(run_bench(cfg, profile, target, out_dir, console=console))
    except KeyboardInterrupt:
        console.print(f"interrupted: the finished steps are in {out_dir}")
        raise
    print_summary(result, out_dir, console)


def register(app: typer.Typer) -> None:
    """Add `bench` to the app."""
    app.command("bench")(bench_command)
