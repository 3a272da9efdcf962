"""The simulator's public surface is pinned, and every name in it resolves."""

from __future__ import annotations

import asyncgen.sim
import asyncgen.tokens


def test_sim_public_api_is_pinned() -> None:
    """asyncgen.sim exports exactly these names, each importable."""
    assert asyncgen.sim.__all__ == [
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
    for name in asyncgen.sim.__all__:
        assert getattr(asyncgen.sim, name) is not None


def test_tokens_public_api_is_pinned() -> None:
    """asyncgen.tokens exports the counting functions the other parts use."""
    assert asyncgen.tokens.__all__ == [
        "CHARS_PER_TOKEN",
        "count_message_tokens",
        "count_tokens",
        "token_rule",
        "truncate_to_tokens",
    ]


def test_fault_kinds_match_the_settings() -> None:
    """Every fault kind the simulator draws is a `sim.faults` setting, and vice versa."""
    from asyncgen.config import FaultRates

    rates = set(FaultRates.model_fields) - {"slow_first_byte_seconds"}
    assert set(asyncgen.sim.FAULT_KINDS) == rates
