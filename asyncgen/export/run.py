"""Export a run directory in two streaming passes with flat memory.

Pass one reads every record, converts it, accumulates the statistics and remembers only
each record's hashed group keys; the split plan is made from those. Pass two reads the
same bytes again and streams each sample to its split's writers. Memory holds one record,
one batch per columnar writer and the per-key arrays of the plan, never the dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from asyncgen import offload
from asyncgen.errors import DatasetError
from asyncgen.export.columnar import require_datasets
from asyncgen.export.convert import group_keys, record_samples
from asyncgen.export.options import ExportOptions
from asyncgen.export.outputs import OutputSet
from asyncgen.export.reader import ReadReport, iter_run, logger, snapshot_sizes
from asyncgen.export.sample import TrainingSample
from asyncgen.export.split import SPLIT_NAMES, GroupCollector, SplitPlan, split_section
from asyncgen.export.stats import Clock, StatsAccumulator, local_now
from asyncgen.store.atomic import remove_stale_temps, write_bytes_atomic

STATISTICS_NAME = "statistics"


ProblemHook = Callable[[str], None] | None


def _warn(message: str) -> None:
    logger.warning("%s", message)


@dataclass
class ExportResult:
    """What an export wrote, and the statistics it wrote beside it."""

    files: dict[str, dict[str, str]]
    statistics: dict[str, Any]
    statistics_file: str
    report: ReadReport = field(default_factory=ReadReport)

    def summary(self) -> dict[str, Any]:
        """The `training_data` entry of a pipeline result (spec: total_samples, sample_files)."""
        return {
            "total_samples": self.statistics["total_samples"],
            "sample_files": self.files,
            "statistics_file": self.statistics_file,
        }


@dataclass
class _PassOne:
    stats: StatsAccumulator
    report: ReadReport
    plan: SplitPlan | None


def iter_run_samples(
    run: Path, options: ExportOptions, report: ReadReport, sizes: dict[Path, int] | None = None
) -> Iterator[tuple[list[str], list[TrainingSample]]]:
    """(group keys, samples) of every usable record of a run; unusable ones are reported.

    Raises:
        DatasetError: an unusable line while `options.strict`.
        StoreError: no records file.
    """
    lines = iter_run(
        run, report, strict=options.strict, keep_rejected=options.keep_rejected, sizes=sizes
    )
    for line in lines:
        try:
            samples = record_samples(line.record, options.convert)
        except DatasetError as exc:
            report.problem(line.path, line.lineno, str(exc), corrupt=False, strict=options.strict)
            continue
        yield group_keys(line.record), samples


def _pass_one(
    run: Path, options: ExportOptions, sizes: dict[Path, int], on_problem: ProblemHook
) -> _PassOne:
    stats = StatsAccumulator()
    report = ReadReport(on_problem=on_problem)
    groups = GroupCollector()
    for keys, samples in iter_run_samples(run, options, report, sizes):
        groups.add(keys, len(samples))
        for sample in samples:
            stats.add(sample)
    plan = groups.plan(options.ratios, options.seed) if options.ratios is not None else None
    return _PassOne(stats, report, plan)


def _statistics(first: _PassOne, options: ExportOptions, clock: Clock) -> dict[str, Any]:
    stats = first.stats.result(clock)
    stats["split"] = split_section(first.plan, options.ratios, options.seed, first.stats.total)
    stats["input"] = first.report.as_dict()
    stats["options"] = {
        "formats": list(options.formats),
        "user_turns": options.user_turns,
        "system_prompt": options.system_prompt is not None,
        "keep_rejected": options.keep_rejected,
    }
    return stats


def run_statistics(
    run: Path,
    options: ExportOptions,
    clock: Clock = local_now,
    on_problem: ProblemHook = _warn,
) -> dict[str, Any]:
    """Statistics of a run (pass one only): what an export would write, without writing.

    Raises:
        DatasetError: a corrupt line while `options.strict`.
        StoreError: no records file.
    """
    first = _pass_one(run, options, snapshot_sizes(run), on_problem)
    return _statistics(first, options, clock)


def export_run(
    run: Path,
    options: ExportOptions,
    clock: Clock = local_now,
    on_problem: ProblemHook = _warn,
) -> ExportResult:
    """Export a run directory to every requested format, split by group, atomically.

    Args:
        run: a run directory (or a records JSONL file).
        options: formats, split, user turns, system prompt, strictness, output folder.
        clock: the time for `created_at` and timestamped names.
        on_problem: told each unusable line ("skipped FILE:LINE: why"); default logs it.

    Returns:
        The files written by format and split, and the statistics.

    Raises:
        DatasetError: a corrupt line while `options.strict` (nothing is written).
        StoreError: no records file.
        ConfigError: bad options, or format 'hf' without the `datasets` extra.
    """
    options.check()
    if "hf" in options.formats:
        require_datasets()
    sizes = snapshot_sizes(run)
    first = _pass_one(run, options, sizes, on_problem)
    remove_stale_temps(options.out_dir)
    stamp = clock().strftime("%Y%m%d_%H%M%S") if options.use_timestamp else None
    splits = SPLIT_NAMES if first.plan is not None else ("train",)
    outputs = OutputSet(options, splits, stamp)
    try:
        _pass_two(run, options, sizes, first.plan, outputs)
        files = outputs.commit()
    except BaseException:
        outputs.abort()
        raise
    stats = _statistics(first, options, clock)
    stats["files"] = files
    name = f"{STATISTICS_NAME}{'_' + stamp if stamp else ''}.json"
    path = write_bytes_atomic(
        options.out_dir / name, orjson.dumps(stats, option=orjson.OPT_INDENT_2)
    )
    return ExportResult(files, stats, str(path), first.report)


def _pass_two(
    run: Path,
    options: ExportOptions,
    sizes: dict[Path, int],
    plan: SplitPlan | None,
    outputs: OutputSet,
) -> None:
    quiet = ReadReport(on_problem=None)
    for keys, samples in iter_run_samples(run, options, quiet, sizes):
        split = SPLIT_NAMES[plan.split_index(keys)] if plan is not None else "train"
        for sample in samples:
            outputs.write(split, sample)


async def export_run_async(
    run: Path, options: ExportOptions, clock: Clock = local_now, on_problem: ProblemHook = _warn
) -> ExportResult:
    """`export_run` in a worker thread, for callers on the event loop."""
    return await offload.to_thread(lambda: export_run(run, options, clock, on_problem))
