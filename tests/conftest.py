"""Shared fixtures: no network beyond loopback, no hub downloads, a clean environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Nothing in the test suite may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see a real API key from the developer's environment."""
    for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def no_blocking() -> Iterator[Any]:
    """Fail any blocking call (file, socket, sleep, lock…) that asyncgen's own code makes
    on a running event loop: such work belongs in a worker thread.

    Only calls made from asyncgen's modules count, so test code may block freely; the
    config package is not scanned (loading settings is start-up work done before a loop
    runs; tests build configs inside async tests), and imports may read their files.
    Ask for it in a test that drives async code: `async def test_x(no_blocking: Any)`.
    """
    from blockbuster import blockbuster_ctx

    with blockbuster_ctx("asyncgen", excluded_modules=["asyncgen.config"]) as buster:
        for function in buster.functions.values():
            function.can_block_in("<frozen importlib._bootstrap>", "_find_and_load")  # imports
            # by design: the writer task appends each line with one os.write (page cache,
            # microseconds) on the loop; its fsyncs go to a thread
            function.can_block_in("asyncgen/store/jsonl.py", {"_append", "start", "aclose"})
        yield buster


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., Any]]:
    """Start built-in simulators (child processes) with overrides; all stop at teardown.

    ``sim = sim_factory(rpm=60, api_key="k", error_500=0.2)`` returns a started
    `asyncgen.sim.SimulatorProcess` (``.base_url``, ``.api_key``, ``.port``, ``.stats()``).
    """
    from asyncgen.sim import SimulatorProcess

    started: list[SimulatorProcess] = []

    def make(**overrides: Any) -> SimulatorProcess:
        sim = SimulatorProcess(**overrides)
        started.append(sim)
        return sim.start()

    yield make
    for sim in started:
        sim.stop()
