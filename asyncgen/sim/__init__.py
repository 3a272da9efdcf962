"""The built-in OpenAI-compatible simulator: a real HTTP server that limits, waits and fails.

`asyncgen sim serve` runs it in the foreground; `start_simulator` / `SimulatorProcess`
run it in a child process on a free loopback port for `generate`, tests and benchmarks.
Names load lazily, so the child process (``python -m asyncgen.sim``) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncgen.sim.app import SimApp
    from asyncgen.sim.embedded import (
        RunningSimulator,
        SimulatorProcess,
        simulator_settings,
        start_simulator,
    )
    from asyncgen.sim.faults import FAULT_KINDS
    from asyncgen.sim.profiles import PROFILES
    from asyncgen.sim.ratelimit import ALGORITHMS, RateLimiter, format_duration
    from asyncgen.sim.stats import SimStats

__all__ = [
    "ALGORITHMS",
    "FAULT_KINDS",
    "PROFILES",
    "RateLimiter",
    "RunningSimulator",
    "SimApp",
    "SimStats",
    "SimulatorProcess",
    "format_duration",
    "simulator_settings",
    "start_simulator",
]

_HOMES = {
    "ALGORITHMS": "ratelimit",
    "FAULT_KINDS": "faults",
    "PROFILES": "profiles",
    "RateLimiter": "ratelimit",
    "RunningSimulator": "embedded",
    "SimApp": "app",
    "SimStats": "stats",
    "SimulatorProcess": "embedded",
    "format_duration": "ratelimit",
    "simulator_settings": "embedded",
    "start_simulator": "embedded",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'asyncgen.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(f"asyncgen.sim.{home}"), name)
