"""Group-wise, seeded train/validation/test splits that never leak a group.

Records that share a group key (a persona; for dialogues also a base dialogue) must land
in the same split. Keys are hashed to 64-bit integers and joined with union-find, so
the state is a few numpy arrays: about 16 bytes per record key, never a record.
Components are ordered by a hash of (seed, smallest key) and each goes to the split
furthest below its target share, so the realised ratios follow the configured ones as
closely as the group sizes allow, and the same input and seed give the same split.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

SPLIT_NAMES = ("train", "validation", "test")
_CHUNK = 8192  # key pairs turned into Python ints at a time


def key_hash(key: str) -> int:
    """A stable 64-bit hash of a group key."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


class GroupCollector:
    """Pass one: each record's hashed group keys and how many samples it yields.

    A record with one key (an interaction: its persona) only adds to that key's weight,
    so interaction runs keep one counter per persona; a record with several keys (a
    dialogue: persona and base dialogue) keeps one 20-byte edge.
    """

    def __init__(self) -> None:
        self._single: dict[int, int] = {}
        self._first = array("Q")
        self._other = array("Q")
        self._weight = array("I")

    def add(self, keys: Sequence[str], weight: int = 1) -> None:
        """Record one source record: its group keys, and how many samples it yields."""
        hashes = [key_hash(k) for k in keys]
        if len(hashes) == 1:
            self._single[hashes[0]] = self._single.get(hashes[0], 0) + weight
            return
        for other in hashes[1:]:
            self._first.append(hashes[0])
            self._other.append(other)
            self._weight.append(weight)
            weight = 0  # count a record's samples once, on its first edge

    def plan(self, ratios: Sequence[float], seed: int) -> SplitPlan:
        """Join groups and assign each component to a split."""
        single = np.fromiter(self._single, dtype=np.uint64, count=len(self._single))
        single_weight = np.fromiter(self._single.values(), dtype=np.int64, count=len(single))
        first = np.concatenate([single, np.frombuffer(self._first, dtype=np.uint64)])
        other = np.concatenate([single, np.frombuffer(self._other, dtype=np.uint64)])
        edge_weight = np.frombuffer(self._weight, dtype=np.uint32).astype(np.int64)
        weight = np.concatenate([single_weight, edge_weight])
        return SplitPlan.build(first, other, weight, ratios, seed)


def _union_find(
    size: int, left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """The root of each node after joining every (left, right) pair."""
    parent = array("q", range(size))

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    joins = np.flatnonzero(left != right)  # a record with one key joins nothing
    for start in range(0, len(joins), _CHUNK):
        chunk = joins[start : start + _CHUNK]
        for a, b in zip(left[chunk].tolist(), right[chunk].tolist(), strict=True):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return np.fromiter((find(n) for n in range(size)), dtype=np.int64, count=size)


@dataclass(frozen=True)
class SplitPlan:
    """Which split every known group key belongs to."""

    hashes: npt.NDArray[np.uint64]
    split_of: npt.NDArray[np.uint8]
    sample_counts: tuple[int, ...]
    group_counts: tuple[int, ...]
    largest_group: int = 0

    @classmethod
    def build(
        cls,
        first: npt.NDArray[np.uint64],
        other: npt.NDArray[np.uint64],
        weight: npt.NDArray[np.int64],
        ratios: Sequence[float],
        seed: int,
    ) -> SplitPlan:
        """Union-find over the key pairs, then a seeded greedy assignment of components."""
        hashes, inverse = np.unique(np.concatenate([first, other]), return_inverse=True)
        n = len(first)
        roots = _union_find(len(hashes), inverse[:n], inverse[n:])
        comps, comp_of = np.unique(roots, return_inverse=True)
        sizes = np.bincount(comp_of[inverse[:n]], weights=weight, minlength=len(comps))
        smallest = np.full(len(comps), np.iinfo(np.uint64).max, dtype=np.uint64)
        np.minimum.at(smallest, comp_of, hashes)
        comp_split, samples, groups = _assign(smallest, sizes, ratios, seed)
        largest = int(sizes.max()) if len(sizes) else 0
        return cls(hashes, comp_split[comp_of], samples, groups, largest)

    def split_index(self, keys: Sequence[str]) -> int:
        """The split of a record, found through its first group key.

        Raises:
            KeyError: the key was not seen in pass one.
        """
        h = np.uint64(key_hash(keys[0]))
        pos = int(np.searchsorted(self.hashes, h))
        if pos >= len(self.hashes) or self.hashes[pos] != h:
            raise KeyError(keys[0])
        return int(self.split_of[pos])

    def warnings(self, ratios: Sequence[float]) -> list[str]:
        """Why realised ratios may be far from the configured ones (too few groups)."""
        found = []
        total = sum(self.sample_counts)
        for name, ratio, count in zip(SPLIT_NAMES, ratios, self.sample_counts, strict=True):
            if ratio > 0 and count == 0 and total:
                found.append(f"split '{name}' is empty: only {sum(self.group_counts)} group(s)")
        if total and self.largest_group / total > 1 - max(ratios):
            share = self.largest_group / total
            found.append(f"one group (linked personas/base dialogues) holds {share:.0%} of samples")
        return found

    def realised_ratios(self) -> dict[str, float]:
        """Share of samples in each split."""
        total = sum(self.sample_counts) or 1
        return {name: c / total for name, c in zip(SPLIT_NAMES, self.sample_counts, strict=True)}


def _order_key(seed: int, smallest: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{smallest}".encode(), digest_size=8).digest()


def _assign(
    smallest: npt.NDArray[np.uint64],
    sizes: npt.NDArray[Any],
    ratios: Sequence[float],
    seed: int,
) -> tuple[npt.NDArray[np.uint8], tuple[int, ...], tuple[int, ...]]:
    """Give each component, in seeded order, to the split furthest below its target."""
    order = sorted(range(len(smallest)), key=lambda i: _order_key(seed, int(smallest[i])))
    split = np.zeros(len(smallest), dtype=np.uint8)
    samples = [0] * len(ratios)
    groups = [0] * len(ratios)
    done = 0
    for comp in order:
        size = int(sizes[comp])
        done += size
        deficits = [
            r * done - s if r > 0 else float("-inf") for r, s in zip(ratios, samples, strict=True)
        ]
        best = max(range(len(ratios)), key=lambda i: deficits[i])
        split[comp] = best
        samples[best] += size
        groups[best] += 1
    return split, tuple(samples), tuple(groups)


def split_section(
    plan: SplitPlan | None, ratios: Sequence[float] | None, seed: int, total: int
) -> dict[str, Any]:
    """The statistics' `split` entry: configured and realised ratios, samples, groups."""
    if plan is None or ratios is None:
        return {"enabled": False, "samples": {"train": total}, "realised_ratios": {"train": 1.0}}
    return {
        "enabled": True,
        "group_by": "persona (interaction); persona + base dialogue (dialogue)",
        "seed": seed,
        "configured_ratios": dict(zip(SPLIT_NAMES, ratios, strict=True)),
        "realised_ratios": plan.realised_ratios(),
        "samples": dict(zip(SPLIT_NAMES, plan.sample_counts, strict=True)),
        "groups": dict(zip(SPLIT_NAMES, plan.group_counts, strict=True)),
        "warnings": plan.warnings(ratios),
    }


def plan_for(
    keys_and_weights: Iterable[tuple[Sequence[str], int]], ratios: Sequence[float], seed: int
) -> SplitPlan:
    """A plan for an in-memory collection: (group keys, samples) per record."""
    collector = GroupCollector()
    for keys, weight in keys_and_weights:
        collector.add(keys, weight)
    return collector.plan(ratios, seed)
