"""The options several commands share, declared once so their flags and help agree.

Each is an `Annotated` type for a command's parameter (`config: ConfigFile = None`); the
command keeps its own default, typer reads the flag and the help from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="YAML file merged over defaults.")
]
BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", help="OpenAI-compatible endpoint (no key and no URL: simulator)."),
]
Rpm = Annotated[int | None, typer.Option("--rpm", help="Requests per minute limit.")]
Tpm = Annotated[int | None, typer.Option("--tpm", help="Tokens per minute limit.")]
Concurrency = Annotated[int | None, typer.Option("--concurrency", help="Requests in flight.")]
MaxCost = Annotated[float | None, typer.Option("--max-cost", help="USD budget.")]
MaxTokens = Annotated[int | None, typer.Option("--max-tokens", help="Token budget.")]
PriceIn = Annotated[
    float | None,
    typer.Option("--price-in", help="USD per million input tokens of the model(s) in use."),
]
PriceOut = Annotated[
    float | None,
    typer.Option("--price-out", help="USD per million output tokens of the model(s) in use."),
]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress display, no summary table.")]
MetricsPort = Annotated[
    int | None,
    typer.Option("--metrics-port", help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics."),
]
LogLevel = Annotated[str | None, typer.Option("--log-level", help="DEBUG|INFO|WARNING|ERROR.")]
Ray = Annotated[
    str | None,
    typer.Option("--ray", help="Run on Ray: local (a 127.0.0.1 cluster) or a cluster ADDRESS."),
]
RayWorkers = Annotated[
    int | None, typer.Option("--ray-workers", help="Ray worker actors (default 2).")
]
Mode = Annotated[
    str | None,
    typer.Option(
        "--mode", help="online | batch (the Batch API: half price, answers within its window)."
    ),
]
Deadline = Annotated[
    str | None,
    typer.Option(
        "--deadline", help="Batch mode: finish by then (8h, 90m, 23:00); late work goes online."
    ),
]
