"""What `asyncgen complete` does once its options are parsed, without typer: the same code
runs under typer (`complete_cmd`) and under the plain parser of a hot start (`plain`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asyncgen.cli.errors import say
from asyncgen.config.batch import deadline_setting


def failures_path(output: Path) -> Path:
    """The failures file beside the output: `results.jsonl` → `results.failures.jsonl`."""
    return output.with_name(f"{output.stem}.failures.jsonl")


def run_dir_for(output: Path) -> Path:
    """Where the run's snapshot, metrics, summary and log go: `results.run/` beside it."""
    return output.with_name(f"{output.stem}.run")


def complete_from_options(
    *,
    input_path: Path,
    output: Path,
    config: Path | None = None,
    base_url: str | None = None,
    model: str | None = None,
    rpm: int | None = None,
    tpm: int | None = None,
    concurrency: int | None = None,
    max_cost: float | None = None,
    max_tokens: int | None = None,
    price_in: float | None = None,
    price_out: float | None = None,
    quiet: bool = False,
    metrics_port: int | None = None,
    log_level: str | None = None,
    ray: str | None = None,
    ray_workers: int | None = None,
    mode: str | None = None,
    deadline: str | None = None,
) -> int:
    """`asyncgen complete` with its command-line options (one keyword each); the exit code.

    Raises:
        AsyncgenError: bad input (the CLI prints one line, exit 2).
    """
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
    return run_complete(
        input_path,
        output,
        config,
        overrides,
        model=model,
        quiet=quiet,
        price_in=price_in,
        price_out=price_out,
    )


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
        say(f"complete: {input_path} holds no requests; nothing was done")
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
        say(_nothing_succeeded(summary, layout.failures))
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
