"""The `asyncgen` command: one typer app, one module per command group.

Only this layer turns an `AsyncgenError` into a one-line message and an exit code:
2 for bad input, 1 for an interrupted run.

`main` imports only the module of the command being run (``asyncgen complete`` does not
load the report's plotting or the export's Arrow stack: a second less before its first
request), and a plain ``asyncgen complete`` command line runs without typer at all
(`asyncgen.cli.plain`); ``asyncgen --help`` and `app` (for tests and embedding) have
every command.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING

from asyncgen import collector
from asyncgen.cli.errors import cli_args, run_cli, run_plain
from asyncgen.cli.startup import skip_pydantic_plugins

if TYPE_CHECKING:
    import typer

_MODULES = (
    "config_cmd",
    "sim_cmd",
    "complete_cmd",
    "generate_cmd",
    "extract_cmd",
    "export_cmd",
    "bench_cmd",
    "report_cmd",
)
_MODULE_OF = {  # command name -> the module that registers it
    "config": "config_cmd",
    "sim": "sim_cmd",
    "complete": "complete_cmd",
    "generate": "generate_cmd",
    "extract": "extract_cmd",
    "export": "export_cmd",
    "stats": "export_cmd",
    "bench": "bench_cmd",
    "report": "report_cmd",
}


def build_app(modules: tuple[str, ...] = _MODULES) -> typer.Typer:
    """The typer app with the commands of `modules` (default: all of them)."""
    import typer

    app = typer.Typer(
        name="asyncgen",
        help="Generate synthetic multi-turn dialogue datasets at the provider's rate limit.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    if len(modules) == 1:

        @app.callback()
        def _group() -> None:
            """Keep `asyncgen COMMAND` a group with one command (typer would flatten it)."""

    for name in modules:
        module: ModuleType = importlib.import_module(f"asyncgen.cli.{name}")
        module.register(app)
    return app


def _command_in(argv: list[str]) -> str | None:
    """The module of the command `argv` runs, or None (help, or an unknown name)."""
    first = next((arg for arg in argv[1:] if not arg.startswith("-")), None)
    return _MODULE_OF.get(first or "")


def main() -> None:
    """Console-script entry point."""
    skip_pydantic_plugins()  # before the first model is built
    module = _command_in(sys.argv)
    if module == "complete_cmd":
        from asyncgen.cli.plain import plain_complete

        options = plain_complete(cli_args())
        if options is not None:
            collector.hold()  # until the run's loop starts (asyncgen.collector)
            from asyncgen.cli.complete_run import complete_from_options

            sys.exit(run_plain(lambda: complete_from_options(**options)))
    sys.exit(run_cli(build_app((module,) if module else _MODULES)))


_app: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    """`asyncgen.cli.app`: every command, built on first use."""
    global _app
    if name == "app":
        if _app is None:
            _app = build_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "build_app", "main"]
