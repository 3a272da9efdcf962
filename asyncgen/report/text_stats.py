"""Text statistics computed on samples: distinct-n, n-gram overlap, vocabulary, edit rates."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased word tokens; the unit of every n-gram figure."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Consecutive n-grams of a token list."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Unique n-grams over all n-grams (Li et al., 2016); 0.0 when there are none."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        grams = ngrams(words(text), n)
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def ngram_overlap(texts: Sequence[str], n: int = 4) -> float:
    """Mean share of a text's distinct n-grams that also occur in another text of the sample.

    A self-BLEU-like figure in linear time: 0 means no text shares an n-gram with another,
    1 means every n-gram of every text is repeated elsewhere.
    """
    grams_per_text = [set(ngrams(words(t), n)) for t in texts]
    document_frequency: Counter[tuple[str, ...]] = Counter()
    for grams in grams_per_text:
        document_frequency.update(grams)
    shares = [
        sum(1 for g in grams if document_frequency[g] > 1) / len(grams)
        for grams in grams_per_text
        if grams
    ]
    return sum(shares) / len(shares) if shares else 0.0


def vocabulary_size(texts: Iterable[str]) -> int:
    """Number of distinct word types."""
    vocab: set[str] = set()
    for text in texts:
        vocab.update(words(text))
    return len(vocab)


def edit_distance(a: Sequence[object], b: Sequence[object]) -> int:
    """Levenshtein distance between two sequences (characters or words)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, item_a in enumerate(a, start=1):
        current = [i]
        for j, item_b in enumerate(b, start=1):
            cost = 0 if item_a == item_b else 1
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost))
        previous = current
    return previous[-1]


def edit_rates(clean: str, noisy: str, max_chars: int = 600) -> tuple[float, float]:
    """Character and word edit rates of `noisy` relative to `clean` (edits per unit)."""
    clean_cut, noisy_cut = clean[:max_chars], noisy[:max_chars]
    char_rate = edit_distance(clean_cut, noisy_cut) / max(len(clean_cut), 1)
    clean_words, noisy_words = clean_cut.split(), noisy_cut.split()
    word_rate = edit_distance(clean_words, noisy_words) / max(len(clean_words), 1)
    return char_rate, word_rate


class Reservoir(Generic[T]):
    """A uniform sample of fixed size from a stream of unknown length (Algorithm R)."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self.items: list[T] = []
        self.seen = 0
        self._rng = rng

    def add(self, item: T) -> None:
        """Offer one item to the sample."""
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(item)
            return
        slot = self._rng.randrange(self.seen)
        if slot < self.size:
            self.items[slot] = item


def describe(values: Counter[int]) -> dict[str, float]:
    """Mean, median, p90 and max of an integer histogram."""
    total = sum(values.values())
    if not total:
        return {"count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "max": 0.0}
    mean = sum(v * c for v, c in values.items()) / total
    ordered = sorted(values.items())
    return {
        "count": total,
        "mean": round(mean, 3),
        "p50": float(_quantile(ordered, total, 0.5)),
        "p90": float(_quantile(ordered, total, 0.9)),
        "max": float(ordered[-1][0]),
    }


def _quantile(ordered: list[tuple[int, int]], total: int, q: float) -> int:
    threshold = q * total
    running = 0
    for value, count in ordered:
        running += count
        if running >= threshold:
            return value
    return ordered[-1][0]
