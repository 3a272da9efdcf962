"""`asyncgen report RUN_DIR`: is the dataset any good, before anyone trains on it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from asyncgen.config import RunConfig, load_config
from asyncgen.report import write_report
from asyncgen.report.labels import label


def _headline(report: dict[str, Any]) -> Table:
    """The same tiles as the page's headline strip, as a terminal table."""
    title = f"Dataset report · {label(report['pipeline'])} · {report['records']:,} records"
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("verdict")
    table.add_column("detail", overflow="fold")
    for tile in report["headline"]:
        detail = str(tile.get("detail") or "")
        if tile.get("reference"):
            ref = tile["reference"]
            detail = f"reference {ref['display']} ({ref.get('source')}); {detail}"
        if tile.get("parts"):
            detail += "; " + ", ".join(f"{p['label']} {p['display']}" for p in tile["parts"])
        verdict = {"good": "ok", "warn": "check", "bad": "problem"}.get(tile["verdict"], "")
        table.add_row(tile["label"], tile["display"], verdict, detail)
    return table


def _judge_runner(config: RunConfig, model: str, base_url: str | None) -> Any:
    async def run(records: list[dict[str, Any]]) -> dict[str, Any]:
        from asyncgen.engine.session import open_endpoint, open_transport
        from asyncgen.llm.types import ModelHandle
        from asyncgen.report.judge import judge_records

        if base_url:
            config.llm.base_url = base_url
        console = Console(stderr=True)
        async with (
            open_endpoint(config, console) as endpoint,
            open_transport(config, endpoint) as client,
        ):
            handle = ModelHandle(provider=config.llm.provider, model=model)
            return await judge_records(records, client, handle=handle)

    return run


def report(
    run_dir: Path = typer.Argument(..., help="Run directory made by `asyncgen generate`."),
    out: Path | None = typer.Option(None, "--out", help="Write here instead of RUN_DIR."),
    sample_size: int | None = typer.Option(None, "--sample-size", min=2, help="Records sampled."),
    judge: str | None = typer.Option(None, "--judge", help="Model for an LLM-as-judge pass."),
    base_url: str | None = typer.Option(None, "--base-url", help="Endpoint for the judge."),
    no_embed: bool = typer.Option(False, "--no-embed", help="Skip embedding similarity."),
    config_file: Path | None = typer.Option(None, "--config", help="YAML config file."),
) -> None:
    """Write report.html and report.json and print the headline figures."""
    from asyncgen.store.rundir import require_run

    require_run(run_dir)
    config = load_config(config_file)
    settings = config.report
    judge_model = judge or settings.judge_model
    runner = _judge_runner(config, judge_model, base_url) if judge_model else None
    result = asyncio.run(
        write_report(
            run_dir,
            out,
            sample_size=sample_size or settings.sample_size,
            embed=not no_embed,
            judge=runner,
            judge_sample=settings.judge_sample,
        )
    )
    console = Console()
    console.print(_headline(result))
    console.print(f"wrote {(out or run_dir) / 'report.html'} and report.json")


def register(app: typer.Typer) -> None:
    """Add `report` to the app."""
    app.command("report")(report)
