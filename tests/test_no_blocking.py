"""The `no_blocking` fixture (blockbuster) catches a blocking call on the loop, and the
store's writer passes under it: its writes and fsyncs stay off the event loop."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from asyncgen.store import JsonlWriter


async def test_a_blocking_sleep_in_asyncgen_code_on_the_loop_fails(no_blocking: Any) -> None:
    """A stand-in for asyncgen code that blocks: time.sleep reached from an asyncgen frame."""
    from blockbuster import BlockingError

    from asyncgen.engine import shutdown  # any asyncgen module frame will do

    blocking = compile("sleep(0.001)", shutdown.__file__, "eval")
    with pytest.raises(BlockingError):
        eval(blocking, {"sleep": time.sleep})


async def test_the_writer_never_blocks_the_loop(tmp_path: Path, no_blocking: Any) -> None:
    """Lines, fsync cadence and close of a JsonlWriter under blockbuster."""
    writer = JsonlWriter(tmp_path / "r.jsonl", fsync_interval=0.0)
    await writer.start()
    for i in range(20):
        done = await writer.submit({"id": i}, lambda: None)
        await done
    await writer.aclose()
    assert (tmp_path / "r.jsonl").read_bytes().count(b"\n") == 20


async def test_a_whole_engine_run_never_blocks_the_loop(tmp_path: Path, no_blocking: Any) -> None:
    """run_generation end to end (plan, workers, writers, index, summary) under blockbuster."""
    from engine_support import FlakyLocal

    from asyncgen.config import load_config
    from asyncgen.engine import RunOptions, run_generation
    from asyncgen.llm.types import ClientBase

    overrides = {"engine.n": 30, "engine.fsync_interval": 0.0, "dedup.enabled": False}
    config = load_config(None, overrides, environ={}, env_file=None)
    summary = await run_generation(
        config, FlakyLocal(config), run_dir=tmp_path / "run", client=ClientBase(),
        options=RunOptions(quiet=True, progress="off"),
    )  # fmt: skip
    assert summary.status == "complete" and summary.done == 30
