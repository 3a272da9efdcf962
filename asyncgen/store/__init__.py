"""asyncgen.store: append-only JSONL writers, the run directory, resume and the index."""

from asyncgen.store.index import write_index
from asyncgen.store.jsonl import JsonlWriter, count_lines, dumps_line, iter_jsonl, repair_tail
from asyncgen.store.resume import ExistingRun, load_existing, records_of, scan_ids
from asyncgen.store.rundir import (
    RunLayout,
    check_plan,
    default_run_dir,
    plan_differences,
    plan_record,
    prepare_run_dir,
    read_json,
    snapshot_config,
    write_json_atomic,
)

__all__ = [
    "ExistingRun",
    "JsonlWriter",
    "RunLayout",
    "check_plan",
    "count_lines",
    "default_run_dir",
    "dumps_line",
    "iter_jsonl",
    "load_existing",
    "plan_differences",
    "plan_record",
    "prepare_run_dir",
    "read_json",
    "records_of",
    "repair_tail",
    "scan_ids",
    "snapshot_config",
    "write_index",
    "write_json_atomic",
]
