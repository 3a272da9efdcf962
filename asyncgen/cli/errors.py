"""Turn errors into one clear line on stderr and an exit code; tracebacks only with --debug."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from asyncgen.errors import AsyncgenError

if TYPE_CHECKING:
    import typer

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 1
EXIT_CTRL_C = 130  # typer's standalone mode: Ctrl-C inside a command


def is_debug() -> bool:
    """`--debug` anywhere on the command line, or ASYNCGEN_DEBUG=1."""
    return "--debug" in sys.argv or os.environ.get("ASYNCGEN_DEBUG") == "1"


def cli_args() -> list[str]:
    """The command line after the program name, without `--debug`."""
    return [a for a in sys.argv[1:] if a != "--debug"]


def say(message: str) -> None:
    """One line on stderr (click's `echo` is not loaded for it: a hot start runs without typer)."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def describe_os_error(exc: OSError) -> str:
    """`cannot write /path: No space left on device` (what, where, why; no traceback)."""
    reason = exc.strerror or type(exc).__name__
    where = exc.filename if exc.filename is not None else None
    if where is None:
        return f"{reason} ({type(exc).__name__})"
    return f"{where}: {reason}"


def run_cli(app: typer.Typer) -> int:
    """Run the app and map what escapes it to an exit code.

    Usage errors, --help and Ctrl-C are left to click's standalone mode (exit 2, 0, 130);
    our own errors become one line on stderr and exit 2.
    """
    args = cli_args()
    return _guarded(lambda: app(args=args, prog_name="asyncgen", standalone_mode=True))


def run_plain(command: Callable[[], int]) -> int:
    """Run a command whose options were parsed without typer, with the exit codes the
    same command has under `run_cli`: its own, 2 and one line for our errors, 130 for
    Ctrl-C, 1 for a closed pipe, as typer's standalone mode gives them."""

    def standalone() -> None:
        try:
            code = command()
        except KeyboardInterrupt as exc:
            raise SystemExit(EXIT_CTRL_C) from exc
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            _quiet_closed_pipes()
            code = 1
        raise SystemExit(code)

    return _guarded(standalone)


def _guarded(call: Callable[[], object]) -> int:
    try:
        call()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except AsyncgenError as exc:
        if is_debug():
            raise
        say(f"error: {exc}")
        return EXIT_BAD_INPUT
    except OSError as exc:  # a missing, read-only or full output location, named in one line
        if is_debug():
            raise
        say(f"error: {describe_os_error(exc)}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        say("interrupted")
        return EXIT_INTERRUPTED
    return 0


def _quiet_closed_pipes() -> None:
    """After EPIPE, stdout and stderr go nowhere, so flushing them at exit cannot fail."""
    null = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(null, stream.fileno())
        except (OSError, ValueError):
            continue
