"""Turn errors into one clear line on stderr and an exit code; tracebacks only with --debug."""

from __future__ import annotations

import os
import sys

import typer

from asyncgen.errors import AsyncgenError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 1


def is_debug() -> bool:
    """`--debug` anywhere on the command line, or ASYNCGEN_DEBUG=1."""
    return "--debug" in sys.argv or os.environ.get("ASYNCGEN_DEBUG") == "1"


def describe_os_error(exc: OSError) -> str:
    """`cannot write /path: No space left on device` (what, where, why; no traceback)."""
    reason = exc.strerror or type(exc).__name__
    where = exc.filename if exc.filename is not None else None
    if where is None:
        return f"{reason} ({type(exc).__name__})"
    return f"{where}: {reason}"


def run_cli(app: typer.Typer) -> int:
    """Run the app and map what escapes it to an exit code.

    Usage errors, --help and Ctrl-C are left to click's standalone mode (exit 2, 0, 1);
    our own errors become one line on stderr and exit 2.
    """
    args = [a for a in sys.argv[1:] if a != "--debug"]
    try:
        app(args=args, prog_name="asyncgen", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except AsyncgenError as exc:
        if is_debug():
            raise
        typer.echo(f"error: {exc}", err=True)
        return EXIT_BAD_INPUT
    except OSError as exc:  # a missing, read-only or full output location, named in one line
        if is_debug():
            raise
        typer.echo(f"error: {describe_os_error(exc)}", err=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    return 0
