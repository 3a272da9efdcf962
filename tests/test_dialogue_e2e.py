"""End to end on the simulator (a real child process on loopback) through the run engine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asyncgen import offload
from asyncgen.config import RunConfig, load_config
from asyncgen.dedup import create_gate
from asyncgen.dialogue import DialogueGenerator, DialoguePipeline
from asyncgen.dialogue.audit import audit_run
from asyncgen.dialogue.synthetic import write_multiwoz
from asyncgen.engine import RunOptions, run_generation
from asyncgen.llm import Transport
from asyncgen.llm.retry import set_testing
from asyncgen.sim.embedded import start_simulator


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def _config(n: int, dataset: Path | None, **extra: Any) -> RunConfig:
    overrides: dict[str, Any] = {
        "engine.n": n,
        "engine.pipeline": "dialogue",
        "engine.max_workers": 48,
        "llm.provider": "simulator",
        "llm.model": "sim-model",
        "dialogue.retry_backoff": 0.0,
        "dialogue.dataset_path": str(dataset) if dataset else None,
        **extra,
    }
    return load_config(overrides=overrides, environ={}, env_file=None)


async def _run(config: RunConfig, run_dir: Path, malformed_rate: float) -> Any:
    async with start_simulator(malformed_rate=malformed_rate) as sim:
        transport = Transport.from_settings(config.llm, api_key=sim.api_key, base_url=sim.base_url)
        async with transport:
            return await run_generation(
                config,
                DialoguePipeline(config),
                run_dir=run_dir,
                client=transport,
                gate=create_gate(config, run_dir),
                options=RunOptions(quiet=True, is_simulated=True),
            )


def _check_run(run_dir: Path, config: RunConfig, n: int) -> None:
    """Audit a finished run (synchronous file reads: async tests call it in a thread)."""
    audit = audit_run(run_dir)
    assert audit.records == n
    assert audit.out_of_range == 0 and audit.bad_emotions == 0
    assert audit.reused_bases == 0 and audit.duplicate_ids == 0
    assert audit.max_mix_error(config.dialogue) <= 2.0, (audit.service_mix, audit.resolution_mix)
    # the least-used combination is picked each time: usage stays level within a size
    assert sum(audit.combination_usage.values()) == n
    assert audit.combination_spread <= 2, audit.combination_usage
    exported = json.loads((run_dir / config.dialogue.output_file).read_text())
    hashes = json.loads((run_dir / config.dialogue.hash_file).read_text())
    assert len(exported) == n and len(set(hashes)) == n
    embeddings = np.load(run_dir / config.dialogue.embedding_file)
    assert embeddings.shape[0] == n


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_two_thousand_dialogues_end_to_end(tmp_path: Path) -> None:
    """2,000 dialogues: all parsed in range, mix within ±2 points, no base used twice."""
    # test set-up: the synthetic dataset is written in a worker thread
    dataset = await offload.to_thread(
        lambda: write_multiwoz(tmp_path / "mwoz.parquet", 2600, seed=7)
    )
    config = _config(2000, dataset)
    summary = await _run(config, tmp_path / "run", malformed_rate=0.05)
    assert summary.status == "complete"
    await offload.to_thread(_check_run, tmp_path / "run", config, 2000)
    rejected = (tmp_path / "run" / "rejected.jsonl").read_text().splitlines()
    assert all(json.loads(line)["reason"] for line in rejected)


async def test_small_run_then_extended_run_never_reuses_a_base(tmp_path: Path) -> None:
    """A 60-dialogue run extended to 120 in the same directory relearns used bases."""
    dataset = await offload.to_thread(lambda: write_multiwoz(tmp_path / "mwoz.jsonl", 200, seed=3))
    run_dir = tmp_path / "run"
    first = _config(60, dataset)
    assert (await _run(first, run_dir, malformed_rate=0.1)).status == "complete"
    await offload.to_thread(_check_run, run_dir, first, 60)
    second = _config(120, dataset)
    assert (await _run(second, run_dir, malformed_rate=0.1)).status == "complete"
    await offload.to_thread(_check_run, run_dir, second, 120)


async def test_packaged_sample_run_and_oversized_request(tmp_path: Path) -> None:
    """The sample supports 40 dialogues; asking for 51 is refused naming the dataset size."""
    config = _config(40, None)
    assert (await _run(config, tmp_path / "ok", malformed_rate=0.0)).status == "complete"
    assert (await offload.to_thread(audit_run, tmp_path / "ok")).records == 40
    from asyncgen.errors import DatasetError

    with pytest.raises(DatasetError, match="50 unique"):
        await _run(_config(51, None), tmp_path / "too-big", malformed_rate=0.0)


async def test_dialogue_generator_runs_the_report_entry_point(tmp_path: Path) -> None:
    """DialogueGenerator.generate_unique_dialogues runs a whole run through the engine."""
    config = _config(25, None)
    async with start_simulator() as sim:
        transport = Transport.from_settings(config.llm, api_key=sim.api_key, base_url=sim.base_url)
        async with transport:
            generator = DialogueGenerator(config, transport)
            summary = await generator.generate_unique_dialogues(25, tmp_path / "run")
    assert summary.status == "complete"
    assert (await offload.to_thread(audit_run, tmp_path / "run")).records == 25
    dialogues = json.loads((tmp_path / "run" / "generated_dialogues.json").read_text())
    assert len(dialogues) == 25
    # The report's is_unique now answers against the run's accepted dialogues, whose
    # embeddings line up row for row with the exported dialogues.
    assert generator.existing_embeddings.shape[0] == 25
    for i in (0, 7, 24):
        mine = await generator.embed_dialogue(dialogues[i])
        row = generator.existing_embeddings[i]
        assert float(mine @ row / np.linalg.norm(mine) / np.linalg.norm(row)) > 0.999
    assert not generator.is_unique(await generator.embed_dialogue(dialogues[3]))
    fresh = await generator.embed_dialogue("A lighthouse keeper teaches a parrot Latin verbs.")
    assert generator.is_unique(fresh)
    generator.remember(fresh)
    assert not generator.is_unique(fresh) and generator.existing_embeddings.shape[0] == 26
    with pytest.raises(ValueError, match="dimensions"):
        generator.is_unique(np.zeros(7, dtype=np.float32))
    await generator.aclose()  # stops the embedding worker off the loop


@pytest.mark.timeout(300)
def test_killed_run_resumes_without_reusing_a_base(tmp_path: Path) -> None:
    """SIGKILL mid-run, rerun the same command: n records, no base or id used twice."""
    import os
    import signal
    import subprocess
    import sys
    import time

    dataset = write_multiwoz(tmp_path / "d.parquet", 700, seed=4)
    (tmp_path / "c.yaml").write_text("sim:\n  latency_median: 0.02\n  malformed_rate: 0.1\n")
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "asyncgen", "generate", "--pipeline", "dialogue", "--n", "500",
        "--out", str(out), "--quiet", "--dataset-path", str(dataset),
        "--config", str(tmp_path / "c.yaml"),
    ]  # fmt: skip
    child = subprocess.Popen(command, start_new_session=True)
    records = out / "records.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if records.exists() and records.read_bytes().count(b"\n") >= 60:
            break
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    done_before = records.read_bytes().count(b"\n")
    assert 0 < done_before < 500
    assert subprocess.run(command, check=False, timeout=240).returncode == 0
    audit = audit_run(out)
    assert audit.records == 500
    assert audit.reused_bases == 0 and audit.duplicate_ids == 0 and audit.out_of_range == 0
