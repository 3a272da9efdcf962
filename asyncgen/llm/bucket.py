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
        self.granted = False  # the level above capacity is the endpoint's own figure

    def refill(self, now: float, factor: float = 1.0) -> None:
        """Add what accrued since the last call, at `factor` times the rate (the resume ramp).

        A level above capacity (credit the endpoint granted) is kept, not refilled further.
        """
        if now > self.updated:
            if self.level < self.capacity:
                self.granted = False
                gained = (now - self.updated) * self.rate * factor
                self.level = min(self.capacity, self.level + gained)
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
        """Return unused units, never above capacity (nor below the level)."""
        self.level = max(self.level, min(self.capacity, self.level + amount))

    def set_level(self, value: float) -> None:
        """The endpoint said exactly what it admits now: that is the level, above capacity
        too (a window's remaining allowance, a GCRA's burst)."""
        self.level = value
        self.granted = value > self.capacity

    def cap_level(self, value: float) -> None:
        """Lower the level to `value` when the endpoint says less is left than we think."""
        if value < self.level:
            self.level = value
        self.granted = value > self.capacity

    def reshape(self, rate: float, capacity: float, now: float) -> None:
        """Change rate and capacity, keeping what has accrued (and credit the endpoint granted)."""
        self.refill(now)
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        if not self.granted:
            self.level = min(self.level, self.capacity)
