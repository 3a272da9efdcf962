"""What `generate` and `complete` share between parsing options and running the engine:
the config of a resumed run, opening the run directory, logging, the loop, the summary."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncgen.config import RunConfig, load_config
from asyncgen.config.loader import deep_merge, read_yaml
from asyncgen.contract import Pipeline
from asyncgen.engine.probe import preflight
from asyncgen.engine.runner import RunOptions
from asyncgen.engine.session import execute, needs_simulator, run_loop
from asyncgen.engine.summary import RunSummary, render_summary
from asyncgen.errors import ConfigError, StoreError
from asyncgen.logs import configure_logging
from asyncgen.store.lock import run_lock
from asyncgen.store.rundir import OpenRun, RunLayout, open_run_in_background, read_json

if TYPE_CHECKING:
    from rich.console import Console

REDACTED = "***"


def config_from_snapshot(
    run_dir: Path, user_file: Path | None, overrides: Mapping[str, Any]
) -> RunConfig:
    """A resumed run's config: its snapshot, then a user file, env and CLI overrides.

    Raises:
        StoreError: the directory holds no run.
        ConfigError: a setting is invalid.
    """
    snapshot_path = RunLayout.in_dir(run_dir).config
    if not snapshot_path.exists():
        raise StoreError(f"nothing to resume in {run_dir}: it holds no run (no config.json)")
    data = _unredact(read_json(snapshot_path))
    if user_file is not None:
        deep_merge(data, read_yaml(user_file))
    return load_config(data, overrides)


def _unredact(value: Any) -> Any:
    """Redacted secrets come back as unset (keys come from the environment again)."""
    if isinstance(value, dict):
        return {k: _unredact(v) for k, v in value.items() if v != REDACTED}
    if isinstance(value, list):
        return [_unredact(v) for v in value]
    return value


def setup_run(
    config: RunConfig, pipeline: Pipeline, layout: RunLayout, *, quiet: bool
) -> tuple[OpenRun, Console | None]:
    """Open the run directory (the one time it is opened), start logging; the console
    (None with `quiet`: rich, ~40 ms of imports, then loads only if something is shown).

    Raises:
        StoreError: the directory cannot be written, or holds a run with another plan.
    """
    check_same_provider(layout, config)
    if needs_simulator(config):  # the first snapshot must already say so (a kill may follow)
        config.llm.provider = "simulator"
    opened = open_run_in_background(layout, pipeline, config)  # fsyncs while we start up
    logger = configure_logging(config.engine.log_level, layout.log, console=not quiet)
    if quiet:
        logger.addHandler(_ErrorsOnly())
        return opened, None
    from rich.logging import RichHandler

    console = _stderr_console()
    for handler in logger.handlers:
        if isinstance(handler, RichHandler):
            handler.console = console
    return opened, console


def check_same_provider(layout: RunLayout, config: RunConfig) -> None:
    """Refuse to continue a real run on the simulator (or the reverse): no mixed records.

    Raises:
        ConfigError: the run was made with the simulator and would now use a provider,
            or the other way round.
    """
    if not layout.config.exists():
        return
    before = read_json(layout.config).get("llm", {}).get("provider")
    was_simulated = before == "simulator"
    if was_simulated == needs_simulator(config):
        return
    if was_simulated:
        raise ConfigError(
            f"{layout.run_dir} was generated on the simulator; resuming it against a real "
            "provider would mix real and simulated records (choose another --out)"
        )
    raise ConfigError(
        f"{layout.run_dir} was generated with provider {before!r} but no API key or "
        "--base-url is set now, which would mix simulated records in; set the key to resume"
    )


class _ErrorsOnly(logging.Handler):
    """With --quiet, errors still reach the terminal (through rich, loaded at the first)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self._rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.logging import RichHandler

            self._rich = RichHandler(console=_stderr_console(), show_path=False)
        self._rich.emit(record)


def _closing_line(summary: RunSummary, layout: RunLayout, *, quiet: bool) -> str | None:
    """What to tell the user after the summary: how to resume, or how far the run got."""
    if summary.status == "interrupted":
        return f"interrupted: rerun the same command to resume {layout.run_dir}"
    if summary.status == "failing":
        return (
            f"stopped: {summary.error}. Fix the cause (see failures.jsonl), then rerun the"
            f" same command to resume {layout.run_dir}"
        )
    if summary.status != "complete" and not quiet:
        return f"finished {summary.status}: {summary.done}/{summary.target} records"
    return None


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def launch(
    config: RunConfig,
    pipeline: Pipeline,
    layout: RunLayout,
    *,
    quiet: bool,
    resume: bool,
    use_gate: bool,
) -> RunSummary:
    """Run the pipeline on a fresh event loop with signal handling; print the summary.

    The run directory's lock is held from before the first write to the last. With
    `engine.ray.address` set, the items run on a Ray cluster (`asyncgen.cluster`).

    Raises:
        RunLockedError: another process is writing the same run directory.
        ConfigError: the key or the endpoint is unusable (before anything is written),
            or `--ray` was asked for and Ray is not installed (or with batch mode).
    """
    if config.engine.ray.address:
        from asyncgen.cluster import check_settings

        check_settings(config)  # before the run directory exists: one line, exit 2
    if not needs_simulator(config):
        preflight(config)
    with run_lock(layout.run_dir) as stale:
        opened, console = setup_run(config, pipeline, layout, quiet=quiet)
        config.freeze()  # as snapshotted: nothing from here on (endpoint, batch client) changes it
        if stale is not None:
            logging.getLogger("asyncgen.engine").info(
                "took over the lock of %s left by %s (no longer running)", layout.run_dir, stale
            )
        options = RunOptions(quiet=quiet, console=console, install_signals=True)
        runner = execute
        if config.engine.ray.address:
            from asyncgen.cluster.run import execute_on_cluster as runner
        summary = run_loop(
            runner(
                config,
                pipeline,
                opened,
                options=options,
                console=console,
                resume=resume,
                use_gate=use_gate,
            )
        )
        _tell(summary, layout, console, quiet=quiet)
        return summary


def _tell(summary: RunSummary, layout: RunLayout, console: Console | None, *, quiet: bool) -> None:
    """The summary table (unless quiet), then how to resume or how far the run got."""
    if not quiet:
        from rich.console import Console

        Console().print(render_summary(summary))
    closing = _closing_line(summary, layout, quiet=quiet)
    if closing:
        (console or _stderr_console()).print(closing)
