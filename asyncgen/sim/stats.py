"""The simulator's counters, served at ``GET /sim/stats`` for tests and benchmarks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SimStats"]


@dataclass
class SimStats:
    """What the simulator has seen and done since start (or the last reset)."""

    requests: int = 0
    completions: int = 0
    streams: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    rate_limited: int = 0
    unauthorized: int = 0
    overloaded: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    in_service: int = 0
    max_in_service: int = 0
    disconnects: int = 0

    def enter(self) -> None:
        """A completion request is being handled."""
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        """A completion request is finished, one way or another."""
        self.in_flight -= 1

    def start_service(self) -> None:
        """A request holds one of the `max_concurrency` service slots."""
        self.in_service += 1
        if self.in_service > self.max_in_service:
            self.max_in_service = self.in_service

    def end_service(self) -> None:
        """A request gave its service slot back."""
        self.in_service -= 1

    def reset(self) -> None:
        """Zero every counter except what is in flight right now."""
        in_flight, in_service = self.in_flight, self.in_service
        self.__init__()  # type: ignore[misc]
        self.in_flight, self.in_service = in_flight, in_service

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "requests": self.requests,
            "completions": self.completions,
            "streams": self.streams,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "rate_limited": self.rate_limited,
            "unauthorized": self.unauthorized,
            "overloaded": self.overloaded,
            "faults": dict(self.faults),
            "faults_total": sum(self.faults.values()),
            "duplicates": self.duplicates,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "tokens": self.prompt_tokens + self.completion_tokens,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "in_service": self.in_service,
            "max_in_service": self.max_in_service,
            "disconnects": self.disconnects,
        }
