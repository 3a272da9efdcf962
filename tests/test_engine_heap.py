"""The engine freezes the start-up heap once per process, not once per run."""

from __future__ import annotations

import gc

from asyncgen.engine import runner


def test_a_second_run_does_not_pin_what_the_first_left_behind() -> None:
    runner._freeze_heap()
    frozen = gc.get_freeze_count()
    leftovers = [[object()] for _ in range(1000)]
    runner._freeze_heap()
    assert gc.get_freeze_count() == frozen
    del leftovers
