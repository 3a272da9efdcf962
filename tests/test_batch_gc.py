"""Batch mode holds automatic full collections back and runs them while it waits."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from asyncgen.llm import batch_gc


@pytest.fixture(autouse=True)
def _default_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    while batch_gc._holders:
        batch_gc.release_full_collections()
    gc.set_threshold(*saved)


def test_holds_nest_and_the_last_release_restores_the_thresholds() -> None:
    """Two clients open at once: full passes stay rare until both have closed."""
    batch_gc.hold_full_collections()
    batch_gc.hold_full_collections()
    assert gc.get_threshold() == (700, 10, batch_gc.RAISED_THRESHOLD2)
    batch_gc.release_full_collections()
    assert gc.get_threshold()[2] == batch_gc.RAISED_THRESHOLD2
    batch_gc.release_full_collections()
    assert gc.get_threshold() == (700, 10, 10)
    batch_gc.release_full_collections()  # one release too many changes nothing
    assert gc.get_threshold() == (700, 10, 10)


def test_the_waiting_collection_runs_when_the_default_policy_would_have() -> None:
    """Not held, or fewer generation-1 passes than the old threshold: no full pass; at the
    threshold: one full pass, which starts the count again."""
    for _ in range(12):
        gc.collect(1)
    assert not batch_gc.collect_while_waiting()  # not held: automatic passes do it
    batch_gc.hold_full_collections()
    gc.collect()
    gc.collect(1)
    assert gc.get_count()[2] == 1
    assert not batch_gc.collect_while_waiting()
    full: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            full.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        for _ in range(10):
            gc.collect(1)
        assert batch_gc.collect_while_waiting()
    finally:
        gc.callbacks.remove(seen)
    assert full[-1] == 2
    assert gc.get_count()[2] == 0
