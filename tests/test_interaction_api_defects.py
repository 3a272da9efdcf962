"""The interaction API used from Python as the spec shows: ids unique across generators,
storage never silently keeps one of several, a distractor follows its generator's client,
and no key means the embedded simulator, announced in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncgen import offload
from asyncgen.errors import ConfigError, StoreError
from asyncgen.interaction import (
    InteractionGenerator,
    InteractionStorage,
    create_distractor_model,
)
from asyncgen.interaction.offline import LocalResponderClient

FEATURES = {"role": "engineer", "communication_style": "casual", "domain": "software"}
CONFIG: dict[str, Any] = {
    "interaction_generation": {"retry_delay": 0, "min_turns": 1, "max_turns": 2},
    "distractor": {"enabled": False},
}


async def test_ids_from_three_generators_never_collide_in_storage(tmp_path: Path) -> None:
    """Three generators in the same second, one storage: three interactions kept."""
    storage = InteractionStorage(str(tmp_path / "store"))
    for _ in range(3):
        generator = InteractionGenerator(CONFIG, client=LocalResponderClient())
        made = await generator.generate_interaction("p1", FEATURES, "help me", target_turns=1)
        assert made is not None
        await storage.asave(made)
    assert len(await storage.aload_all()) == 3


def test_storage_refuses_a_second_interaction_with_the_same_id(tmp_path: Path) -> None:
    """Saving an id again is an error naming it, not a silent overwrite."""
    storage = InteractionStorage(str(tmp_path / "store"))
    row = {"interaction_id": "i1", "persona_id": "p", "messages": [], "metadata": {}}
    storage.save(row)
    with pytest.raises(StoreError, match="'i1' is already stored"):
        storage.save(dict(row))
    assert len(InteractionStorage(str(tmp_path / "store")).load_all()) == 1


async def test_a_semantic_distractor_follows_the_generator_using_it() -> None:
    """Bound by one generator, then used by another: it calls the second one's client."""
    config = {**CONFIG, "distractor": {"enabled": True, "noise_probability": 1.0}}
    distractor = create_distractor_model(config, use_semantic=True)
    first, second = LocalResponderClient(), LocalResponderClient()
    distractor.bind_client(first)
    distractor.release_client(first)
    distractor.bind_client(second)
    await distractor.apply_noise("how do I sort a list in python", FEATURES)
    assert second.calls and not first.calls


async def test_no_key_starts_the_simulator_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spec's `InteractionGenerator(config)` with no key: the embedded simulator."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no API key and no base URL"):
        # the synchronous property (it reads `.env` files): async code calls it in a thread
        await offload.to_thread(lambda: InteractionGenerator(CONFIG).assistant)
    async with InteractionGenerator(CONFIG) as generator:
        assert generator.assistant.client is generator.client  # opened on entry
        made = [
            await generator.generate_interaction("p1", FEATURES, "help me", target_turns=1)
            for _ in range(2)
        ]
    assert all(m is not None for m in made)
    notice = [line for line in capsys.readouterr().err.splitlines() if "simulator" in line]
    assert len(notice) == 1 and "No API key" in notice[0]


async def test_batches_from_two_generators_are_runs_in_one_storage(tmp_path: Path) -> None:
    """Each batch call is one engine run in its own subdirectory of the storage's folder;
    the storage indexes both, converts them for its collector, and refuses to store a
    batch's interaction a second time."""
    from asyncgen.export import TrainingDataCollector

    storage = InteractionStorage(tmp_path / "store", collector=TrainingDataCollector({}))
    tasks = [
        {"persona_id": f"p{i}", "persona_features": FEATURES, "queries": [{"adapted_query": "hi"}]}
        for i in range(3)
    ]
    made = []
    for _ in range(2):
        generator = InteractionGenerator(CONFIG, client=LocalResponderClient())
        made += await generator.generate_interactions_batch(tasks, False, 2, storage)
        report = generator.last_batch
        assert report is not None and report.summary is not None
        assert report.summary.status == "complete" and report.summary.done == 3
    runs = sorted(p for p in (tmp_path / "store").iterdir() if p.is_dir())
    assert len(runs) == 2 and all((run / "summary.json").is_file() for run in runs)
    index = json.loads((tmp_path / "store" / "index.json").read_text())
    assert index["count"] == 6 == len({e["interaction_id"] for e in index["interactions"]})
    assert {e["filepath"] for e in index["interactions"]} == {
        str(r / "records.jsonl") for r in runs
    }
    assert len(storage.samples) == 6
    reopened = await InteractionStorage(tmp_path / "store").aload_all()
    assert [d["interaction_id"] for d in reopened] == [i.interaction_id for i in made]
    with pytest.raises(StoreError, match="already stored"):
        storage.save(made[0])


async def test_a_batch_without_storage_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without storage the run goes to a temporary directory, removed once read back."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    generator = InteractionGenerator(CONFIG, client=LocalResponderClient())
    tasks = [{"persona_id": "p", "persona_features": FEATURES, "queries": [{"adapted_query": "x"}]}]
    assert len(await generator.generate_interactions_batch(tasks, show_progress=False)) == 1
    assert [p async for p in anyio.Path(tmp_path).iterdir()] == []


def _doomed_or_satisfied(request: Any, n: int) -> str:
    if "doomed" in request.messages[0]["content"]:
        return "not json"
    return '{"satisfied": false, "feedback": "go on"}'


async def test_a_batch_with_a_replacement_never_blocks_the_loop(
    tmp_path: Path, no_blocking: Any
) -> None:
    """The batch's engine run, its in-item replacement (query writer, style transfer) and
    the storage's indexing run under blockbuster: file work stays off the loop."""
    config = {
        **CONFIG,
        "interaction_generation": {
            "retry_delay": 0,
            "min_turns": 2,
            "max_turns": 2,
            "max_retries": 0,
            "max_supplement_rounds": 1,
        },
    }
    client = LocalResponderClient(scripts={"user_feedback": _doomed_or_satisfied})
    storage = await anyio.to_thread.run_sync(InteractionStorage, tmp_path / "store")
    generator = InteractionGenerator(config, client=client)
    queries = [{"adapted_query": "doomed one"}, {"adapted_query": "a fine one"}]
    tasks = [{"persona_id": "p", "persona_features": FEATURES, "queries": queries}]
    made = await generator.generate_interactions_batch(tasks, False, 2, storage)
    assert generator.last_batch is not None and generator.last_batch.total_tasks == 3
    assert len(made) == 1 + (generator.last_batch.supplement_rounds == 1)
    assert "query_generation" in client.kinds()
