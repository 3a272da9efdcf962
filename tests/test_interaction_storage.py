"""InteractionStorage and the spec's records: save, load, index.json, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asyncgen.errors import StoreError
from asyncgen.interaction import Interaction, InteractionStorage, Message


def _interaction(number: int) -> Interaction:
    return Interaction(
        interaction_id=f"interaction_persona_00{number}_x",
        persona_id=f"persona_00{number}",
        persona_features={"role": "engineer"},
        original_query="Help me write Python code",
        initial_query="hey can u help me write some python code",
        messages=[
            Message("user", "hey can u help me writ some python code", "t0",
                    {"is_initial": True, "was_noised": True,
                     "clean_content": "hey can u help me write some python code"}),
            Message("assistant", "Sure! What kind?", "t1", {"model": "m", "provider": "openai"}),
            Message("user", "a csv script", "t2", {"is_followup": True}),
            Message("assistant", "Here it is.", "t3", {"model": "m", "provider": "openai"}),
        ],
        num_turns=2,
        metadata={"created_at": "2026-02-06T10:30:00", "query_id": f"query_00{number}"},
    )  # fmt: skip


def test_records_round_trip_and_views() -> None:
    """to_dict/from_dict round-trip; trajectory and conversation as the spec shows."""
    interaction = _interaction(1)
    assert Interaction.from_dict(interaction.to_dict()) == interaction
    assert interaction.get_trajectory() == [
        "hey can u help me writ some python code",
        "a csv script",
    ]
    assert interaction.get_trajectory(clean=True)[0] == interaction.initial_query
    conversation = interaction.get_full_conversation()
    assert conversation[1] == {"role": "assistant", "content": "Sure! What kind?"}
    assert set(interaction.to_dict()) == {
        "interaction_id", "persona_id", "persona_features", "original_query",
        "initial_query", "messages", "num_turns", "metadata",
    }  # fmt: skip


def test_save_load_and_index(tmp_path: Path) -> None:
    """save appends and indexes; load finds by id; load_all returns all; index.json as the spec."""
    storage = InteractionStorage(tmp_path / "interactions")
    paths = [storage.save(_interaction(n)) for n in (1, 2, 3)]
    # the spec's layout: one JSON file per interaction, named by its id
    assert paths[0] == str(tmp_path / "interactions" / "interaction_persona_001_x.json")
    assert json.loads(Path(paths[0]).read_text())["persona_id"] == "persona_001"
    reopened = InteractionStorage(tmp_path / "interactions")
    assert reopened.load("interaction_persona_002_x")["persona_id"] == "persona_002"
    assert [d["persona_id"] for d in reopened.load_all()] == [
        "persona_001",
        "persona_002",
        "persona_003",
    ]
    reopened.save(_interaction(4))
    index = json.loads((tmp_path / "interactions" / "index.json").read_text())
    assert index["count"] == 4
    assert index["interactions"][3] == {
        "interaction_id": "interaction_persona_004_x", "persona_id": "persona_004",
        "filepath": str(tmp_path / "interactions" / "interaction_persona_004_x.json"),
        "num_turns": 2,
        "created_at": "2026-02-06T10:30:00", "query_id": "query_004",
    }  # fmt: skip
    assert {"interactions", "count", "last_updated"} == set(index)
    with pytest.raises(StoreError, match="no interaction"):
        reopened.load("missing")


def test_load_all_skips_a_torn_line(tmp_path: Path) -> None:
    """A half-written last line (a crash mid-write) is skipped, not fatal."""
    storage = InteractionStorage(tmp_path)
    storage.save(_interaction(1))
    with (tmp_path / "records.jsonl").open("a") as handle:
        handle.write('{"interaction_id": "half')
    assert [d["persona_id"] for d in storage.load_all()] == ["persona_001"]


def test_collector_converts_each_saved_interaction(tmp_path: Path) -> None:
    """With a collector, each saved interaction also becomes a training sample."""
    from asyncgen.export import TrainingDataCollector

    storage = InteractionStorage(tmp_path, collector=TrainingDataCollector({}))
    storage.save(_interaction(1))
    assert len(storage.samples) == 1
    assert storage.samples[0].prompt_trajectory[0] == "hey can u help me write some python code"


def test_index_keeps_up_with_large_batches_without_rewriting_per_save(tmp_path: Path) -> None:
    """Past 256 entries index.json is rewritten at most once a second; `flush` (which a
    batch calls at its end) brings it level with every saved interaction."""
    storage = InteractionStorage(tmp_path / "interactions")
    index_path = tmp_path / "interactions" / "index.json"
    writes = 0
    original = storage._write_index

    def counting(entries: list[dict[str, object]]) -> None:
        nonlocal writes
        writes += 1
        original(entries)

    storage._write_index = counting  # type: ignore[method-assign]
    for n in range(400):
        storage.save(_interaction(n))
    assert 256 <= writes < 300  # every save up to 256, then by time only
    storage.flush()
    index = json.loads(index_path.read_text())
    assert index["count"] == 400 and len(storage.load_all()) == 400


async def test_async_twins_save_and_load(tmp_path: Path) -> None:
    """asave / aload / aload_all do the same work off the event loop."""
    storage = InteractionStorage(tmp_path / "interactions")
    await storage.asave(_interaction(1))
    await storage.asave(_interaction(2))
    assert (await storage.aload("interaction_persona_002_x"))["persona_id"] == "persona_002"
    assert [d["persona_id"] for d in await storage.aload_all()] == ["persona_001", "persona_002"]


def test_a_run_directory_is_read_but_never_written_into(tmp_path: Path) -> None:
    """On an engine run's folder, saves go to their own files beside records.jsonl (the
    engine's, which the storage never appends to), and both are read together."""
    (tmp_path / "run").mkdir()
    line = json.dumps({**_interaction(1).to_dict(), "id": "interaction_persona_001_x"})
    (tmp_path / "run" / "records.jsonl").write_text(line + "\n")
    storage = InteractionStorage(tmp_path / "run")
    assert storage.save(_interaction(2)) == str(tmp_path / "run" / "interaction_persona_002_x.json")
    assert (tmp_path / "run" / "records.jsonl").read_text() == line + "\n"
    (tmp_path / "run" / "summary.json").write_text('{"done": 3}')  # a run's other files
    (tmp_path / "run" / "generated.json").write_text("[1, 2]")
    both = InteractionStorage(tmp_path / "run").load_all()
    assert [d["persona_id"] for d in both] == ["persona_001", "persona_002"]
    assert InteractionStorage(tmp_path / "run").load("interaction_persona_002_x")["num_turns"] == 2
    with pytest.raises(StoreError, match="already stored"):
        InteractionStorage(tmp_path / "run").save(_interaction(1))
