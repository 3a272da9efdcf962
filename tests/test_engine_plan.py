"""The lazy plan: fresh indices in order, replacements per round, a bounded number of rounds."""

from __future__ import annotations

from asyncgen.engine import Planner, WorkItem


class Plan:
    """plan_item only; ids are derived from the index."""

    name = "plan"

    def plan_item(self, index: int) -> WorkItem:
        return WorkItem(index=index, seed=3, payload=None)


def test_items_come_in_index_order_and_stop_at_the_need() -> None:
    """Round 0 hands out exactly `need` items, lowest index first."""
    planner = Planner(Plan(), need=3, is_accounted=lambda _: False, max_rounds=2)
    tickets = [planner.take() for _ in range(4)]
    assert [t.item.index for t in tickets if t] == [0, 1, 2] and tickets[3] is None
    assert planner.in_flight == 3 and not planner.is_finished


def test_accounted_ids_are_skipped() -> None:
    """Items whose record id already ended (done, failed, rejected) are never planned again."""
    done = {WorkItem(index=i, seed=3, payload=None).record_id for i in (0, 2)}
    planner = Planner(Plan(), need=2, is_accounted=done.__contains__, max_rounds=0)
    assert [planner.take().item.index, planner.take().item.index] == [1, 3]  # type: ignore[union-attr]


def test_failures_buy_replacements_in_the_next_round_until_the_limit() -> None:
    """A failed round-r item is replaced in round r+1 while r+1 <= max_rounds."""
    planner = Planner(Plan(), need=1, is_accounted=lambda _: False, max_rounds=2)
    for expected_round in (0, 1, 2):
        ticket = planner.take()
        assert ticket is not None and ticket.round == expected_round
        planner.settle(ticket, is_done=False)
    assert planner.take() is None and planner.is_finished
    assert planner.unreplaced == 1 and planner.rounds_used == 2


def test_abandoned_items_are_owed_again() -> None:
    """An item taken but not finished (a stop) counts as not started."""
    planner = Planner(Plan(), need=2, is_accounted=lambda _: False, max_rounds=0)
    first = planner.take()
    assert first is not None
    planner.abandon(first)
    assert planner.owed == 2 and planner.in_flight == 0


def test_finite_plan_is_exhausted_at_its_size() -> None:
    """A plan of known size (complete's input) ends after its last item."""
    planner = Planner(Plan(), need=5, is_accounted=lambda _: False, max_rounds=0, plan_size=2)
    taken = [planner.take() for _ in range(3)]
    assert taken[2] is None and planner.is_exhausted
    for ticket in taken[:2]:
        assert ticket is not None
        planner.settle(ticket, is_done=True)
    assert planner.is_finished


def test_resume_start_skips_ended_items_and_keeps_their_holes() -> None:
    """A resume starts past the ended items, first redoing the indices that never ended."""
    from asyncgen.engine.plan import find_start

    ended = {WorkItem(index=i, seed=3, payload=None).record_id for i in (0, 1, 3, 4, 7)}
    start = find_start(Plan(), ended.__contains__, accounted=len(ended), limit=100)
    assert start.cursor == 8 and list(start.holes) == [2, 5, 6] and start.matched == 5
    planner = Planner(Plan(), need=4, is_accounted=ended.__contains__, max_rounds=0, start=start)
    taken = [planner.take() for _ in range(4)]
    assert [t.item.index for t in taken if t] == [2, 5, 6, 8]


def test_resume_start_gives_up_on_ids_from_another_plan() -> None:
    """Ids that never appear in this plan stop the walk at the limit (no endless scan)."""
    from asyncgen.engine.plan import find_start

    start = find_start(Plan(), {"elsewhere"}.__contains__, accounted=1, limit=50)
    assert start.cursor == 50 and start.matched == 0
