"""`asyncgen complete`: a JSONL file of chat-completion requests in, results and failures out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from asyncgen.cli import options as opt
from asyncgen.config.batch import deadline_setting


def failures_path(output: Path) -> Path:
    """The failures file beside the output: `results.jsonl` → `results.failures.jsonl`."""
    return output.with_name(f"{output.stem}.failures.jsonl")


def run_dir_for(output: Path) -> Path:
    """Where the run's snapshot, metrics, summary and log go: `results.run/` beside it."""
    return output.with_name(f"{output.stem}.run")


def run_complete(
    input_path: Path,
    output: Path,
    config_file: Path | None,
    overrides: dict[str, Any],
    *,
    model: str | None,
    quiet: bool,
    price_in: float | None = None,
    price_out: float | None = None,
) -> int:
    """Run every input line through the transport; returns the exit code."""
    from asyncgen.cli.launch import launch
    from asyncgen.config import load_config
    from asyncgen.engine.budget import apply_prices, check_budget_prices
    from asyncgen.engine.complete import CompletePipeline
    from asyncgen.store import RunLayout
    from asyncgen.store.rundir import REJECTED_FILE

    config = load_config(config_file, overrides)
    apply_prices(config, price_in, price_out)
    check_budget_prices(config)
    pipeline = CompletePipeline(config, input_path, records_file=output.name, model=model)
    if pipeline.scan() == 0:
        typer.echo(f"complete: {input_path} holds no requests; nothing was done", err=True)
        return 1
    run_dir = run_dir_for(output)
    layout = RunLayout(
        run_dir=run_dir,
        records=output,
        failures=failures_path(output),
        rejected=run_dir / REJECTED_FILE,
        log_name=config.engine.log_file,
    )
    summary = launch(config, pipeline, layout, quiet=quiet, resume=False, use_gate=False)
    if summary.done == 0 and summary.target > 0:
        typer.echo(_nothing_succeeded(summary, layout.failures), err=True)
        return max(summary.exit_code, 1)
    return summary.exit_code


def _nothing_succeeded(summary: Any, failures: Path) -> str:
    """`complete: none of 3 requests succeeded (most often 3×: reason); see X.failures.jsonl`."""
    reasons = sorted(summary.failure_reasons.items(), key=lambda kv: -kv[1])
    top = f" (most often {reasons[0][1]}×: {reasons[0][0]})" if reasons else ""
    example = _first_failure_message(failures)
    return (
        f"complete: none of {summary.target} requests succeeded{top}; "
        + (f"e.g. {example}; " if example else "")
        + f"see {failures} for each one"
    )


def _first_failure_message(failures: Path) -> str | None:
    """The first failure line's message (what the endpoint said), cut to 200 characters."""
    from asyncgen.errors import StoreError
    from asyncgen.store.jsonl import iter_jsonl

    try:
        _, first = next(iter_jsonl(failures), (0, {}))
    except (OSError, StoreError):
        return None
    message = first.get("message")
    return str(message)[:200] if message else None


def register(app: typer.Typer) -> None:
    """Add `complete` to the app."""
    app.command("complete")(complete)


def complete(
    input_path: Path = typer.Option(..., "--input", help="JSONL of chat-completion requests."),
    output: Path = typer.Option(..., "--output", help="JSONL of results (same ids)."),
    config: opt.ConfigFile = None,
    base_url: opt.BaseUrl = None,
    model: str | None = typer.Option(None, "--model", help="Model for every request."),
    rpm: opt.Rpm = None,
    tpm: opt.Tpm = None,
    concurrency: opt.Concurrency = None,
    max_cost: opt.MaxCost = None,
    max_tokens: opt.MaxTokens = None,
    price_in: opt.PriceIn = None,
    price_out: opt.PriceOut = None,
    quiet: opt.Quiet = False,
    metrics_port: opt.MetricsPort = None,
    log_level: opt.LogLevel = None,
    ray: opt.Ray = None,
    ray_workers: opt.RayWorkers = None,
    mode: opt.Mode = None,
    deadline: opt.Deadline = None,
) -> None:
    """Complete every request of --input; a rerun skips ids that already have a result."""
    overrides: dict[str, Any] = {
        "engine.pipeline": "complete",
        "llm.base_url": base_url,
        "llm.model": model,
        "llm.limits.rpm": rpm,
        "llm.limits.tpm": tpm,
        "llm.limits.concurrency": concurrency,
        "engine.max_workers": concurrency,
        "llm.max_cost": max_cost,
        "engine.metrics_port": metrics_port,
        "llm.max_tokens": max_tokens,
        "engine.log_level": log_level.upper() if log_level else None,
        "engine.ray.address": ray,
        "engine.ray.workers": ray_workers,
        "llm.mode": mode,
        "llm.batch.deadline": deadline_setting(deadline),
    }
    code = run_complete(
        input_path,
        output,
        config,
        overrides,
        model=model,
        quiet=quiet,
        price_in=price_in,
        price_out=price_out,
    )
    _exit(code)


def _exit(code: int) -> None:
    """Exit non-zero for an interrupted run (SystemExit passes through the CLI wrapper intact)."""
    if code:
        raise SystemExit(code)
