"""Exact, deterministic mixes: which class item *i* belongs to, and its rank in that class.

The report drew each dialogue's service count at random and drifted (48.8/31.9/13.3/6.0
against 30/35/25/10). Here the plan is stratified instead: the items are cut into blocks;
the seats of the whole plan are apportioned by Sainte-Laguë (a house-monotone divisor
method, so every prefix of blocks holds the weights to within one item per class), and
the seats of each block are shuffled by (seed, salt, block). Item *i*'s class is a pure
function of (weights, block size, seed, i); so is its rank among the items of its class,
which drives round-robin (least-used) selection within the class.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")
BLOCKS_KEPT = 64  # block layouts cached (was 4,096: ~2.6 MB over two mixes at n=100,000)


class StratifiedMix:
    """Class of each plan index, with exact per-block quotas."""

    def __init__(self, weights: dict[str, float], block_size: int, seed: int, salt: str) -> None:
        self.names = [name for name, weight in weights.items() if weight > 0]
        if not self.names:
            raise ValueError(f"{salt}: no class has a positive weight")
        self.weights = [weights[name] for name in self.names]
        self.block_size = block_size
        self.seed = seed
        self.salt = salt
        self._seat_counts = [0] * len(self.names)
        # _prefix[b * classes + c]: items of class c in blocks before b (one flat array:
        # a list per block held ~120 B each, 5,000 blocks per mix at n=100,000)
        self._prefix = array("q", self._seat_counts)
        self._blocks: dict[int, list[int]] = {}  # the last few blocks' layouts

    def classify(self, index: int) -> tuple[str, int]:
        """Item `index`'s class name and its 0-based rank among items of that class."""
        block, position = divmod(index, self.block_size)
        layout = self._block(block)
        cls = layout[position]
        rank = self._prefix[block * len(self.names) + cls] + layout[:position].count(cls)
        return self.names[cls], rank

    def block_counts(self, block: int) -> dict[str, int]:
        """How many items of each class block `block` holds."""
        layout = self._block(block)
        return {name: layout.count(c) for c, name in enumerate(self.names)}

    def _block(self, block: int) -> list[int]:
        cached = self._blocks.get(block)
        if cached is not None:
            return cached
        classes = len(self.names)
        while len(self._prefix) <= (block + 1) * classes:
            self._extend_one_block()
        start = block * classes
        before = self._prefix[start : start + classes]
        after = self._prefix[start + classes : start + 2 * classes]
        counts = [b - a for a, b in zip(before, after, strict=True)]
        layout = [c for c, n in enumerate(counts) for _ in range(n)]
        random.Random(f"{self.seed}:{self.salt}:{block}").shuffle(layout)
        if len(self._blocks) >= BLOCKS_KEPT:  # plans are drawn in index order, mostly
            self._blocks.clear()
        self._blocks[block] = layout
        return layout

    def _extend_one_block(self) -> None:
        for _ in range(self.block_size):
            best = max(
                range(len(self.names)),
                key=lambda c: self.weights[c] / (2 * self._seat_counts[c] + 1),
            )
            self._seat_counts[best] += 1
        self._prefix.extend(self._seat_counts)


def round_robin(options: Sequence[T], rank: int, seed: int, salt: str) -> T:
    """The `rank`-th pick of a least-used rotation over `options`.

    Each full pass is a fresh seeded permutation, so after any number of picks every
    option has been used either k or k+1 times (the least used is always next).
    """
    cycle, position = divmod(rank, len(options))
    return options[_rotation(len(options), seed, salt, cycle)[position]]


@lru_cache(maxsize=1024)
def _rotation(size: int, seed: int, salt: str, cycle: int) -> tuple[int, ...]:
    order = list(range(size))
    random.Random(f"{seed}:{salt}:{cycle}").shuffle(order)
    return tuple(order)


def seeded_permutation(size: int, seed: int, salt: str) -> list[int]:
    """A permutation of range(size) fixed by (seed, salt)."""
    order = list(range(size))
    random.Random(f"{seed}:{salt}").shuffle(order)
    return order


def balanced_order(
    groups: list[tuple[str, ...]], seed: int, salt: str, block_size: int
) -> list[int]:
    """A permutation of range(len(groups)) that gives every group its quota.

    `groups[i]` names the groups (services) item i belongs to. Each group's items are
    shuffled by (seed, salt); picks then go round-robin over the groups, one unused item
    per group per round, so every prefix holds about `n // groups` items per group (the
    report's service quotas) until a group runs out. Blocks of `block_size` picks are
    then shuffled, so neighbouring items mix services.
    """
    queues: dict[str, list[int]] = {}
    for index, names in enumerate(groups):
        for name in names or ("",):
            queues.setdefault(name, []).append(index)
    rng = random.Random(f"{seed}:{salt}")
    for name in sorted(queues):
        rng.shuffle(queues[name])
    order = _round_robin_picks(queues, len(groups), rng)
    for start in range(0, len(order), block_size):
        chunk = order[start : start + block_size]
        rng.shuffle(chunk)
        order[start : start + block_size] = chunk
    return order


def _round_robin_picks(queues: dict[str, list[int]], total: int, rng: random.Random) -> list[int]:
    used: set[int] = set()
    order: list[int] = []
    cursors = dict.fromkeys(queues, 0)
    names = sorted(queues)
    while len(order) < total:
        rng.shuffle(names)
        for name in names:
            queue, cursor = queues[name], cursors[name]
            while cursor < len(queue) and queue[cursor] in used:
                cursor += 1
            if cursor < len(queue):
                used.add(queue[cursor])
                order.append(queue[cursor])
                cursor += 1
            cursors[name] = cursor
    return order
