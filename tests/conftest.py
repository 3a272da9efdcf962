"""Shared fixtures: no network beyond loopback, no hub downloads, a clean environment."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest

# Nothing in the test suite may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# pydantic looks for its plugins (os.stat over every installed distribution's metadata)
# when it builds its first validator, once per process. Settings models build theirs at
# first use (defer_build), so whichever test used one first did that scan, and in an async
# test no_blocking failed it: the outcome hung on test order (`pytest
# tests/test_batch_client.py` failed its first test). Done here, before any loop runs.
pydantic.TypeAdapter(int)


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never see a real API key from the developer's environment."""
    for name in ("OPENAI_API_KEY", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield


# Test modules whose tests still reach blocking calls in library code on the loop, each
# with the call; blockbuster is off there until that code moves off the loop (this list
# may only shrink).
STILL_BLOCKING: dict[str, str] = {}


@pytest.fixture(autouse=True)
def no_blocking(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Fail any blocking call (file, socket, sleep, lock…) that asyncgen's own code makes
    on a running event loop: such work belongs in a worker thread (`asyncgen.offload`).

    On for every async test but those of `STILL_BLOCKING`. Only calls made from asyncgen's
    modules count, so test code may block freely; the config package is not scanned
    (loading settings is start-up work done before a loop runs), and imports may read
    their files. The few places allowed below block by design or are test set-up, each
    with its reason.
    """
    is_async = inspect.iscoroutinefunction(getattr(request.node, "function", None))
    if not is_async or request.node.path.name in STILL_BLOCKING:
        yield None  # sync tests: CLI runs in-process are not checked yet
        return
    from blockbuster import blockbuster_ctx

    with blockbuster_ctx("asyncgen", excluded_modules=["asyncgen.config"]) as buster:
        for function in buster.functions.values():
            function.can_block_in("<frozen importlib._bootstrap>", "_find_and_load")  # imports
            # by design: the writer task appends each line with one os.write (page cache,
            # microseconds) on the loop, and closes its file; its fsyncs go to a thread
            function.can_block_in("asyncgen/store/jsonl.py", {"_append", "aclose"})
            # by design: a charge is one small os.write as it is billed (nothing queued
            # that a kill could lose), a loop turn's batch answers one write together
            # (a resume recounts a part's lines); the ledger's fsyncs go to a thread
            function.can_block_in("asyncgen/store/ledger.py", "_write")
            # test set-up: `sim_factory` starts a simulator child (the synchronous API,
            # waiting for its ready line) from inside async tests, and tests read its
            # counters with the synchronous `stats`/`reset_stats`; async code uses
            # `start_simulator` and `stats_async`, which never block
            function.can_block_in(
                "asyncgen/sim/embedded.py",
                {"start", "_wait_ready", "stop", "stats", "reset_stats", "stats_sync"},
            )
            # test helpers that read a finished run's files through the library's
            # readers (or build a ledger or hand-made run) inside async tests
            for helper_file, helper in (
                ("tests/test_engine_run.py", "lines"),
                ("tests/test_store_jsonl.py", "check"),
                ("tests/test_batch_client.py", "with_ledger"),
                ("tests/test_export_spec.py", "_hand_made"),
                ("tests/test_llm_sim.py", "warm"),
                (
                    "tests/test_store_jsonl.py",
                    "test_writer_appends_whole_lines_and_counts_after_writing",
                ),
                (
                    "tests/test_batch_client.py",
                    "test_a_kill_during_the_final_record_does_not_charge_twice",
                ),
            ):
                function.can_block_in(helper_file, helper)
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
