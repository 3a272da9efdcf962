"""`asyncgen generate`: run a generation pipeline into a run directory (fresh or resumed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from asyncgen.cli import options as opt
from asyncgen.config.batch import deadline_setting
from asyncgen.errors import ConfigError

GREEDY_OPTIONS = frozenset(
    {
        "--temperature",
        "--top-p",
        "--top_p",
        "--frequency-penalty",
        "--frequency_penalty",
        "--presence-penalty",
        "--presence_penalty",
        "--min-turns",
        "--min_turns",
        "--max-turns",
        "--max_turns",
    }
)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def spread_values(args: list[str]) -> list[str]:
    """`--temperature 0.7 0.9` → `--temperature 0.7 --temperature 0.9` (argparse's nargs)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        option = args[i]
        out.append(option)
        i += 1
        if option not in GREEDY_OPTIONS:
            continue
        first = True
        while i < len(args) and _is_number(args[i]):
            if not first:
                out.append(option)
            out.append(args[i])
            first = False
            i += 1
    return out


class GreedyCommand(TyperCommand):
    """Accepts list options the argparse way: several values after one option name."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Spread multi-value options before click parses them."""
        return super().parse_args(ctx, spread_values(args))


@dataclass
class GenerateArgs:
    """The command line of `generate`, before it becomes config overrides."""

    pipeline: str | None
    n: int | None
    out: Path | None
    resume: Path | None
    config: Path | None
    quiet: bool
    overrides: dict[str, Any] = field(default_factory=dict)
    min_turns: list[int] | None = None
    max_turns: list[int] | None = None
    price_in: float | None = None
    price_out: float | None = None
    estimate: int | None = None


def _turns(name: str, values: list[int] | None, pipeline: str) -> dict[str, Any]:
    """Route --min-turns/--max-turns: one value (interaction) or a range A B (dialogue)."""
    if not values:
        return {}
    if pipeline == "dialogue":
        if len(values) != 2:
            raise ConfigError(f"--{name.replace('_', '-')} takes two values A B for dialogue")
        return {f"dialogue.{name}": values}
    if len(values) != 1:
        raise ConfigError(f"--{name.replace('_', '-')} takes one value for {pipeline}")
    return {f"interaction_generation.{name}": values[0]}


def _model_overrides(model: str | None) -> dict[str, Any]:
    """--model reaches every place a pipeline reads its model from."""
    if model is None:
        return {}
    return {
        "llm.model": model,
        "interaction_generation.assistant_model.model": model,
        "interaction_generation.user_model.model": model,
        "dialogue.model": model,
    }


def _load(args: GenerateArgs, overrides: dict[str, Any]) -> Any:
    """The config from a resumed run's snapshot, or from defaults and --config."""
    from asyncgen.cli.launch import config_from_snapshot
    from asyncgen.config import load_config

    if args.resume is not None:
        return config_from_snapshot(args.resume, args.config, overrides)
    return load_config(args.config, overrides)


def _resolve(args: GenerateArgs) -> tuple[Any, Path, bool]:
    """The effective config, the run directory, and whether --resume was asked for."""
    from asyncgen.store import default_run_dir

    if args.n is not None and args.n <= 0:
        raise ConfigError(f"--n must be at least 1 (got {args.n})")
    if args.resume is not None and args.out is not None and args.resume != args.out:
        raise ConfigError("--resume and --out name different directories; give one")
    overrides = dict(args.overrides)
    overrides.update({"engine.n": args.n, "engine.pipeline": args.pipeline})
    config = _load(args, overrides)
    turns = _turns("min_turns", args.min_turns, config.engine.pipeline)
    turns.update(_turns("max_turns", args.max_turns, config.engine.pipeline))
    if turns:
        config = _load(args, {**overrides, **turns})
    if args.resume is not None:
        return config, args.resume, True
    out = args.out or (Path(config.engine.out) if config.engine.out else None)
    run_dir = out or default_run_dir(config.engine.pipeline, datetime.now(UTC))
    config.engine.out = str(run_dir)
    return config, run_dir, False


def run_generate(args: GenerateArgs) -> int:
    """Build the pipeline and run it; returns the exit code."""
    from asyncgen.cli.launch import launch
    from asyncgen.engine.budget import apply_prices, check_budget_prices
    from asyncgen.engine.registry import load_pipeline
    from asyncgen.store import RunLayout

    config, run_dir, resume = _resolve(args)
    apply_prices(config, args.price_in, args.price_out)
    check_budget_prices(config)
    if args.estimate is not None:
        from asyncgen.cli.estimate import run_estimate

        for line in run_estimate(config, args.estimate, quiet=args.quiet).lines():
            typer.echo(line)
        return 0
    pipeline = load_pipeline(config.engine.pipeline, config)
    layout = RunLayout.in_dir(run_dir, pipeline.records_file, config.engine.log_file)
    summary = launch(config, pipeline, layout, quiet=args.quiet, resume=resume, use_gate=True)
    return summary.exit_code


def register(app: typer.Typer) -> None:
    """Add `generate` to the app."""
    app.command("generate", cls=GreedyCommand)(generate)


def generate(
    pipeline: str | None = typer.Option(
        None, "--pipeline", help="interaction | dialogue (default: interaction)."
    ),
    n: int | None = typer.Option(
        None,
        "--n",
        "--total-generations",
        "--total_generations",
        help="Records to produce (default 1000).",
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Run directory (default runs/<pipeline>-<timestamp>)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Plan seed."),
    config: opt.ConfigFile = None,
    base_url: opt.BaseUrl = None,
    model: str | None = typer.Option(None, "--model", help="Model for every call."),
    concurrency: opt.Concurrency = None,
    max_workers: int | None = typer.Option(None, "--max-workers", help="Conversations in flight."),
    max_cost: opt.MaxCost = None,
    max_tokens: opt.MaxTokens = None,
    price_in: opt.PriceIn = None,
    price_out: opt.PriceOut = None,
    rpm: opt.Rpm = None,
    tpm: opt.Tpm = None,
    quiet: opt.Quiet = False,
    estimate: bool = typer.Option(
        False,
        "--estimate",
        help="Run a small pilot and print projected requests, tokens,"
        " cost and wall time for --n (writes nothing to --out).",
    ),
    estimate_items: int = typer.Option(
        20, "--estimate-items", min=1, help="Items in the --estimate pilot."
    ),
    metrics_port: opt.MetricsPort = None,
    resume: Path | None = typer.Option(
        None, "--resume", help="Continue the run in this directory with its saved settings."
    ),
    log_level: opt.LogLevel = None,
    similarity_threshold: float | None = typer.Option(
        None, "--similarity-threshold", "--similarity_threshold", help="Cosine duplicate bar."
    ),
    min_turns: list[int] | None = typer.Option(
        None, "--min-turns", "--min_turns", help="interaction: N; dialogue: range A B."
    ),
    max_turns: list[int] | None = typer.Option(
        None, "--max-turns", "--max_turns", help="interaction: N; dialogue: range A B."
    ),
    temperature: list[float] | None = typer.Option(
        None, "--temperature", help="Temperatures drawn per conversation (several values)."
    ),
    top_p: list[float] | None = typer.Option(None, "--top-p", "--top_p", help="Top-p values."),
    frequency_penalty: list[float] | None = typer.Option(
        None, "--frequency-penalty", "--frequency_penalty", help="Frequency penalty values."
    ),
    presence_penalty: list[float] | None = typer.Option(
        None, "--presence-penalty", "--presence_penalty", help="Presence penalty values."
    ),
    dataset_path: str | None = typer.Option(
        None, "--dataset-path", help="Local MultiWOZ v2.2 folder or file (dialogue)."
    ),
    dataset_name: str | None = typer.Option(
        None, "--dataset-name", "--dataset_name", help="Base dataset name (dialogue)."
    ),
    persona_path: str | None = typer.Option(
        None, "--persona-path", help="Local FinePersonas file or folder (dialogue)."
    ),
    hash_file: str | None = typer.Option(
        None, "--hash-file", "--hash_file", help="Base-dialogue hash file (dialogue)."
    ),
    embedding_file: str | None = typer.Option(
        None, "--embedding-file", "--embedding_file", help="Embeddings file (dialogue)."
    ),
    output_file: str | None = typer.Option(
        None, "--output-file", "--output_file", help="Dialogue export file (dialogue)."
    ),
    num_personas: int | None = typer.Option(
        None, "--num-personas", help="Personas to sample (interaction)."
    ),
    queries_per_persona: int | None = typer.Option(
        None, "--queries-per-persona", help="Queries per persona (interaction)."
    ),
    personas_file: str | None = typer.Option(
        None, "--personas-file", help="Load personas from this file (interaction)."
    ),
    queries_file: str | None = typer.Option(
        None, "--queries-file", help="Load queries from this file (interaction)."
    ),
    no_dedup: bool = typer.Option(False, "--no-dedup", help="Keep semantic near-duplicates."),
    ray: opt.Ray = None,
    ray_workers: opt.RayWorkers = None,
    mode: opt.Mode = None,
    deadline: opt.Deadline = None,
    test_extraction: bool = typer.Option(
        False,
        "--test-extraction",
        "--test_extraction",
        help="The report's testing mode: extract one base dialogue and show it; no run.",
    ),
    extraction_index: int = typer.Option(
        0, "--extraction-index", "--extraction_index", help="Row for --test_extraction."
    ),
) -> None:
    """Generate records until the run directory holds exactly --n of them (resumable)."""
    overrides: dict[str, Any] = {
        "engine.seed": seed,
        "llm.base_url": base_url,
        "llm.limits.concurrency": concurrency,
        "engine.max_workers": max_workers,
        "llm.max_cost": max_cost,
        "llm.max_tokens": max_tokens,
        "engine.metrics_port": metrics_port,
        "llm.limits.rpm": rpm,
        "llm.limits.tpm": tpm,
        "engine.log_level": log_level.upper() if log_level else None,
        "dialogue.similarity_threshold": similarity_threshold,
        "dedup.threshold": similarity_threshold,
        "llm.sampling.temperature": temperature or None,
        "llm.sampling.top_p": top_p or None,
        "llm.sampling.frequency_penalty": frequency_penalty or None,
        "llm.sampling.presence_penalty": presence_penalty or None,
        "dialogue.dataset_path": dataset_path,
        "dialogue.dataset_name": dataset_name,
        "dialogue.persona_path": persona_path,
        "dialogue.hash_file": hash_file,
        "dialogue.embedding_file": embedding_file,
        "dialogue.output_file": output_file,
        "personas.num_personas": num_personas,
        "personas.queries_per_persona": queries_per_persona,
        "personas.personas_file": personas_file,
        "personas.queries_file": queries_file,
        "dedup.enabled": False if no_dedup else None,
        "engine.ray.address": ray,
        "engine.ray.workers": ray_workers,
        "llm.mode": mode,
        "llm.batch.deadline": deadline_setting(deadline),
        **_model_overrides(model),
    }
    if test_extraction:  # the report's main(): testing mode instead of generation
        from asyncgen.cli.extract_cmd import show_extraction

        show_extraction(_load_plain(config, overrides), extraction_index, as_json=False)
        return
    args = GenerateArgs(
        pipeline=pipeline,
        n=n,
        out=out,
        resume=resume,
        config=config,
        quiet=quiet,
        overrides=overrides,
        min_turns=min_turns,
        max_turns=max_turns,
        price_in=price_in,
        price_out=price_out,
        estimate=estimate_items if estimate else None,
    )
    _exit(run_generate(args))


def _load_plain(config: Path | None, overrides: dict[str, Any]) -> Any:
    from asyncgen.config import load_config

    return load_config(config, overrides)


def _exit(code: int) -> None:
    """Exit non-zero for an interrupted run (SystemExit passes through the CLI wrapper intact)."""
    if code:
        raise SystemExit(code)
