"""Python's cyclic garbage collector during a hot start: held off until the loop starts.

Loading asyncgen's stack (pydantic and the settings models, asyncio, anyio, the engine)
allocates ~55,000 container objects, nearly all kept for the life of the process
(modules, classes, functions, validators). The collector ran ~70 young and ~6 middle
passes over them before `complete`'s first request (~10-13 ms of CPU, ~6 % of it) and
found ~600 dead objects. So the CLI holds it (`hold`) from its first line and the
session lets it go (`release`) as the event loop starts: what was allocated until then
is frozen (moved out of the collector's reach, as the runner does before its workers
start anyway: a young pass over all of it would cost what holding saved), and
collection resumes for everything the run allocates. The ~600 dead start-up objects
stay (tens of KB, once per process).

Only the CLI holds it, and only on a path that reaches the loop; a program that uses the
Python API never sees the collector touched, and `release` without `hold` does nothing.
"""

from __future__ import annotations

import gc

_held = False


def hold() -> None:
    """Turn the collector off until `release` (a no-op when it is already off)."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


def release() -> None:
    """Freeze what `hold` let accumulate and turn the collector back on (if `hold` did
    turn it off; otherwise nothing)."""
    global _held
    if _held:
        _held = False
        gc.freeze()
        gc.enable()


def is_held() -> bool:
    """True between `hold` and `release`."""
    return _held
