"""Exactly n: supplement rounds continue while they make progress; a short run says why."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from engine_support import LocalPipeline
from test_engine_run import assert_adds_up, make_config, run

from asyncgen.contract import Outcome, Reject, RunContext, WorkItem
from asyncgen.engine import Planner


class Plan:
    name = "plan"

    def plan_item(self, index: int) -> WorkItem:
        return WorkItem(index=index, seed=3, payload=None)


class Repeats(LocalPipeline):
    """A fifth of the answers repeat (rejected as duplicates), at seeded random indices."""

    variant = "repeats"
    share = 0.2

    async def run_item(self, item: WorkItem, ctx: RunContext) -> Outcome:
        if random.Random(f"dup-{item.index}").random() < self.share:
            return Reject(reason="duplicate", raw="same as before")
        return await super().run_item(item, ctx)


class AlwaysRepeats(Repeats):
    variant = "always"
    share = 2.0


def test_past_max_rounds_failures_are_replaced_while_rounds_gain_records() -> None:
    planner = Planner(Plan(), need=1, is_accounted=lambda _: False, max_rounds=1, patience=3)
    outcomes = [False, False, True]  # round 0 fails, round 1 fails, round 2 succeeds
    for expected_round, is_done in zip((0, 1, 2), outcomes, strict=True):
        ticket = planner.take()
        assert ticket is not None and ticket.round == expected_round
        planner.settle(ticket, is_done=is_done)
    assert planner.is_finished and planner.unreplaced == 0 and not planner.stopped_no_progress


def test_patience_spent_ends_the_plan_with_the_reason() -> None:
    planner = Planner(Plan(), need=1, is_accounted=lambda _: False, max_rounds=1, patience=3)
    rounds = []
    while (ticket := planner.take()) is not None:
        rounds.append(ticket.round)
        planner.settle(ticket, is_done=False)
    assert rounds == [0, 1, 2, 3] and planner.unreplaced == 1 and planner.stopped_no_progress


async def test_twenty_percent_repeats_still_give_exactly_n(tmp_path: Path) -> None:
    """The run that ended 999/1000 after three rounds now completes (n=1000, one round)."""
    config = make_config(**{"engine.n": 1000, "engine.max_supplement_rounds": 1})
    summary = await run(tmp_path, Repeats(config), config)
    assert summary.status == "complete" and summary.done == 1000
    assert summary.short_reason is None and summary.supplement_rounds > 1
    assert_adds_up(summary, tmp_path)


async def test_a_run_that_stops_gaining_ends_short_and_says_so(tmp_path: Path) -> None:
    config = make_config(
        **{
            "engine.n": 10,
            "engine.max_supplement_rounds": 1,
            "engine.supplement_patience": 5,
            "engine.stop_failure_share": None,
        }
    )
    summary = await run(tmp_path, AlwaysRepeats(config), config)
    assert summary.status == "short" and summary.short_reason == "no_progress"
    assert summary.rejected <= 10 + 10 + 5 + 4  # round 0, round 1, then at most patience more
    data: dict[str, Any] = summary.to_dict()
    assert data["short_reason"] == "no_progress"
    assert_adds_up(summary, tmp_path)
