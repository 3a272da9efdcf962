"""Load, merge, validate and redact configuration."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from asyncgen.config.llm import PROVIDER_DEFAULTS, LLMSettings
from asyncgen.config.root import RunConfig
from asyncgen.errors import ConfigError

# libyaml's loader when PyYAML was built with it: the packaged defaults (~450 lines) parse
# in ~4 ms instead of ~40 ms, every run's start-up
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "resources" / "default.yaml"
ENV_PREFIX = "ASYNCGEN_"
SECRET_MARKERS = ("api_key", "secret", "password")
# Words that make a "…_token" name a measure of tokens, not a credential.
COUNT_WORDS = frozenset({"per", "max", "min", "input", "output", "prompt", "limit", "count"})
# Other names a key is found under: the dialogue report's setup uses OPENAI_KEY.
KEY_ALIASES = {"OPENAI_API_KEY": ("OPENAI_KEY",)}
# Keys whose names contain a marker but hold no secret (token counts and budgets).
NOT_SECRET = {"max_tokens", "max_completion_tokens", "prompt_tokens", "output_tokens", "first_k"}


def load_config(
    path: str | Path | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: str | Path | None = ".env",
) -> RunConfig:
    """Build the effective config.

    Args:
        path: a user YAML file, or a mapping of the same shape (`{"llm": {...}}`),
            merged over the packaged defaults.
        overrides: dotted keys (``"llm.limits.rpm"``) from the CLI; ``None`` values are skipped.
        environ: the environment to read ``ASYNCGEN_SECTION__KEY`` variables from.
        env_file: a ``.env`` file whose values fill variables not already set (a
            ``.env.local`` beside it is read too, and wins).

    Raises:
        ConfigError: one line per problem, naming the key.
    """
    data = read_yaml(DEFAULT_CONFIG_PATH)
    if isinstance(path, Mapping):
        deep_merge(data, copy.deepcopy(dict(path)))
    elif path is not None:
        deep_merge(data, read_yaml(Path(path)))
    env = dict(_dotenv(env_file))
    env.update(os.environ if environ is None else environ)
    for dotted, value in _env_overrides(env).items():
        _set_dotted(data, dotted, value)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    source = str(path) if path is not None and not isinstance(path, Mapping) else "config"
    return _validate(data, source=source)


ConfigLike = RunConfig | Mapping[str, Any] | str | Path


def as_run_config(config: ConfigLike) -> RunConfig:
    """A validated `RunConfig` from a RunConfig, a spec-style dict, or a YAML path: what
    every public class of the spec's API (the generators, the distractor factory) takes.

    Raises:
        ConfigError: the dict or file has unknown keys or bad values (one line each).
    """
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, str | Path):
        return load_config(config)
    return _validate(dict(config), source="config")


def validate_file(path: str | Path) -> list[str]:
    """Return one line per problem in a YAML config file (empty when it is valid)."""
    try:
        load_config(path, environ={}, env_file=None)
    except ConfigError as exc:
        return str(exc).splitlines()
    return []


def resolve_api_key(llm: LLMSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The key for the configured provider, from its environment variable, `.env` or
    `.env.local`; `OPENAI_KEY` (the dialogue report's name) stands in for `OPENAI_API_KEY`."""
    env = dict(_dotenv(".env"))
    env.update(os.environ if environ is None else environ)
    var = llm.api_key_env or PROVIDER_DEFAULTS[llm.provider][1]
    for name in (var, *KEY_ALIASES.get(var, ())):
        if env.get(name):
            return env[name]
    return None


def redacted(value: Any) -> Any:
    """A copy of a config dump with every secret-looking value replaced."""
    if isinstance(value, dict):
        return {k: ("***" if _is_secret(k) and v else redacted(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def _is_secret(key: str) -> bool:
    """`api_key`, `secret`, `password` anywhere in the name; `token` only as a name's own
    last word (`hf_token`, `auth_token`), never a count or a rate (`scenario_max_tokens`,
    `enqueued_token_limit`, `seconds_per_output_token`)."""
    lowered = key.lower()
    if lowered in NOT_SECRET or lowered.endswith("_env"):
        return False
    if any(marker in lowered for marker in SECRET_MARKERS):
        return True
    words = lowered.replace("-", "_").split("_")
    return words[-1] == "token" and not COUNT_WORDS.intersection(words)


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file's mapping (empty for an empty file).

    Raises:
        ConfigError: the file is missing, not YAML, or not a mapping of sections.
    """
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_one_line(exc)})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return loaded


def _dotenv(env_file: str | Path | None) -> dict[str, str]:
    """Values of `env_file`; for `.env`, also `.env.local` beside it, which wins.

    python-dotenv loads only when there is a file to read (~7 ms of every start-up).
    """
    if env_file is None:
        return {}
    files = [Path(env_file)]
    if files[0].name == ".env":
        files.append(files[0].with_name(".env.local"))
    values: dict[str, str] = {}
    for file in files:
        if file.is_file():
            from dotenv import dotenv_values

            values.update({k: v for k, v in dotenv_values(file).items() if v is not None})
    return values


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """`ASYNCGEN_LLM__LIMITS__RPM=6000` → `{"llm.limits.rpm": 6000}`."""
    found: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        found[dotted] = yaml.safe_load(raw) if raw else raw
    return found


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge `extra` into `base` in place, section by section (a file over the defaults)."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = value


def _validate(data: dict[str, Any], *, source: str) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"{source}: {key}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
