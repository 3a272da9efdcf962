"""The `asyncgen` command: one typer app, one module per command group.

Only this layer turns an `AsyncgenError` into a one-line message and an exit code:
2 for bad input, 1 for an interrupted run.
"""

from __future__ import annotations

import sys

import typer

from asyncgen.cli import (
    bench_cmd,
    complete_cmd,
    config_cmd,
    export_cmd,
    extract_cmd,
    generate_cmd,
    report_cmd,
    sim_cmd,
)
from asyncgen.cli.errors import run_cli

app = typer.Typer(
    name="asyncgen",
    help="Generate synthetic multi-turn dialogue datasets at the provider's rate limit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (
    config_cmd,
    sim_cmd,
    complete_cmd,
    generate_cmd,
    extract_cmd,
    export_cmd,
    bench_cmd,
    report_cmd,
):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run_cli(app))


__all__ = ["app", "main"]
