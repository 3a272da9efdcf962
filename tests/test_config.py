"""Configuration: defaults load, every key is documented, errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from asyncgen.cli import app
from asyncgen.config import DEFAULT_CONFIG_PATH, RunConfig, load_config, redacted
from asyncgen.errors import ConfigError


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _leaf_keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def _yaml_keys(data: dict[str, object], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in data.items():
        if (
            isinstance(value, dict)
            and not key.endswith(("prices", "weights", "statuses"))
            and value
            and not key.endswith(("categories", "combinations", "time_slots"))
        ):
            keys |= _yaml_keys(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def test_default_yaml_documents_every_setting() -> None:
    """Every field of every settings model appears in config/default.yaml."""
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    missing = _leaf_keys(RunConfig) - _yaml_keys(data)
    assert not missing, f"undocumented settings: {sorted(missing)}"


def test_environment_overrides_yaml(tmp_path: Path) -> None:
    """ASYNCGEN_SECTION__KEY beats the YAML file; CLI overrides beat both."""
    user = tmp_path / "c.yaml"
    user.write_text("llm:\n  limits:\n    rpm: 100\n")
    env = {"ASYNCGEN_LLM__LIMITS__RPM": "200"}
    assert load_config(user, environ=env, env_file=None).llm.limits.rpm == 200
    cfg = load_config(user, {"llm.limits.rpm": 300}, environ=env, env_file=None)
    assert cfg.llm.limits.rpm == 300


def test_bad_value_names_the_key(tmp_path: Path) -> None:
    """An out-of-range value is reported with its dotted key, one line each."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("engine:\n  n: 0\n  colour: blue\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad, environ={}, env_file=None)
    lines = str(info.value).splitlines()
    assert any("engine.n" in line for line in lines)
    assert any("engine.colour" in line for line in lines)


def test_validate_command_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    """`asyncgen config validate` prints each problem and exits 2."""
    from asyncgen.cli.errors import run_cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("interaction_generation:\n  min_turns: 6\n  max_turns: 2\n")
    import sys

    argv = sys.argv
    sys.argv = ["asyncgen", "config", "validate", str(bad)]
    try:
        assert run_cli(app) == 2
    finally:
        sys.argv = argv


def test_show_redacts_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """`config show` never prints a key set in the environment."""
    monkeypatch.setenv("ASYNCGEN_SIM__API_KEY", "sk-secret-123")
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "sk-secret-123" not in result.output
    assert redacted({"api_key": "x", "max_tokens": 5}) == {"api_key": "***", "max_tokens": 5}


def test_unknown_option_is_a_usage_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped option prints click's usage error and exits 2, with no traceback."""
    from asyncgen.cli.errors import run_cli

    monkeypatch.setattr("sys.argv", ["asyncgen", "config", "show", "--colour"])
    assert run_cli(app) == 2
    err = capsys.readouterr().err
    assert "No such option" in err
    assert "Traceback" not in err


def test_key_found_the_dialogue_report_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report keeps `OPENAI_KEY` in `.env.local`: that key is used, not the simulator;
    `OPENAI_API_KEY` still wins, and `.env.local` wins over `.env`."""
    from asyncgen.config import resolve_api_key

    monkeypatch.chdir(tmp_path)
    llm = load_config(environ={}, env_file=None).llm
    assert resolve_api_key(llm, environ={}) is None
    (tmp_path / ".env.local").write_text("OPENAI_KEY=sk-from-report\n")
    assert resolve_api_key(llm, environ={}) == "sk-from-report"
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-dotenv\nASYNCGEN_ENGINE__N=7\n")
    assert resolve_api_key(llm, environ={}) == "sk-dotenv"
    assert resolve_api_key(llm, environ={"OPENAI_API_KEY": "sk-env"}) == "sk-env"
    (tmp_path / ".env.local").write_text("OPENAI_API_KEY=sk-local\nASYNCGEN_ENGINE__N=9\n")
    assert resolve_api_key(llm, environ={}) == "sk-local"
    assert load_config(environ={}).engine.n == 9


def test_load_config_takes_a_mapping_like_a_file(tmp_path: Path) -> None:
    """A dict of the YAML's shape merges over the defaults; a bad value names its key."""
    given = {"llm": {"model": "m-from-dict"}, "engine": {"n": 7}}
    config = load_config(given, {"engine.seed": 3}, environ={}, env_file=None)
    assert (config.llm.model, config.engine.n, config.engine.seed) == ("m-from-dict", 7, 3)
    assert given == {"llm": {"model": "m-from-dict"}, "engine": {"n": 7}}  # not consumed
    with pytest.raises(ConfigError, match=r"^config: engine\.n: "):
        load_config({"engine": {"n": -1}}, environ={}, env_file=None)


def test_the_snapshot_masks_credentials_but_no_setting() -> None:
    """A saved config loads back as the same settings: token counts and limits
    (`dialogue.scenario_max_tokens`, `sim.seconds_per_output_token`) are not secrets, while
    credential names are masked (they were all '***', so a resume lost them)."""
    config = load_config(
        None,
        {"dialogue.scenario_max_tokens": 321, "sim.seconds_per_output_token": 0.002},
        environ={},
        env_file=None,
    )
    dump = config.model_dump(mode="json")
    assert redacted(dump) == dump
    assert RunConfig.model_validate(redacted(dump)).dialogue.scenario_max_tokens == 321
    secrets = {"hf_token": "h", "auth-token": "a", "token": "t", "client_secret": "s"}
    assert set(redacted(secrets).values()) == {"***"}
