"""The set of writers of one export: every requested format for every split."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from asyncgen.export.columnar import HFDatasetBuilder, ParquetSampleWriter
from asyncgen.export.formats import (
    JsonArrayWriter,
    JsonLinesWriter,
    SampleWriter,
    dst_rows,
    file_name,
    openai_line,
    sharegpt_line,
)
from asyncgen.export.options import ExportOptions
from asyncgen.export.sample import TrainingSample

HF_FOLDER = "hf_dataset"


class _Sink(Protocol):
    def write(self, sample: TrainingSample) -> None: ...


def _file_writer(fmt: str, final: Path, options: ExportOptions) -> SampleWriter:
    system = options.system_prompt
    if fmt == "json":
        return JsonArrayWriter(final)
    if fmt == "jsonl":
        return JsonLinesWriter(final, lambda s: [s.to_dict()])
    if fmt == "openai":
        return JsonLinesWriter(final, lambda s: [openai_line(s, system)])
    if fmt == "sharegpt":
        return JsonLinesWriter(final, lambda s: [sharegpt_line(s, system)])
    if fmt == "dst":
        return JsonLinesWriter(final, dst_rows)
    return ParquetSampleWriter(final, system, options.batch_size)


class OutputSet:
    """Opens every output under a temporary name; `commit` renames them all into place."""

    def __init__(self, options: ExportOptions, splits: tuple[str, ...], stamp: str | None) -> None:
        self._files: list[tuple[str, str, SampleWriter]] = []
        self._hf: HFDatasetBuilder | None = None
        self._sinks: dict[str, list[_Sink]] = {split: [] for split in splits}
        try:
            self._open(options, splits, stamp)
        except BaseException:
            self.abort()
            raise

    def _open(self, options: ExportOptions, splits: tuple[str, ...], stamp: str | None) -> None:
        out = options.out_dir
        if "hf" in options.formats:
            folder = HF_FOLDER + (f"_{stamp}" if stamp else "")
            self._hf = HFDatasetBuilder(
                out / folder, splits, options.system_prompt, options.batch_size
            )
            for split in splits:
                self._sinks[split].append(self._hf.split_writer(split))
        for fmt in options.formats:
            if fmt == "hf":
                continue
            for split in splits:
                writer = _file_writer(fmt, out / file_name(fmt, split, stamp), options)
                self._files.append((fmt, split, writer))
                self._sinks[split].append(writer)

    def write(self, split: str, sample: TrainingSample) -> None:
        """Send one sample to every format of its split."""
        for sink in self._sinks[split]:
            sink.write(sample)

    def commit(self) -> dict[str, dict[str, str]]:
        """Finish every output; returns {format: {split: path}} (hf: {"dataset": folder})."""
        files: dict[str, dict[str, str]] = {}
        for fmt, split, writer in self._files:
            files.setdefault(fmt, {})[split] = str(writer.commit())
        if self._hf is not None:
            files["hf"] = {"dataset": str(self._hf.commit())}
        return files

    def abort(self) -> None:
        """Drop every temporary output."""
        for _, _, writer in self._files:
            writer.abort()
        if self._hf is not None:
            self._hf.abort()
