"""Wall time of `InteractionGenerator.generate_interactions_batch` (issue 18).

In-process responders (`LocalResponderClient`: no sockets, no latency), so the figure is
the batch's own overhead: the engine run it starts (run directory, writers, ledger,
summary), the read-back of its records and, with storage, the indexing. Run against any
checkout with PYTHONPATH to compare versions side by side:

    PYTHONPATH=. .venv/bin/python scripts/bench_interaction_batch.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from asyncgen.interaction import InteractionGenerator, InteractionStorage
from asyncgen.interaction.offline import LocalResponderClient

CONFIG = {
    "interaction_generation": {"retry_delay": 0, "min_turns": 2, "max_turns": 3},
    "distractor": {"enabled": False},
}
FEATURES = {"role": "engineer", "communication_style": "casual", "domain": "software"}


async def one(n: int, with_storage: bool) -> float:
    """Seconds for one batch of `n` tasks (a fresh generator and folder)."""
    tasks = [
        {"persona_id": f"p{i}", "persona_features": FEATURES,
         "queries": [{"adapted_query": f"question {i}"}]}
        for i in range(n)
    ]  # fmt: skip
    generator = InteractionGenerator(CONFIG, client=LocalResponderClient())
    with tempfile.TemporaryDirectory() as folder:
        storage = InteractionStorage(Path(folder) / "store") if with_storage else None
        started = time.perf_counter()
        made = await generator.generate_interactions_batch(tasks, False, 20, storage)
        took = time.perf_counter() - started
    assert len(made) == n, f"{len(made)} of {n}"
    return took


async def main(repeats: int) -> None:
    await one(1, False)  # imports and prompt files, not measured
    for n, with_storage in ((1, False), (1, True), (200, False), (200, True)):
        times = [await one(n, with_storage) for _ in range(repeats)]
        median = statistics.median(times)
        print(
            f"n={n:4d} storage={with_storage!s:5}  median {median * 1000:7.1f} ms"
            f"  per task {median / n * 1000:6.2f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    logging.disable(logging.WARNING)
    asyncio.run(main(parser.parse_args().repeats))
