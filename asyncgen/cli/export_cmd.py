"""`asyncgen export` and `asyncgen stats`: a run directory to training files, and its figures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from asyncgen.cli.options import ConfigFile
from asyncgen.config import load_config
from asyncgen.errors import ConfigError
from asyncgen.store.ledger import read_ledger

if TYPE_CHECKING:
    from asyncgen.export import ExportOptions

_USER_TURNS = ("clean", "noisy", "both")


def _options(config: Path | None, out: Path | None, **overrides: Any) -> ExportOptions:
    """Config file settings with the CLI's choices on top (pyarrow imported only now)."""
    from asyncgen.export import ExportOptions

    settings = load_config(config).training_data
    if overrides.get("user_turns") not in (None, *_USER_TURNS):
        raise ConfigError(f"--user-turns must be one of {', '.join(_USER_TURNS)}")
    return ExportOptions.from_settings(settings, out_dir=out, **overrides)


def _echo_problem(message: str) -> None:
    typer.echo(message, err=True)


def export(
    run_dir: Path = typer.Argument(..., help="Run directory (or a records JSONL file)."),
    fmt: str | None = typer.Option(
        None, "--format", help="Comma-separated: json,jsonl,openai,sharegpt,parquet,hf,dst."
    ),
    split: str | None = typer.Option(
        None, "--split", help="train,validation,test ratios, e.g. 0.8,0.1,0.1 (default: config)."
    ),
    no_split: bool = typer.Option(False, "--no-split", help="One train file, no split."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default: config)."),
    user_turns: str | None = typer.Option(
        None, "--user-turns", help="clean | noisy | both (both = two samples per noised record)."
    ),
    system_prompt: str | None = typer.Option(
        None, "--system-prompt", help="System message for the openai/sharegpt/parquet formats."
    ),
    strict: bool = typer.Option(False, "--strict", help="A corrupt line aborts the export."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the group-wise split."),
    keep_rejected: bool = typer.Option(
        False, "--keep-rejected", help="Also export rejected records that carry their data."
    ),
    timestamp: bool = typer.Option(False, "--timestamp", help="Add _YYYYmmdd_HHMMSS to names."),
    config: ConfigFile = None,
) -> None:
    """Export RUN_DIR to training formats, split by persona/base dialogue, atomically."""
    from asyncgen.export import export_run, parse_formats, parse_ratios

    options = _options(
        config,
        out,
        formats=parse_formats(fmt) if fmt else None,
        ratios=parse_ratios(split) if split else None,
        seed=seed,
        user_turns=user_turns,
        system_prompt=system_prompt,
        strict=strict or None,
        keep_rejected=keep_rejected or None,
        use_timestamp=timestamp,
    )
    if no_split:
        options = replace(options, ratios=None)
    result = export_run(run_dir, options, on_problem=_echo_problem)
    console = Console()
    console.print(_files_table(result.statistics))
    _print_input_summary(console, result.statistics)
    console.print(f"statistics: {result.statistics_file}")


def stats(
    run_dir: Path = typer.Argument(..., help="Run directory (or a records JSONL file)."),
    as_json: bool = typer.Option(False, "--json", help="Print the statistics as JSON."),
    user_turns: str | None = typer.Option(None, "--user-turns", help="clean | noisy | both."),
    split: str | None = typer.Option(None, "--split", help="Ratios to preview (default: config)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the group-wise split."),
    strict: bool = typer.Option(False, "--strict", help="A corrupt line is an error."),
    config: ConfigFile = None,
) -> None:
    """Print RUN_DIR's training-data statistics (what `export` would write) as a table."""
    from asyncgen.export import parse_ratios, run_statistics

    options = _options(
        config,
        None,
        ratios=parse_ratios(split) if split else None,
        seed=seed,
        user_turns=user_turns,
        strict=strict or None,
    )
    figures = run_statistics(run_dir, options, on_problem=_echo_problem)
    spend = read_ledger(run_dir) if run_dir.is_dir() else None
    if spend is not None:
        figures["spend"] = spend.to_dict()
    if as_json:
        typer.echo(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
        return
    console = Console()
    console.print(_stats_table(figures))
    console.print(_split_table(figures["split"]))
    if "spend" in figures:
        console.print(_spend_table(figures["spend"], figures["input"]["records_read"]))
    _print_input_summary(console, figures)


def _spend_table(spend: dict[str, Any], records: int) -> Table:
    """The run's bill from its ledger: every session, by stage."""
    table = Table(title=f"Spend (ledger, {spend['sessions']} session(s))")
    for column in ("stage", "requests", "attempts", "tokens in", "tokens out", "cost"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage, row in [*spend["by_stage"].items(), ("total", spend)]:
        table.add_row(
            stage,
            str(row["requests"]),
            str(row["attempts"]),
            str(row["tokens_in"]),
            str(row["tokens_out"]),
            f"${row['cost_usd']:.4f}",
        )
    if records:
        table.caption = f"${spend['cost_usd'] / records:.6f} per record"
    return table


def _files_table(figures: dict[str, Any]) -> Table:
    samples = figures["split"]["samples"]
    table = Table(title=f"Exported {figures['total_samples']} samples")
    for column in ("format", "split", "samples", "path"):
        table.add_column(column, justify="right" if column == "samples" else "left")
    for fmt, paths in figures["files"].items():
        for split, path in paths.items():
            table.add_row(fmt, split, str(samples.get(split, sum(samples.values()))), path)
    return table


def _stats_table(figures: dict[str, Any]) -> Table:
    noise = figures["distractor_stats"]
    read = figures["input"]
    table = Table(title="Training data statistics")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("total samples", str(figures["total_samples"])),
        ("avg turns", f"{figures['avg_turns']:.2f}"),
        ("avg trajectory length", f"{figures['avg_trajectory_length']:.2f}"),
        ("samples with noise", str(noise["samples_with_noise"])),
        ("noise rate", f"{noise['noise_rate']:.1%}"),
        ("records read", str(read["records_read"])),
        ("corrupt lines (skipped)", str(read["corrupt_lines"])),
        ("invalid records (skipped)", str(read["invalid_records"])),
        ("failed items", str(read["failed_records"])),
        ("rejected records", str(read["rejected_records"])),
        ("distinct personas (labels)", str(len(figures["persona_distribution"]))),
    ]
    rows += [
        (f"persona: {k}", str(v)) for k, v in list(figures["persona_distribution"].items())[:8]
    ]
    for row in rows:
        table.add_row(*row)
    return table


def _split_table(section: dict[str, Any]) -> Table:
    table = Table(title="Group-wise split" if section.get("enabled") else "No split")
    for column in ("split", "configured", "realised", "samples", "groups"):
        table.add_column(column, justify="left" if column == "split" else "right")
    configured = section.get("configured_ratios", {})
    groups = section.get("groups", {})
    for name, ratio in section["realised_ratios"].items():
        conf = configured.get(name)
        table.add_row(
            name,
            "-" if conf is None else f"{conf:.1%}",
            f"{ratio:.1%}",
            str(section["samples"][name]),
            str(groups.get(name, "-")),
        )
    return table


def _print_input_summary(console: Console, figures: dict[str, Any]) -> None:
    read = figures["input"]
    for warning in figures["split"].get("warnings", []):
        console.print(f"[yellow]split warning:[/] {warning}")
    if read.get("lines_in_progress"):
        console.print(
            f"[yellow]{read['lines_in_progress']} line(s) still being written were left out[/]"
        )
    skipped = read["corrupt_lines"] + read["invalid_records"]
    if skipped:
        console.print(
            f"[yellow]{skipped} unusable line(s) skipped[/] ({read['corrupt_lines']} corrupt, "
            f"{read['invalid_records']} invalid); locations in statistics input.problem_locations"
        )


def register(app: typer.Typer) -> None:
    """Add `export` and `stats` to the app."""
    app.command("export")(export)
    app.command("stats")(stats)
