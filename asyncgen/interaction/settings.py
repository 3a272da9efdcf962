"""Accept the spec's `config: Dict` or a `RunConfig` wherever a config is taken."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from asyncgen.config import RunConfig, load_config
from asyncgen.errors import ConfigError

ConfigLike = RunConfig | Mapping[str, Any] | str | Path


def as_run_config(config: ConfigLike) -> RunConfig:
    """A validated `RunConfig` from a RunConfig, a spec-style dict, or a YAML path.

    Raises:
        ConfigError: the dict or file has unknown keys or bad values (one line each).
    """
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, str | Path):
        return load_config(config)
    try:
        return RunConfig.model_validate(dict(config))
    except ValidationError as exc:
        lines = [
            f"config: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from exc
