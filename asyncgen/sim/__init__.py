"""The built-in OpenAI-compatible simulator: a real HTTP server that limits, waits and fails.

`asyncgen sim serve` runs it in the foreground; `start_simulator` / `SimulatorProcess`
run it in a child process on a free loopback port for `generate`, tests and benchmarks.
"""

from asyncgen.sim.app import SimApp
from asyncgen.sim.embedded import (
    RunningSimulator,
    SimulatorProcess,
    simulator_settings,
    start_simulator,
)
from asyncgen.sim.faults import FAULT_KINDS
from asyncgen.sim.ratelimit import RateLimiter, format_duration
from asyncgen.sim.stats import SimStats

__all__ = [
    "FAULT_KINDS",
    "RateLimiter",
    "RunningSimulator",
    "SimApp",
    "SimStats",
    "SimulatorProcess",
    "format_duration",
    "simulator_settings",
    "start_simulator",
]
