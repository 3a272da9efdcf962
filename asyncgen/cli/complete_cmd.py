"""`asyncgen complete`: a JSONL file of chat-completion requests in, results and failures out.

Its options are declared here for typer (`--help`, usage errors); `asyncgen.cli.plain`
parses a plain command line of the same options without typer, and both run
`complete_from_options`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from asyncgen.cli import options as opt
from asyncgen.cli.complete_run import complete_from_options


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
    code = complete_from_options(
        input_path=input_path,
        output=output,
        config=config,
        base_url=base_url,
        model=model,
        rpm=rpm,
        tpm=tpm,
        concurrency=concurrency,
        max_cost=max_cost,
        max_tokens=max_tokens,
        price_in=price_in,
        price_out=price_out,
        quiet=quiet,
        metrics_port=metrics_port,
        log_level=log_level,
        ray=ray,
        ray_workers=ray_workers,
        mode=mode,
        deadline=deadline,
    )
    _exit(code)


def _exit(code: int) -> None:
    """Exit non-zero for an interrupted run (SystemExit passes through the CLI wrapper intact)."""
    if code:
        raise SystemExit(code)
