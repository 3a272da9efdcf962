"""Stop a run whose items keep ending without a record.

A systematic fault (a model name the endpoint does not know, a revoked key, a prompt the
model always answers in the wrong format, a plan space with nothing new left) fails
every item the same way; supplement rounds would then spend `n × (rounds + 1)` calls
before the run gives up. The breaker watches the last `window` items to end and stops the
run once more than `max_share` of them failed or were rejected, naming the commonest
reason. Sporadic failures, however many in total, never trip it.
"""

from __future__ import annotations

from collections import Counter, deque

MIN_ITEMS = 50  # fewer ended items than this say too little to stop a run on


class FailureBreaker:
    """A rolling window over ended items; `observe` returns a message once, when it trips."""

    def __init__(self, max_share: float | None, window: int) -> None:
        self.max_share = max_share
        self.window = window
        self.min_items = min(MIN_ITEMS, window)
        self._recent: deque[str | None] = deque()
        self._reasons: Counter[str] = Counter()  # reasons in the window (none at zero)
        self._failing = 0  # items in the window that ended without a record
        self._examples: dict[str, str] = {}  # the latest message per reason key
        self.tripped: str | None = None

    def observe(self, reason: str | None, message: str = "") -> str | None:
        """One item ended: `reason` None for a record, else why it failed or was rejected
        (its key; `message` is the detail, e.g. the error, named in the stop message).

        Returns the stop message the first time the failure share passes `max_share`.
        """
        if self.max_share is None or self.tripped is not None:
            return None
        self._recent.append(reason)
        if reason is not None:
            self._reasons[reason] += 1
            self._failing += 1
            if message:
                self._examples[reason] = message[:160]
        if len(self._recent) > self.window:
            dropped = self._recent.popleft()
            if dropped is not None:
                self._failing -= 1
                self._reasons[dropped] -= 1
                if not self._reasons[dropped]:
                    del self._reasons[dropped]  # reasons naming an item would pile up
                    self._examples.pop(dropped, None)
        seen = len(self._recent)
        if seen < self.min_items or self._failing <= self.max_share * seen:
            return None
        top, count = self._reasons.most_common(1)[0]
        example = self._examples.get(top)
        self.tripped = (
            f"{self._failing} of the last {seen} items ended without a record "
            f"(most often: {top}, {count}×{f', e.g. {example}' if example else ''}); "
            "stopping rather than spending more calls"
        )
        return self.tripped
