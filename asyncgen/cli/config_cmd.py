"""`asyncgen config show|validate`: the effective settings, and what is wrong with a file."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.syntax import Syntax

from asyncgen.cli.options import ConfigFile
from asyncgen.config import load_config, redacted, validate_file
from asyncgen.errors import ConfigError

config_app = typer.Typer(help="Show or validate configuration.", no_args_is_help=True)


@config_app.command("show")
def show(
    config: ConfigFile = None,
) -> None:
    """Print the effective config (defaults, file, environment) with secrets redacted."""
    effective = load_config(config)
    text = yaml.safe_dump(redacted(effective.model_dump(mode="json")), sort_keys=False)
    Console().print(Syntax(text, "yaml", background_color="default"))


@config_app.command("validate")
def validate(file: Path = typer.Argument(..., help="YAML config file to check.")) -> None:
    """Say what is wrong in FILE, one line per problem; exit 2 when anything is."""
    problems = validate_file(file)
    if problems:
        raise ConfigError("\n".join(problems))
    typer.echo(f"{file}: valid")


def register(app: typer.Typer) -> None:
    """Add `config` to the app."""
    app.add_typer(config_app, name="config")
