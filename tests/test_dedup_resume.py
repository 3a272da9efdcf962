"""Kill and resume at gate level: the rebuilt index rejects what an uninterrupted one would."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import textwrap
from pathlib import Path

import pytest

from asyncgen.config.dedup import DedupSettings
from asyncgen.dedup import SemanticGate

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from pathlib import Path
    from asyncgen.config.dedup import DedupSettings
    from asyncgen.dedup import SemanticGate

    async def main():
        run_dir, kill_at = Path(sys.argv[1]), int(sys.argv[2])
        settings = DedupSettings.model_validate_json(sys.argv[3])
        texts = json.loads((run_dir / "texts.json").read_text())
        gate = SemanticGate(settings)
        await gate.start(run_dir, [])
        with open(run_dir / "records.jsonl", "a") as out:
            for i, text in enumerate(texts):
                decision = await gate.check(f"r{i}", text)
                if i == kill_at:  # accepted by the gate but never written: the crash
                    await asyncio.sleep(0.5)  # lets a cadence save include it
                    os.kill(os.getpid(), signal.SIGKILL)
                if not decision.is_duplicate:
                    out.write(json.dumps({"id": f"r{i}", "text": text}) + "\\n")
                    out.flush()
                await asyncio.sleep(0.002)

    asyncio.run(main())
    """
)


def _texts(seed: int, count: int) -> list[str]:
    """Random short dialogues where about a third are light edits of an earlier one."""
    rng = random.Random(seed)
    words = "taxi train hotel room table card refund station castle river museum ticket".split()
    texts: list[str] = []
    for _ in range(count):
        if texts and rng.random() < 0.35:
            base = rng.choice(texts).split()
            base[rng.randrange(len(base))] = rng.choice(words)
            texts.append(" ".join(base))
        else:
            texts.append(" ".join(rng.choice(words) + str(rng.randint(0, 99)) for _ in range(12)))
    return texts


async def _decide_all(run_dir: Path, settings: DedupSettings, texts: list[str]) -> list[bool]:
    gate = SemanticGate(settings)
    await gate.start(run_dir, [])
    decisions = [(await gate.check(f"r{i}", t)).is_duplicate for i, t in enumerate(texts)]
    await gate.aclose()
    return decisions


@pytest.mark.parametrize("save_interval", [1e-6, 3600.0], ids=["saved-after-each", "never-saved"])
async def test_killed_gate_resumes_with_same_decisions(
    tmp_path: Path, save_interval: float
) -> None:
    """After SIGKILL, start() drops unwritten ids, re-embeds unsaved records, decides the same."""
    settings = DedupSettings(
        embedder="hashing",
        raw_threshold=0.8,
        batch_deadline=0.0,
        save_interval=save_interval,
        worker_process=False,
    )
    texts = _texts(11, 120)
    expected = await _decide_all(tmp_path / "uninterrupted", settings, texts)
    kill_at = next(i for i in range(70, 120) if not expected[i])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "texts.json").write_text(json.dumps(texts))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(run_dir), str(kill_at), settings.model_dump_json()
    )
    assert await asyncio.wait_for(child.wait(), 60) == -9

    written = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    resumed = SemanticGate(settings)
    await resumed.start(run_dir, [(r["id"], r["text"]) for r in written])
    # the resumed engine re-plans the lost item kill_at, then carries on
    after = [(await resumed.check(f"r{i}", texts[i])).is_duplicate for i in range(kill_at, 120)]
    await resumed.aclose()

    assert [r["id"] for r in written] == [f"r{i}" for i in range(kill_at) if not expected[i]]
    assert after == expected[kill_at:]
    if save_interval < 1:
        assert resumed.stats.dropped == 1 and resumed.stats.rebuilt == 0
    else:
        assert resumed.stats.dropped == 0 and resumed.stats.rebuilt == len(written)
