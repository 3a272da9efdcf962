"""Batch mode's full garbage collections happen while the run waits on a batch.

Between rounds every live conversation (`llm.batch.max_live`, 10,000) is a parked
coroutine holding its frames, messages and plan: some 50 tracked objects each. CPython's
automatic full (generation 2) collections rescan all of them each time the heap has
grown by a quarter, and in batch mode the heap grows in bursts exactly at the round
boundaries, where every conversation forms its next request or its record at once:
measured at n=10,000 (the event loop's thread), 2.2 s of the 8.3 s of CPU the round
boundaries cost were the collector's, 1.7 s of it in ten full passes. Those boundaries
are the part of a batch run nobody waits on a provider for, so batch mode moves the full
passes into the waits:
while a batch client is open, generation 2's threshold is raised (automatic full passes
become rare, not impossible), and the client runs one full pass itself once a round is
submitted and it only waits for the batch, if the default policy would have considered
one by then. Young generations are collected as usual; what the burst leaves as cyclic
garbage (little: tracebacks of failed calls) waits for that pass.
"""

from __future__ import annotations

import gc

RAISED_THRESHOLD2 = 1_000  # generation-1 passes between automatic full ones (default 10)

_holders = 0
_saved: tuple[int, int, int] | None = None


def hold_full_collections() -> None:
    """Raise generation 2's threshold until every holder has released it (nested)."""
    global _holders, _saved
    _holders += 1
    if _holders == 1:
        _saved = gc.get_threshold()
        gen0, gen1, gen2 = _saved
        gc.set_threshold(gen0, gen1, max(gen2, RAISED_THRESHOLD2))


def release_full_collections() -> None:
    """Give back one hold; the last restores the thresholds found by the first."""
    global _holders, _saved
    if _holders == 0:
        return
    _holders -= 1
    if _holders == 0 and _saved is not None:
        gc.set_threshold(*_saved)
        _saved = None


def collect_while_waiting() -> bool:
    """A full collection now, if full passes are held back and the default policy would
    have considered one (as many generation-1 passes since the last full one as its
    threshold); True when it ran. Call it when the loop has nothing to do but wait."""
    if _saved is None or not gc.isenabled():
        return False
    if gc.get_count()[2] < _saved[2]:
        return False
    gc.collect()
    return True
