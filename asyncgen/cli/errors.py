"""Turn errors into one clear line on stderr and an exit code; tracebacks only with --debug."""

from __future__ import annotations

import os
import sys

import click
import typer

from asyncgen.errors import AsyncgenError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 1


def is_debug() -> bool:
    """`--debug` anywhere on the command line, or ASYNCGEN_DEBUG=1."""
    return "--debug" in sys.argv or os.environ.get("ASYNCGEN_DEBUG") == "1"


def run_cli(app: typer.Typer) -> int:
    """Run the app and map what escapes it to an exit code."""
    args = [a for a in sys.argv[1:] if a != "--debug"]
    try:
        app(args=args, prog_name="asyncgen", standalone_mode=False)
    except AsyncgenError as exc:
        if is_debug():
            raise
        typer.echo(f"error: {exc}", err=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    return 0
