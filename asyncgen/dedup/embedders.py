"""Embedders: text → L2-normalised float32 vectors; `encode` blocks, so run it off-loop."""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path
from typing import Protocol, TypedDict

import numpy as np

from asyncgen.config.dedup import DedupSettings
from asyncgen.dedup.static import PACKAGED_STATIC_DIR, ensure_static_model, minilm_path
from asyncgen.errors import EmbeddingError

#: (MiniLM cosine, this embedder's cosine) pairs: the bar on the embedder's own scale that
#: best reproduces which pairs MiniLM puts at or above the bar (F1 of pair sets), measured by
#: `scripts/bench_dedup.py --sections calibrate` (docs/benchmarks.md). MiniLM is the identity.
CALIBRATION: dict[str, tuple[tuple[float, float], ...]] = {
    "static": ((0.80, 0.965), (0.85, 0.9775), (0.90, 0.9825), (0.95, 0.99)),
    "hashing": ((0.80, 0.83), (0.85, 0.9025), (0.90, 0.915), (0.95, 0.935)),
}

#: Tokens all-MiniLM-L6-v2 reads (its max_seq_length); the static model reads the same window,
#: which agrees with MiniLM far better on long dialogues than reading 512 (benchmarks.md).
MINILM_WINDOW = 256

_WORD = re.compile(r"\w+", re.UNICODE)


class EmbedderInfo(TypedDict, total=False):
    """What produced a run's vectors, recorded with its index (a resume checks it)."""

    embedder: str
    model: str | None
    dim: int
    torch_threads: int
    distilled_from: str | None
    max_tokens: int


class Embedder(Protocol):
    """Turns texts into normalised vectors (a blocking call: run it in a worker thread)."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Return an (len(texts), dim) float32 array of unit vectors."""
        ...

    def describe(self) -> EmbedderInfo:
        """What produced the vectors (kind, model, dim), recorded with the run."""
        ...


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit length (zero rows stay zero), as contiguous float32."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def default_torch_threads(settings: DedupSettings) -> int:
    """Torch threads: the configured number, else cores - 1 (min 1) to leave one for the loop."""
    if settings.torch_threads:
        return settings.torch_threads
    return max(1, (os.cpu_count() or 1) - 1)


class HashingEmbedder:
    """Signed feature hashing of word unigrams and bigrams: deterministic, no model, fast."""

    name = "hashing"

    def __init__(self, dim: int = 512) -> None:
        self.dim = dim

    def _features(self, text: str) -> tuple[list[int], list[float]]:
        """Hashed bucket and sign of each unigram and bigram of `text`."""
        words = _WORD.findall(text.lower())
        grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        buckets, signs = [], []
        for gram in grams:
            h = zlib.crc32(gram.encode("utf-8"))
            buckets.append(h % self.dim)
            signs.append(1.0 if (h >> 31) & 1 else -1.0)
        return buckets, signs

    def encode(self, texts: list[str]) -> np.ndarray:
        """Hash each text into a unit vector."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            buckets, signs = self._features(text)
            if buckets:
                np.add.at(out[row], buckets, signs)
        return normalize_rows(out)

    def describe(self) -> EmbedderInfo:
        """Kind and dimension."""
        return {"embedder": self.name, "model": None, "dim": self.dim}


class MiniLMEmbedder:
    """A sentence-transformers model (the packaged all-MiniLM-L6-v2 by default) on CPU."""

    name = "minilm"

    def __init__(self, model_path: str, *, batch_size: int = 64, threads: int = 1) -> None:
        import torch  # noqa: TID251 - heavy import only when this embedder is chosen
        from sentence_transformers import SentenceTransformer  # noqa: TID251

        torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(model_path, device="cpu")
        except Exception as exc:  # any loader failure means no usable model
            raise EmbeddingError(
                f"cannot load sentence-transformers model {model_path!r}: {exc}"
            ) from exc
        self.model_path = model_path
        self.batch_size = batch_size
        self.threads = threads
        dim = (
            self._model.get_embedding_dimension()
            if hasattr(self._model, "get_embedding_dimension")
            else self._model.get_sentence_embedding_dimension()
        )
        self.dim = int(dim or 0)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode in batches without a progress bar, normalised."""
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalize_rows(np.asarray(vectors).reshape(len(texts), self.dim))

    def describe(self) -> EmbedderInfo:
        """Kind, model folder, dimension and torch threads."""
        return {
            "embedder": self.name,
            "model": self.model_path,
            "dim": self.dim,
            "torch_threads": self.threads,
        }


class StaticEmbedder:
    """A model2vec static model: the mean of token vectors, no transformer at run time.

    Encoding goes through a per-word cache (`WordVectors`): the same vectors as model2vec's
    `encode`, at about three times less CPU, because each distinct word is tokenised once.
    """

    name = "static"

    def __init__(self, model_dir: Path, *, source: str | None = None) -> None:
        from asyncgen.dedup.wordcache import TokenVectors, WordVectors, load_static

        self.model_dir = model_dir
        self.source = source
        embedding, tokenizer, max_length = load_static(model_dir)
        self.max_tokens = min(max_length, MINILM_WINDOW)
        self.dim = int(embedding.shape[1])
        mode = os.environ.get("ASYNCGEN_STATIC_ENCODER", "words")
        self._words: WordVectors | TokenVectors = (
            WordVectors(tokenizer, embedding)
            if mode == "words"
            else TokenVectors(tokenizer, embedding)
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        """Average the token vectors of each text's first `max_tokens` tokens, normalised."""
        return normalize_rows(self._words.encode(texts, self.max_tokens))

    def describe(self) -> EmbedderInfo:
        """Kind, model folder, what it was distilled from, and dimension."""
        packaged = self.model_dir == PACKAGED_STATIC_DIR
        return {
            "embedder": self.name,
            "model": "asyncgen/data/static_minilm" if packaged else str(self.model_dir),
            "distilled_from": self.source,
            "dim": self.dim,
            "max_tokens": self.max_tokens,
        }


def load_embedder(settings: DedupSettings) -> Embedder:
    """Build the embedder `dedup.embedder` names (static, minilm or hashing).

    Args:
        settings: The dedup settings.

    Returns:
        A ready embedder; `encode` is blocking (call it via `offload.cpu`).

    Raises:
        EmbeddingError: the model cannot be found, distilled or loaded.
    """
    if settings.embedder == "hashing":
        return HashingEmbedder()
    if settings.embedder == "minilm":
        return MiniLMEmbedder(
            minilm_path(settings),
            batch_size=settings.batch_size,
            threads=default_torch_threads(settings),
        )
    model_dir, source = ensure_static_model(settings)
    return StaticEmbedder(model_dir, source=source)


def effective_threshold(settings: DedupSettings, embedder: str) -> float:
    """The cosine bar on the embedder's own scale.

    `dedup.raw_threshold` is used as-is; otherwise `dedup.threshold` (MiniLM's scale, the
    spec's 0.9) is mapped through the embedder's calibration, linearly between points.

    Args:
        settings: The dedup settings.
        embedder: The embedder's name ("static", "minilm", "hashing").

    Returns:
        A cosine in (0, 1].
    """
    if settings.raw_threshold is not None:
        return settings.raw_threshold
    return calibrated(settings.threshold, CALIBRATION.get(embedder, ()))


def calibrated(value: float, points: tuple[tuple[float, float], ...]) -> float:
    """Piecewise-linear map through `points`, extended along the end segments, capped to 1."""
    if len(points) < 2:
        return value
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        if value <= x1 or (x1, y1) == points[-1]:
            mapped = y0 + (value - x0) * (y1 - y0) / (x1 - x0)
            return round(min(1.0, max(1e-6, mapped)), 4)
    return value  # unreachable: the last segment always returns
