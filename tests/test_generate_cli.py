"""`asyncgen generate` on the command line: bad input, options, resume, the simulator notice."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import orjson
import pytest
from engine_support import cli, subprocess_env

from asyncgen.cli.generate_cmd import GenerateArgs, _resolve, spread_values
from asyncgen.errors import ConfigError

QUICK = ["--config", "{config}", "--quiet", "--no-dedup"]
CONFIG = "engine:\n  max_workers: 8\n  fsync_interval: 0.0\n"


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `asyncgen` in a subprocess with the quick config."""
    config = tmp_path / "quick.yaml"
    config.write_text(CONFIG)
    extra = [a.format(config=config) for a in QUICK]
    return subprocess.run(
        cli(*args, *extra), env=subprocess_env(), capture_output=True, text=True, timeout=120
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr lines that are not the simulator notice."""
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_n_of_zero_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    """--n 0 is refused before anything starts."""
    result = run_cli(tmp_path, "generate", "--n", "0", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert error_lines(result) == ["error: --n must be at least 1 (got 0)"]
    assert not (tmp_path / "r").exists()


def test_unwritable_out_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    """An --out that cannot be created is refused with its path."""
    (tmp_path / "file").write_text("x")
    result = run_cli(tmp_path, "generate", "--n", "3", "--out", str(tmp_path / "file" / "run"))
    assert result.returncode == 2 and len(error_lines(result)) == 1
    assert "cannot write to" in error_lines(result)[0]


def test_generate_over_the_simulator_then_resume_with_a_larger_n(tmp_path: Path) -> None:
    """No key: simulated records; rerunning with --resume and a larger --n adds only the rest."""
    out = tmp_path / "run"
    first = run_cli(
        tmp_path, "generate", "--pipeline", "engine_support:EchoPipeline", "--n", "12",
        "--out", str(out),
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "output is simulated" in first.stderr
    snapshot = orjson.loads((out / "config.json").read_bytes())
    assert snapshot["llm"]["provider"] == "simulator"
    second = run_cli(tmp_path, "generate", "--resume", str(out), "--n", "20")
    assert second.returncode == 0, second.stderr
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["done"] == 20 and summary["done_before"] == 12 and summary["session_done"] == 8
    ids = [orjson.loads(x)["id"] for x in (out / "records.jsonl").read_bytes().splitlines()]
    assert len(set(ids)) == 20


def test_resume_with_a_different_plan_is_exit_2(tmp_path: Path) -> None:
    """Rerunning into the same --out with another seed is refused, naming the change."""
    out = tmp_path / "run"
    base = ["generate", "--pipeline", "engine_support:EchoPipeline", "--n", "3", "--out", str(out)]
    assert run_cli(tmp_path, *base).returncode == 0
    result = run_cli(tmp_path, *base, "--seed", "9")
    assert result.returncode == 2
    assert error_lines(result) == [
        f"error: {out} was made with a different plan (seed: 0 → 9); "
        "resume with the same settings or choose another --out"
    ]


def test_resume_of_an_empty_directory_is_refused(tmp_path: Path) -> None:
    """--resume of a folder without a run says there is nothing to resume."""
    (tmp_path / "empty").mkdir()
    result = run_cli(tmp_path, "generate", "--resume", str(tmp_path / "empty"))
    assert result.returncode == 2 and "nothing to resume" in error_lines(result)[0]


def test_unknown_pipeline_module_is_a_clear_error(tmp_path: Path) -> None:
    """A pipeline whose module is missing is named in one line."""
    result = run_cli(tmp_path, "generate", "--pipeline", "nowhere.mod:Pipe", "--n", "2")
    assert result.returncode == 2 and "nowhere.mod is not installed" in error_lines(result)[0]


def test_list_options_take_several_values_like_argparse() -> None:
    """`--temperature 0.7 0.9 --min-turns 5 10` spreads into repeated options."""
    args = ["--temperature", "0.7", "0.9", "--n", "5", "--min-turns", "5", "10", "--quiet"]
    assert spread_values(args) == [
        "--temperature", "0.7", "--temperature", "0.9", "--n", "5",
        "--min-turns", "5", "--min-turns", "10", "--quiet",
    ]  # fmt: skip
    assert spread_values(["--presence-penalty", "-0.5", "0"]) == [
        "--presence-penalty", "-0.5", "--presence-penalty", "0",
    ]  # fmt: skip


def test_turn_options_route_per_pipeline(tmp_path: Path) -> None:
    """--min-turns is a range for dialogue and one number for interaction."""

    def resolve(pipeline: str, min_turns: list[int]) -> object:
        args = GenerateArgs(
            pipeline=pipeline, n=5, out=tmp_path / pipeline, resume=None, config=None,
            quiet=True, overrides={"llm.sampling.temperature": [0.5, 0.6]},
            min_turns=min_turns,
        )  # fmt: skip
        return _resolve(args)[0]

    dialogue = resolve("dialogue", [6, 9])
    assert dialogue.dialogue.min_turns == (6, 9)  # type: ignore[attr-defined]
    assert dialogue.llm.sampling.temperature == [0.5, 0.6]  # type: ignore[attr-defined]
    assert resolve("interaction", [3]).interaction_generation.min_turns == 3  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="two values"):
        resolve("dialogue", [6])
    with pytest.raises(ConfigError, match="one value"):
        resolve("interaction", [3, 4])


def test_a_real_run_is_not_resumed_on_the_simulator(tmp_path: Path) -> None:
    """Without a key, resuming a run made against a provider is refused (no mixed records)."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text('{"llm": {"provider": "openai"}}')
    result = run_cli(tmp_path, "generate", "--n", "3", "--out", str(out))
    assert result.returncode == 2
    assert "would mix simulated records in" in error_lines(result)[0]


def test_without_a_terminal_progress_is_logged_as_lines(tmp_path: Path) -> None:
    """Not a TTY, not quiet: periodic 'progress n/N' lines, then the summary table."""
    config = tmp_path / "slow.yaml"
    config.write_text(
        "sim:\n  latency_median: 0.05\nengine:\n  max_workers: 2\n  progress_interval: 0.2\n"
    )
    result = subprocess.run(
        cli(
            "generate",
            "--pipeline",
            "engine_support:EchoPipeline",
            "--n",
            "60",
            "--out",
            str(tmp_path / "run"),
            "--config",
            str(config),
            "--no-dedup",
        ),  # fmt: skip
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    logged = result.stdout + result.stderr
    progress = [line for line in logged.splitlines() if "progress " in line and "/60" in line]
    assert len(progress) >= 3
    assert "asyncgen echo: complete" in result.stdout and "60/60" in result.stdout
    log = (tmp_path / "run" / "asyncgen.log").read_text()
    assert "progress 60/60 (100%)" in log


def test_first_snapshot_already_names_the_simulator(tmp_path: Path) -> None:
    """Killed right after start-up, a simulated run still resumes: its snapshot says so."""
    from engine_support import EchoPipeline

    from asyncgen.cli.launch import setup_run
    from asyncgen.config import load_config
    from asyncgen.store import RunLayout

    config = load_config(None, {"engine.n": 3}, environ={}, env_file=None)
    layout = RunLayout.in_dir(tmp_path / "run", "records.jsonl")
    import logging

    opened, _ = setup_run(config, EchoPipeline(config), layout, quiet=True)
    assert opened.layout == layout and not opened.resumed
    asyncio.run(opened.settled())  # written while start-up goes on; awaited before any request
    logger = logging.getLogger("asyncgen")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    assert orjson.loads(layout.config.read_bytes())["llm"]["provider"] == "simulator"


def test_a_run_whose_every_call_fails_stops_early_and_says_why(tmp_path: Path) -> None:
    """An endpoint that answers every request with a 500: the run stops after ~50 items
    with exit 1 and a line naming the cause, instead of 4 × n failed calls."""
    config = tmp_path / "broken.yaml"
    config.write_text(
        CONFIG + "llm:\n  retry:\n    max_retries: 0\nsim:\n  faults:\n    error_500: 1.0\n"
    )
    out = tmp_path / "run"
    result = subprocess.run(
        cli(
            "generate", "--pipeline", "engine_support:EchoPipeline", "--n", "300",
            "--out", str(out), "--config", str(config), "--quiet", "--no-dedup",
        ),
        env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["status"] == "failing" and 50 <= summary["failed"] <= 60
    assert "ServerError" in summary["error"] or "500" in summary["error"]
    assert "stopped:" in result.stdout + result.stderr
