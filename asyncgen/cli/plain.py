"""A plain `asyncgen complete` command line, parsed without typer for a hot start.

Importing typer (and its click) and building the command cost ~45 ms of CPU before
anything runs: a sixth of `complete`'s start to its first request. A command line made
only of `complete` and its own options, each at most once (`--name value`,
`--name=value`, `--quiet`), is parsed here and runs `complete_from_options` directly.
Anything else (`--help`, an unknown, repeated or missing option, a value that looks like
an option, a number typer might read otherwise) gives None and goes to typer, which answers as it
always did. `tests/test_cli_plain.py` holds this table to typer's declaration.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

# flag -> (the parameter of `complete_from_options`, how typer converts the value; None: a flag)
COMPLETE_OPTIONS: dict[str, tuple[str, Callable[[str], Any] | None]] = {
    "--input": ("input_path", Path),
    "--output": ("output", Path),
    "--config": ("config", Path),
    "--base-url": ("base_url", str),
    "--model": ("model", str),
    "--rpm": ("rpm", int),
    "--tpm": ("tpm", int),
    "--concurrency": ("concurrency", int),
    "--max-cost": ("max_cost", float),
    "--max-tokens": ("max_tokens", int),
    "--price-in": ("price_in", float),
    "--price-out": ("price_out", float),
    "--quiet": ("quiet", None),
    "--metrics-port": ("metrics_port", int),
    "--log-level": ("log_level", str),
    "--ray": ("ray", str),
    "--ray-workers": ("ray_workers", int),
    "--mode": ("mode", str),
    "--deadline": ("deadline", str),
}
COMPLETE_REQUIRED = ("input_path", "output")
COMPLETION_VAR = "_ASYNCGEN_COMPLETE"  # click's shell-completion request: typer answers it


def plain_complete(args: list[str]) -> dict[str, Any] | None:
    """The keyword arguments of `complete_from_options` for `args` (the command line
    after the program name), or None when typer has to read it."""
    if not args or args[0] != "complete" or COMPLETION_VAR in os.environ:
        return None
    found: dict[str, Any] = {}
    rest = iter(args[1:])
    for arg in rest:
        name, has_value, inline = arg.partition("=")
        spec = COMPLETE_OPTIONS.get(name)
        if spec is None or spec[0] in found:
            return None
        key, convert = spec
        if convert is None:
            if has_value:
                return None
            found[key] = True
            continue
        value = inline if has_value else next(rest, None)
        if value is None or (not has_value and value.startswith("-")):
            return None
        if convert in (int, float) and not value.isascii():
            return None  # int("٥") is 5; typer refuses it
        try:
            found[key] = convert(value)
        except ValueError:
            return None
    if any(key not in found for key in COMPLETE_REQUIRED):
        return None
    return found
