"""The lazy plan of a run: which item index comes next, and how many may still start.

Item *i* is `pipeline.plan_item(i)`, pure in (config, seed, i); nothing holds the plan in
memory. A run needs `target - done` records. Round 0 plans that many fresh items (indices
whose record id has not ended yet, lowest first). Every failed or rejected item of round
*r* buys one replacement item in round *r + 1* (the next fresh index) while
*r + 1 <= max_rounds*. Past that, rounds continue while they make progress: with
`patience` > 0 a failure is still replaced unless the last `patience` supplement items
all ended without a record (then it stays unreplaced and `stopped_no_progress` says
why the run ends short). Replacements start as soon as they are owed (no barrier between
rounds), lowest round first.

Invariant, checked by the summary: `need == done + failed_or_rejected_unreplaced +
in_flight + owed`, so `target == done_total + not_started + unreplaced` at the end.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asyncgen.contract import Pipeline, WorkItem


@dataclass(frozen=True)
class Ticket:
    """One planned item and the supplement round it belongs to."""

    item: WorkItem[Any]
    round: int


@dataclass
class PlanStart:
    """Where a resumed plan continues: the indices before `cursor` that never ended."""

    cursor: int = 0
    holes: array[int] = field(default_factory=lambda: array("q"))
    matched: int = 0


def find_start(
    pipeline: Pipeline,
    is_accounted: Callable[[str], bool],
    accounted: int,
    limit: int,
) -> PlanStart:
    """Walk the plan past every item that already ended (blocking: run it in a thread).

    A resumed run would otherwise skip its finished items one `plan_item` at a time on
    the event loop. Stops once `accounted` ids were matched; past `limit` indices (ids
    that are not in this plan) it gives up and leaves the skipping to the planner.
    """
    start = PlanStart()
    index = 0
    while start.matched < accounted and index < limit:
        if is_accounted(pipeline.plan_item(index).record_id):
            start.matched += 1
        else:
            start.holes.append(index)
        index += 1
    start.cursor = index
    return start


class Planner:
    """Hands out items lazily and keeps the round accounting."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        need: int,
        is_accounted: Callable[[str], bool],
        max_rounds: int,
        plan_size: int | None = None,
        start: PlanStart | None = None,
        patience: int = 0,
    ) -> None:
        self._pipeline = pipeline
        self._is_accounted = is_accounted
        self._plan_size = plan_size
        self._owed = [max(0, need)] + [0] * max_rounds
        start = start or PlanStart()
        self._holes = list(reversed(start.holes))
        self._cursor = start.cursor
        self.need = max(0, need)
        self.max_rounds = max_rounds
        self.in_flight = 0
        self.unreplaced = 0
        self.rounds_used = 0
        self.is_exhausted = False
        self.patience = patience
        self.fruitless = 0
        self.stopped_no_progress = False

    @property
    def owed(self) -> int:
        """Items planned but not started (after a stop, or past the end of a finite plan)."""
        return sum(self._owed)

    @property
    def is_finished(self) -> bool:
        """Nothing in flight and nothing (more) that can start."""
        return self.in_flight == 0 and (self.owed == 0 or self.is_exhausted)

    def take(self) -> Ticket | None:
        """The next item to start, or None when none is owed right now."""
        round_ = next((r for r, owed in enumerate(self._owed) if owed), None)
        if round_ is None or self.is_exhausted:
            return None
        item = self._next_fresh()
        if item is None:
            self.is_exhausted = True
            return None
        self._owed[round_] -= 1
        self.in_flight += 1
        self.rounds_used = max(self.rounds_used, round_)
        return Ticket(item=item, round=round_)

    def settle(self, ticket: Ticket, *, is_done: bool) -> None:
        """An item ended: a record, or a failure/reject that may buy a replacement."""
        self.in_flight -= 1
        if ticket.round > 0:
            self.fruitless = 0 if is_done else self.fruitless + 1
        if is_done:
            return
        if ticket.round < self.max_rounds or self._still_progressing():
            if ticket.round + 1 >= len(self._owed):
                self._owed.append(0)
            self._owed[ticket.round + 1] += 1
        else:
            self.unreplaced += 1

    def _still_progressing(self) -> bool:
        """Past max_rounds: replace while the last `patience` supplement items were not all
        fruitless (a 20 % duplicate rate never gets there; a systematic fault soon does)."""
        if self.patience <= 0 or self.max_rounds <= 0:
            return False
        if self.fruitless >= self.patience:
            self.stopped_no_progress = True
            return False
        return True

    def abandon(self, ticket: Ticket) -> None:
        """An item was taken but never ended (stop or cancel): it is owed again."""
        self.in_flight -= 1
        self._owed[ticket.round] += 1

    def _next_fresh(self) -> WorkItem[Any] | None:
        """Holes left by an earlier session first, then the cursor past ended ids."""
        if self._holes:
            return self._pipeline.plan_item(self._holes.pop())
        while self._plan_size is None or self._cursor < self._plan_size:
            item = self._pipeline.plan_item(self._cursor)
            self._cursor += 1
            if not self._is_accounted(item.record_id):
                return item
        return None
