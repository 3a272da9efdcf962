"""Benchmark uniqueness: embedder speed and agreement with MiniLM, gate vs a generation-rate
producer (queue, latency, event-loop lag), FAISS search at 10k/100k/1M, and a whole run on
the simulator with and without dedup.

    .venv/bin/python scripts/bench_dedup.py            # everything (several minutes)
    .venv/bin/python scripts/bench_dedup.py --quick    # small sizes, no 1M, short run
    .venv/bin/python scripts/bench_dedup.py --sections calibrate
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dedup_corpus as corpus

from asyncgen.config.dedup import DedupSettings
from asyncgen.dedup import (
    CALIBRATION,
    Embedder,
    HashingEmbedder,
    SemanticGate,
    VectorIndex,
    effective_threshold,
    load_embedder,
)
from asyncgen.dedup.embedders import MiniLMEmbedder, default_torch_threads, minilm_path
from asyncgen.dedup.index import new_hnsw, set_faiss_threads
from asyncgen.engine.lag import Histogram, LagMonitor

ROOT = Path(__file__).resolve().parent.parent
MULTIWOZ = ROOT / "asyncgen" / "data" / "multiwoz_sample.jsonl"
REF_BARS = (0.80, 0.85, 0.90, 0.95)


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    """Print a plain aligned table."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n### {title}")
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


# -- embedders ---------------------------------------------------------------------------


class _Variant:
    """A MiniLM variant measured for comparison only (shorter inputs, int8 weights)."""

    def __init__(self, base: MiniLMEmbedder, name: str) -> None:
        self.base, self.name, self.dim = base, name, base.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.base.encode(texts)

    def describe(self) -> dict[str, Any]:
        return {"embedder": self.name}


def candidates(quick: bool) -> dict[str, Callable[[], Embedder]]:
    """Embedders to measure, built lazily (MiniLM variants load their own copy)."""
    threads = default_torch_threads(DedupSettings())

    def minilm(max_seq: int | None = None, int8: bool = False) -> Embedder:
        model = MiniLMEmbedder(minilm_path(DedupSettings()), threads=threads)
        name = "minilm"
        if max_seq:
            model._model.max_seq_length = max_seq
            name = f"minilm-{max_seq}tok"
        if int8:
            import torch  # noqa: TID251

            model._model = torch.ao.quantization.quantize_dynamic(
                model._model, {torch.nn.Linear}, dtype=torch.qint8
            )
            name = "minilm-int8"
        return model if name == "minilm" else _Variant(model, name)

    out: dict[str, Callable[[], Embedder]] = {
        "static": lambda: load_embedder(DedupSettings(embedder="static")),
        "hashing": HashingEmbedder,
        "minilm": minilm,
        "minilm-128tok": lambda: minilm(max_seq=128),
    }
    if not quick:
        out["minilm-int8"] = lambda: minilm(int8=True)
    return out


def rate(embedder: Embedder, texts: list[str], batch: int = 64) -> float:
    """Texts per second, encoded in batches as the gate does."""
    embedder.encode(texts[:8])  # warm-up
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        embedder.encode(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def section_embed(quick: bool, built: dict[str, Embedder]) -> None:
    """Throughput on short (~15 words) and long (300 words) texts."""
    rows = []
    for name, make in candidates(quick).items():
        embedder = built.setdefault(name, make())
        slow = name.startswith("minilm")
        n_short, n_long = (128, 32) if slow and quick else (512, 96) if slow else (5000, 1000)
        short = rate(embedder, corpus.short_texts(1, n_short))
        long = rate(embedder, corpus.long_texts(2, n_long))
        rows.append([name, embedder.dim, short, long])
    base = next(r for r in rows if r[0] == "minilm")
    for row in rows:
        row += [row[2] / base[2], row[3] / base[3]]
    table(
        "Embedder throughput (texts/s, 2 cores; torch threads = cores-1)",
        ["embedder", "dim", "short/s", "long(300w)/s", "x minilm short", "x minilm long"],
        rows,
    )


def pair_scores(vectors: np.ndarray) -> np.ndarray:
    """Cosine of every unordered pair."""
    upper = np.triu_indices(len(vectors), 1)
    return (vectors @ vectors.T)[upper]


def agreement(scores: np.ndarray, ref: np.ndarray, bar: float, ref_bar: float) -> tuple[float, ...]:
    """Precision, recall, F1 of {pairs ≥ bar} against MiniLM's {pairs ≥ ref_bar}."""
    want, got = ref >= ref_bar, scores >= bar
    hit = float((want & got).sum())
    precision = hit / max(float(got.sum()), 1.0)
    recall = hit / max(float(want.sum()), 1.0)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)


def best_bar(scores: np.ndarray, ref: np.ndarray, ref_bar: float) -> tuple[float, ...]:
    """The embedder's bar with the best F1 against MiniLM at `ref_bar`."""
    grid = np.arange(0.70, 0.9951, 0.0025)
    results = [(float(b), *agreement(scores, ref, float(b), ref_bar)) for b in grid]
    return max(results, key=lambda r: r[3])


def section_calibrate(quick: bool, built: dict[str, Embedder]) -> None:
    """Agreement with MiniLM on which pairs cross the bar; the calibrated bars."""
    texts = corpus.calibration_corpus(7, str(MULTIWOZ), 60 if quick else 150, 3 if quick else 4)
    texts += corpus.long_corpus(8, 20 if quick else 80, 3)
    reference = built.setdefault("minilm", candidates(quick)["minilm"]())
    ref = pair_scores(reference.encode(texts))
    counts = ", ".join(f"{int((ref >= b).sum())} pairs >= {b}" for b in REF_BARS)
    print(f"\ncalibration corpus: {len(texts)} texts, {len(ref):,} pairs; MiniLM: {counts}")
    rows, table_out = [], {}
    for name, make in candidates(quick).items():
        if name == "minilm":
            continue
        scores = pair_scores(built.setdefault(name, make()).encode(texts))
        corr = float(np.corrcoef(scores, ref)[0, 1])
        points = []
        for ref_bar in REF_BARS:
            naive = agreement(scores, ref, ref_bar, ref_bar)
            bar, p, r, f1 = best_bar(scores, ref, ref_bar)
            mapped = effective_threshold(DedupSettings(threshold=ref_bar), name)
            used = agreement(scores, ref, mapped, ref_bar) if name in CALIBRATION else naive
            rows.append([name, ref_bar, naive[0], naive[1], bar, p, r, f1, mapped, used[2], corr])
            points.append((ref_bar, round(bar, 4)))
        table_out[name] = tuple(points)
    table(
        "Agreement with MiniLM on pairs at/above the bar (P/R/F1 of pair sets)",
        [
            "embedder",
            "minilm bar",
            "P@same",
            "R@same",
            "best bar",
            "P",
            "R",
            "F1",
            "mapped bar",
            "F1@mapped",
            "corr",
        ],
        rows,
    )
    print(f"\nbest bars (CALIBRATION candidates): {table_out}")


# -- gate vs a producer ------------------------------------------------------------------


def gate_texts(seed: int, count: int, dup_share: float) -> list[str]:
    """Dialogue texts where `dup_share` are light edits of an earlier one."""
    rng = random.Random(seed)
    bases = corpus.multiwoz_dialogues(str(MULTIWOZ))
    made: list[list[tuple[str, str]]] = []
    for _ in range(count):
        if made and rng.random() < dup_share:
            made.append(corpus.edit(rng.choice(made), rng, 1))
        elif rng.random() < 0.3:
            made.append(corpus.edit(rng.choice(bases), rng, 5))
        else:
            made.append(corpus.make_dialogue(rng))
    return [corpus.render(turns) for turns in made]


async def drive_gate(
    settings: DedupSettings, texts: list[str], per_second: float | None, embedder: Embedder
) -> dict[str, Any]:
    """Feed the gate at a fixed rate (or as fast as 64 workers can), measure what matters."""
    latencies = Histogram()
    with tempfile.TemporaryDirectory() as tmp:
        gate = SemanticGate(settings, embedder=embedder)
        await gate.start(Path(tmp), [])  # imports FAISS: a one-off stall, not measured here
        lag = LagMonitor(interval=0.01)
        lag.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        tasks: set[asyncio.Task[None]] = set()
        limit = asyncio.Semaphore(64)
        dups = 0

        async def one(i: int, text: str) -> None:
            nonlocal dups
            async with limit:
                t0 = loop.time()
                decision = await gate.check(f"r{i}", text)
                latencies.add(loop.time() - t0)
                dups += decision.is_duplicate

        for i, text in enumerate(texts):
            if per_second:
                await asyncio.sleep(max(0.0, started + i / per_second - loop.time()))
            else:
                await limit.acquire()
                limit.release()
            task = asyncio.create_task(one(i, text))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        elapsed = loop.time() - started
        await gate.aclose()
    await lag.aclose()
    return {
        "elapsed": elapsed,
        "ideal": len(texts) / per_second if per_second else 0.0,
        "checks_per_s": len(texts) / elapsed,
        "dup_share": dups / len(texts),
        "max_queue": gate.stats.max_queue,
        "mean_batch": gate.stats.snapshot()["mean_batch"],
        "lat_p50_ms": latencies.percentile(0.5) * 1000,
        "lat_p99_ms": latencies.percentile(0.99) * 1000,
        "lag_p99_ms": lag.total.percentile(0.99) * 1000,
        "lag_max_ms": lag.total.max * 1000,
    }


def section_gate(quick: bool, built: dict[str, Embedder], rate_hint: float) -> None:
    """The gate against a producer at generation rate, and flat out."""
    rows = []
    plans = [
        ("static", 3000 if quick else 20000),
        ("hashing", 3000 if quick else 10000),
        ("minilm", 200 if quick else 600),
    ]
    for name, count in plans:
        embedder = built.setdefault(name, candidates(quick)[name]())
        settings = DedupSettings(embedder=name)  # type: ignore[arg-type]
        texts = gate_texts(3, count, 0.2)
        for label, per_second in (("flat out", None), (f"{rate_hint:.0f}/s", rate_hint)):
            if name == "minilm" and per_second:
                per_second = min(per_second, 20.0)
                label = "20/s"
            result = asyncio.run(drive_gate(settings, texts, per_second, embedder))
            rows.append(
                [
                    name,
                    label,
                    count,
                    result["checks_per_s"],
                    result["elapsed"],
                    result["ideal"],
                    result["max_queue"],
                    result["mean_batch"],
                    result["lat_p50_ms"],
                    result["lat_p99_ms"],
                    result["lag_p99_ms"],
                    result["lag_max_ms"],
                    result["dup_share"],
                ]
            )
    table(
        "Gate vs producer (20% near-copies; 64 concurrent checkers)",
        [
            "embedder",
            "producer",
            "checks",
            "checks/s",
            "wall s",
            "ideal s",
            "max queue",
            "mean batch",
            "lat p50 ms",
            "lat p99 ms",
            "lag p99 ms",
            "lag max ms",
            "dup share",
        ],
        rows,
    )


# -- search ------------------------------------------------------------------------------


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors around n/50 centres, generated in chunks (1M x 128 fits in 512 MB)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 50, 1), dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        rows = centres[rng.integers(0, len(centres), stop - start)]
        rows += 0.6 * rng.standard_normal((stop - start, dim)).astype(np.float32)
        out[start:stop] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def section_search(sizes: list[int], ef_values: tuple[int, ...] = ()) -> None:
    """Exact vs HNSW: build, query cost per 64-batch, recall on near-copies and fresh queries."""
    set_faiss_threads(default_torch_threads(DedupSettings()))
    dim, rows = 128, []
    rng = np.random.default_rng(9)
    for n in sizes:
        data = clustered(n, dim, n)
        targets = rng.integers(0, n, 512)
        # near-copies at noise norms 0.1-0.6 (cosine ~0.99-0.86 to their target): around the bar
        scale = rng.uniform(0.1, 0.6, (512, 1)) / np.sqrt(dim)
        near = data[targets] + (scale * rng.standard_normal((512, dim))).astype(np.float32)
        fresh = clustered(512, dim, n + 1)
        queries = np.vstack([near / np.linalg.norm(near, axis=1, keepdims=True), fresh])
        ref_scores = ref_found = np.zeros(0)
        for kind in ("flat", "hnsw"):
            index = VectorIndex(dim, approximate_after=n + 1)
            t0 = time.perf_counter()
            if kind == "hnsw":
                index._index = new_hnsw(dim, DedupSettings().hnsw_m)
            index._index.add(data)
            index.ids = [str(i) for i in range(n)]
            build = time.perf_counter() - t0
            t0 = time.perf_counter()
            scores, found = index.search(queries, 1)
            per_batch = (time.perf_counter() - t0) / (len(queries) / 64) * 1000
            if kind == "flat":
                ref_scores, ref_found = scores, found
            same = found[:, 0] == ref_found[:, 0]
            flagged = (scores[:, 0] >= 0.9) == (ref_scores[:, 0] >= 0.9)
            share = float((ref_scores[:512, 0] >= 0.9).mean())
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                index.write(Path(tmp) / "i.faiss")
                save = time.perf_counter() - t0
            rows.append([n, kind, build, per_batch, float(same[:512].mean()),
                         float(same[512:].mean()), float(flagged.mean()), share, save])  # fmt: skip
        for ef in ef_values if kind == "hnsw" else ():
            index._index.hnsw.efSearch = ef
            t0 = time.perf_counter()
            scores, found = index._index.search(queries, 1)
            per_batch = (time.perf_counter() - t0) / (len(queries) / 64) * 1000
            same = found[:, 0] == ref_found[:, 0]
            flagged = (scores[:, 0] >= 0.9) == (ref_scores[:, 0] >= 0.9)
            rows.append([n, f"hnsw ef={ef}", "", per_batch, float(same[:512].mean()),
                         float(same[512:].mean()), float(flagged.mean()), share, ""])  # fmt: skip
        del data
    table(
        f"FAISS search, {dim}-d clustered synthetic vectors, 512 near-copy + 512 fresh queries",
        [
            "vectors",
            "index",
            "build s",
            "ms per 64 queries",
            "recall@1 near-copies",
            "recall@1 fresh",
            "same decision @0.9",
            "near-copies >= 0.9",
            "save s",
        ],
        rows,
    )


# -- whole run ---------------------------------------------------------------------------


def run_once(n: int, dedup: bool, out: Path) -> dict[str, Any]:
    """`asyncgen generate --pipeline dialogue` on the embedded simulator; its summary."""
    config = out.with_suffix(".yaml")
    config.write_text(
        f"dialogue:\n  allow_base_reuse: true\ndedup:\n  enabled: {'true' if dedup else 'false'}\n"
    )
    cmd = [sys.executable, "-m", "asyncgen", "generate", "--pipeline", "dialogue", "--n", str(n),
           "--out", str(out), "--quiet", "--config", str(config)]  # fmt: skip
    t0, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, capture_output=True, timeout=3600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    summary["process_s"] = time.perf_counter() - t0
    summary["cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    log = (out / "asyncgen.log").read_text().splitlines()
    summary["gate"] = next((ln.split("dedup: ", 1)[1] for ln in log if "checks," in ln), "")
    return summary


def section_run(quick: bool, repeats: int) -> float:
    """Wall and CPU time of an n-dialogue run with and without dedup (alternating repeats)."""
    n = 1000 if quick else 10_000
    rows: list[list[Any]] = []
    walls: dict[bool, list[float]] = {True: [], False: []}
    cpus: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(repeats):
            for dedup in (False, True):
                s = run_once(n, dedup, Path(tmp) / f"run-{rep}-{dedup}")
                walls[dedup].append(s["wall_time_s"])
                cpus[dedup].append(s["cpu_s"])
                rows.append([rep, "on" if dedup else "off", s["done"], s["wall_time_s"],
                             s["process_s"], s["cpu_s"], s.get("dedup_rejects", 0),
                             s["loop_lag"]["p99_ms"], s["throughput_per_s"]])  # fmt: skip
                if s["gate"]:
                    print(f"  gate: {s['gate']}", flush=True)
    table(
        f"Dialogue run of {n:,} on the simulator, dedup off vs on",
        ["repeat", "dedup", "records", "wall s", "process s", "CPU s (engine+sim)",
         "dup rejects", "lag p99 ms", "records/s"],
        rows,
    )  # fmt: skip
    off, on = float(np.median(walls[False])), float(np.median(walls[True]))
    c_off, c_on = float(np.median(cpus[False])), float(np.median(cpus[True]))
    print(f"\nmedian wall: off {off:.2f} s, on {on:.2f} s, on/off = {on / off:.3f}")
    print(f"median CPU: off {c_off:.1f} s, on {c_on:.1f} s, on/off = {c_on / c_off:.3f}")
    return n / off if off else 0.0


def main() -> int:
    """Parse options and run the chosen sections."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (make bench)")
    parser.add_argument(
        "--sections",
        default="embed,calibrate,search,run,gate",
        help="comma list of embed, calibrate, gate, search, run",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="producer rate for the gate section (default: the run's rate)",
    )
    parser.add_argument("--search-sizes", default=None, help="e.g. 10000,100000,1000000")
    parser.add_argument("--ef", default="", help="extra HNSW efSearch values, e.g. 192,384")
    parser.add_argument("--repeats", type=int, default=2, help="run section repeats")
    args = parser.parse_args()
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    built: dict[str, Embedder] = {}
    run_rate = None
    for section in sections:
        t0 = time.perf_counter()
        if section == "embed":
            section_embed(args.quick, built)
        elif section == "calibrate":
            section_calibrate(args.quick, built)
        elif section == "search":
            sizes = (
                [int(x) for x in args.search_sizes.split(",")]
                if args.search_sizes
                else ([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000])
            )
            section_search(sizes, tuple(int(x) for x in args.ef.split(",") if x))
        elif section == "run":
            run_rate = section_run(args.quick, args.repeats)
        elif section == "gate":
            section_gate(args.quick, built, args.rate or run_rate or 300.0)
        else:
            parser.error(f"unknown section {section!r}")
        print(f"({section}: {time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
