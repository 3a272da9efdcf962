"""Training data export: samples, leak-free splits, statistics and training formats.

The spec's API (`TrainingSample`, `TrainingDataCollector`, `TrainingDataExporter`) over
in-memory records, and `export_run`, which streams a whole run directory in two passes
with flat memory to JSON, JSONL, OpenAI chat JSONL, ShareGPT, Parquet and a Hugging Face
`datasets` folder.
"""

from __future__ import annotations

from asyncgen.export.collector import TrainingDataCollector
from asyncgen.export.columnar import SCHEMA, row_sample
from asyncgen.export.convert import ConvertOptions, group_keys, record_kind, record_samples
from asyncgen.export.exporter import TrainingDataExporter
from asyncgen.export.formats import FORMATS, file_name, openai_line, sharegpt_line
from asyncgen.export.options import ExportOptions, parse_formats, parse_ratios, training_settings
from asyncgen.export.reader import ReadReport
from asyncgen.export.run import ExportResult, export_run, export_run_async, run_statistics
from asyncgen.export.sample import TrainingSample
from asyncgen.export.split import SPLIT_NAMES, SplitPlan

__all__ = [
    "FORMATS",
    "SCHEMA",
    "SPLIT_NAMES",
    "ConvertOptions",
    "ExportOptions",
    "ExportResult",
    "ReadReport",
    "SplitPlan",
    "TrainingDataCollector",
    "TrainingDataExporter",
    "TrainingSample",
    "export_run",
    "export_run_async",
    "file_name",
    "group_keys",
    "openai_line",
    "parse_formats",
    "parse_ratios",
    "record_kind",
    "record_samples",
    "row_sample",
    "run_statistics",
    "sharegpt_line",
    "training_settings",
]
