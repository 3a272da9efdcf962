"""A token bucket that refills continuously and may run into debt for oversized requests."""

from __future__ import annotations


class TokenBucket:
    """`rate` units per second up to `capacity`; an oversized take waits for a full bucket."""

    def __init__(
        self, rate: float, capacity: float, now: float, level: float | None = None
    ) -> None:
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self.level = self.capacity if level is None else min(level, self.capacity)
        self.updated = now

    def refill(self, now: float, factor: float = 1.0) -> None:
        """Add what accrued since the last call, at `factor` times the rate (the resume ramp)."""
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate * factor)
            self.updated = now

    def wait_time(self, amount: float, factor: float = 1.0) -> float:
        """Seconds until `amount` (capped at capacity) is available; 0 when it is now."""
        need = min(amount, self.capacity) - self.level
        if need <= 0:
            return 0.0
        return need / max(self.rate * factor, 1e-9)

    def take(self, amount: float) -> None:
        """Spend `amount`; the level may go negative (debt paid by later refills)."""
        self.level -= amount

    def give(self, amount: float) -> None:
        """Return unused units, never above capacity."""
        self.level = min(self.capacity, self.level + amount)

    def cap_level(self, value: float) -> None:
        """Lower the level to `value` when the endpoint says less is left than we think."""
        if value < self.level:
            self.level = value

    def reshape(self, rate: float, capacity: float, now: float) -> None:
        """Change rate and capacity, keeping what has accrued."""
        self.refill(now)
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self.level = min(self.level, self.capacity)
