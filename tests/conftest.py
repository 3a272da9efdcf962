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
