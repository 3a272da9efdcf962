"""A chunk-level cache over a static model: each distinct chunk is tokenised once, ever.

model2vec's own `encode` runs the WordPiece tokenizer over every text, which costs more
than everything else in the gate. A text's static embedding is the mean of its token
vectors, and BERT tokenisation never crosses whitespace, so the sum of the token vectors
of each whitespace-separated chunk ("centre," included) can be computed once and reused;
a text is then `str.split`, dict lookups and a few numpy reductions per batch. Vectors
match model2vec's (tests check it).
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from asyncgen.errors import EmbeddingError


class WordVectors:
    """Rows of per-word token-vector sums and token counts, grown on demand."""

    def __init__(self, tokenizer: Any, embedding: np.ndarray, *, max_words: int = 500_000) -> None:
        self._tokenizer = tokenizer
        self._embedding = np.asarray(embedding, dtype=np.float32)
        self.dim = self._embedding.shape[1]
        self._row: dict[str, int] = {}
        self._sums = np.zeros((1024, self.dim), dtype=np.float32)
        self._counts = np.zeros(1024, dtype=np.int64)
        self.max_words = max_words
        self._unk = tokenizer.token_to_id("[UNK]")

    def _add(self, words: list[str]) -> None:
        """Tokenise unseen words (one batch call) and store their sums and token counts."""
        encodings = self._tokenizer.encode_batch(words, add_special_tokens=False)
        start = len(self._row)
        need = start + len(words)
        if need > len(self._counts):
            size = max(need, 2 * len(self._counts))
            self._sums = np.resize(self._sums, (size, self.dim))
            self._counts = np.resize(self._counts, size)
        for offset, (word, encoding) in enumerate(zip(words, encodings, strict=True)):
            ids = [i for i in encoding.ids if i != self._unk]
            row = start + offset
            self._sums[row] = self._embedding[ids].sum(axis=0) if ids else 0.0
            self._counts[row] = len(ids)
            self._row[word] = row

    def rows(self, text: str) -> list[int]:
        """Row numbers of the text's words, learning new words as they come."""
        words = text.split()
        row = self._row
        try:
            return [row[w] for w in words]
        except KeyError:
            pass
        unseen = [w for w in dict.fromkeys(words) if w not in row]
        if len(row) + len(unseen) > self.max_words:
            row.clear()  # a bounded cache: start again rather than grow forever
            unseen = list(dict.fromkeys(words))
        self._add(unseen)
        return [row[w] for w in words]

    def window(self, text: str, max_tokens: int) -> list[int]:
        """Rows of the words that can fall in the first `max_tokens` tokens.

        Reads a prefix of ~6 characters per token first (a token is ~4 characters of
        English), and the whole text only when that prefix holds too few tokens.
        """
        prefix = 6 * max_tokens
        rows = self.rows(text[:prefix])
        if len(text) > prefix and int(self._counts[rows].sum()) < max_tokens:
            rows = self.rows(text)
        return rows

    def encode(self, texts: list[str], max_tokens: int) -> np.ndarray:
        """Mean token vector of each text's first `max_tokens` tokens (not normalised).

        One gather and a few segment reductions per batch: word i of a text is kept
        while the tokens before it are fewer than `max_tokens` (the first word always).
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        per_text = [self.window(text, max_tokens) for text in texts]
        lengths = np.fromiter((len(r) for r in per_text), dtype=np.int64, count=len(texts))
        if not lengths.sum():
            return out
        rows = np.fromiter(chain.from_iterable(per_text), dtype=np.int64, count=int(lengths.sum()))
        segment = np.repeat(np.arange(len(texts)), lengths)
        counts = self._counts[rows]
        ends = np.cumsum(counts)
        starts = np.cumsum(lengths) - lengths  # first word of each text in `rows`
        before = ends - counts - (ends - counts)[starts[segment]]
        keep = before < max_tokens
        kept = segment[keep]
        totals = np.bincount(kept, weights=counts[keep], minlength=len(texts))
        sums = self._sums[rows[keep]]
        firsts = np.flatnonzero(np.r_[True, kept[1:] != kept[:-1]])
        out[kept[firsts]] = np.add.reduceat(sums, firsts, axis=0)
        return out / np.maximum(totals, 1.0)[:, None].astype(np.float32)


def load_static(model_dir: Path) -> tuple[np.ndarray, Any, int]:
    """Read a saved model2vec model directly: token vectors, tokenizer, max tokens.

    Skips model2vec's loader (whose model-card imports cost a second at start-up); models
    with per-token weights or a token mapping go through model2vec and are flattened.

    Raises:
        EmbeddingError: the folder does not hold a readable model2vec model.
    """
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    folder = Path(model_dir)
    try:
        tensors = load_file(str(folder / "model.safetensors"))
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        config = orjson.loads((folder / "config.json").read_bytes())
    except Exception as exc:  # missing or corrupt files all mean "no usable model"
        raise EmbeddingError(f"cannot load static model from {folder}: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    if set(tensors) != {"embeddings"}:
        return _flattened(folder, tokenizer, config)
    return tensors["embeddings"].astype(np.float32), tokenizer, int(config.get("max_length") or 512)


def _flattened(folder: Path, tokenizer: Any, config: dict[str, Any]) -> tuple[np.ndarray, Any, int]:
    """Per-token vectors of a model with weights/mapping, via model2vec itself."""
    from model2vec import StaticModel

    model = StaticModel.from_pretrained(folder, force_download=False)
    ids = np.arange(model.tokenizer.get_vocab_size())
    vectors = np.stack([model._encode_helper([int(i)])[0] for i in ids]).astype(np.float32)
    return vectors, tokenizer, int(config.get("max_length") or 512)


class TokenVectors:
    """Mean token vectors through the Rust tokenizer, vectorised: the GIL is mostly free.

    Costs more CPU than `WordVectors` but nearly all of it is spent in the tokenizer's
    Rust threads and in large numpy gathers, which release the GIL, so it runs beside a
    busy event loop instead of taking turns with it (benchmarks.md).
    """

    def __init__(self, tokenizer: Any, embedding: np.ndarray) -> None:
        self._tokenizer = tokenizer
        vectors = np.asarray(embedding, dtype=np.float32)
        self.dim = vectors.shape[1]
        self._pad = len(vectors)  # an all-zero row that padding points at
        self._vectors = np.vstack([vectors, np.zeros((1, self.dim), dtype=np.float32)])
        unk = tokenizer.token_to_id("[UNK]")
        self._unk = -1 if unk is None else int(unk)

    def encode(self, texts: list[str], max_tokens: int) -> np.ndarray:
        """Mean token vector of each text's first `max_tokens` tokens (not normalised)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = 6 * max_tokens
        encodings = self._tokenizer.encode_batch(
            [text[:prefix] for text in texts], add_special_tokens=False
        )
        ids = np.full((len(texts), max_tokens), self._pad, dtype=np.int64)
        for row, encoding in enumerate(encodings):
            tokens = encoding.ids[:max_tokens]
            ids[row, : len(tokens)] = tokens
        ids[ids == self._unk] = self._pad
        counts = np.maximum((ids != self._pad).sum(axis=1, keepdims=True), 1)
        sums: np.ndarray = self._vectors[ids].sum(axis=1)
        means: np.ndarray = sums / counts
        return means
