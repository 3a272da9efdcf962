"""DialogueGenerator: the report's methods, called the way the report calls them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from asyncgen.config import RunConfig, load_config
from asyncgen.config.sim import SimSettings
from asyncgen.dialogue import DialogueGenerator, process_generated_dialogue
from asyncgen.llm import Transport
from asyncgen.llm.retry import set_testing
from asyncgen.sim.app import SimApp


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    with set_testing():
        yield


def _config() -> RunConfig:
    overrides = {"llm.provider": "simulator", "dialogue.retry_backoff": 0}
    return load_config(overrides=overrides, environ={}, env_file=None)


@pytest.fixture
async def generator() -> AsyncIterator[DialogueGenerator]:
    config = _config()
    transport = Transport.from_settings(
        config.llm,
        api_key=None,
        base_url="http://sim.test/v1",
        http_transport=httpx.ASGITransport(app=SimApp(SimSettings())),  # type: ignore[arg-type]
    )
    async with transport:
        yield DialogueGenerator(config, transport)


async def test_report_scenario_call_returns_scenario_and_time(
    generator: DialogueGenerator,
) -> None:
    """generate_dynamic_scenario(category, services, region) returns the scenario (a str,
    as in the report) naming the region and a slot time; no seed draws fresh ones."""
    scenario = await generator.generate_dynamic_scenario(
        "dining_reservation", ["restaurant", "taxi"], "Lima", seed=3
    )
    when = generator.last_scenario_time
    assert isinstance(scenario, str) and "Lima" in scenario and when["time"] in scenario
    assert when["slot"] in generator.settings.time_slots
    times = set()
    for _ in range(6):
        await generator.generate_dynamic_scenario("dining_reservation", ["restaurant"], "Lima")
        times.add(generator.last_scenario_time["time"])
    assert len(times) > 1
    await generator.generate_dynamic_scenario("no_such_category", ["hotel"], "Oslo", seed=1)


async def test_report_dialogue_call_returns_a_valid_dialogue(
    generator: DialogueGenerator,
) -> None:
    """generate_dialogue(...) returns tagged text that parses within the asked range."""
    text = await generator.generate_dialogue(
        ["hotel"],
        "USER: I need a room.\nASSISTANT: For when?",
        4,
        6,
        scenario="A late arrival in Oslo.",
        user_emotions=["Tired", "Grateful"],
        assistant_emotions=["Patient"],
        regions=["Oslo"],
        resolution_status="Escalated",
    )
    turns = process_generated_dialogue(text, 4, 6)
    assert "case" in turns[-1].assistant_response  # every escalation names a case


def test_persona_methods_and_categories() -> None:
    """Persona dictionaries exist and categories are general plus the service's own."""
    generator = DialogueGenerator(_config())
    generator.populate_persona_dicts()
    bank = generator.load_persona_dataset()
    assert bank.cluster_dict and bank.summary_dict
    import random

    assert generator.select_random_persona(random.Random(1)).persona
    categories = generator.get_categories_for_service("flight")
    assert "pet_transportation" in categories and "complaint" in categories
    assert generator.generate_random_time("Evening", random.Random(2)) >= "17:00"


def test_single_dialogue_extraction_reports_counts() -> None:
    """test_single_dialogue_extraction gives id, speakers, utterances, turns and the base."""
    found = DialogueGenerator(_config()).test_single_dialogue_extraction(0)
    assert found["dialogue_id"] == "AGS-SNG-0001.json"
    assert found["speakers"] == 2 and found["turns"] == found["utterances"] == 8
    assert found["base_conversation"].startswith("USER: Hi, I'm looking for a place to eat")


def test_is_unique_and_saved_files(tmp_path: Path) -> None:
    """is_unique compares cosine similarity; save_* write the report's three files."""
    generator = DialogueGenerator(_config())
    first = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    assert generator.is_unique(first)
    generator.remember(first)
    assert not generator.is_unique(np.array([0.99, 0.05, 0.0], dtype=np.float32))
    assert generator.is_unique(np.array([0.0, 1.0, 0.0], dtype=np.float32))
    generator.existing_hashes.add("ab" * 32)
    total = generator.save_new_dialogues([{"dialogue_id": "d1"}], tmp_path)
    total = generator.save_new_dialogues([{"dialogue_id": "d1"}, {"dialogue_id": "d2"}], tmp_path)
    assert total == 2
    assert json.loads((tmp_path / "dialogue_hashes.json").read_text()) == ["ab" * 32]
    generator.save_embeddings(np.eye(3, dtype=np.float32), tmp_path)
    assert np.load(tmp_path / "dialogue_embeddings.npy").shape == (3, 3)


def test_runs_sharing_one_output_file_keep_each_others_dialogues(tmp_path: Path) -> None:
    """An absolute `output_file`/`hash_file` shared by two runs ends with both runs'
    dialogues and hashes (the report loads, merges and saves); a re-export adds nothing."""
    from asyncgen.dialogue.store import export_run

    shared = tmp_path / "shared"
    shared.mkdir()
    config = _config().model_copy(deep=True)
    config.dialogue.output_file = str(shared / "all_dialogues.json")
    config.dialogue.hash_file = str(shared / "all_hashes.json")
    config.dedup.enabled = False
    for run, ids in (("one", ("a", "b")), ("two", ("c",))):
        (tmp_path / run).mkdir()
        lines = [
            json.dumps({"id": i, "dialogue_id": i, "base_dialogue_hash": i * 64, "turns": []})
            for i in ids
        ]
        (tmp_path / run / "records.jsonl").write_text("\n".join(lines) + "\n")
        export_run(tmp_path / run, config)
    export_run(tmp_path / "two", config)
    saved = json.loads((shared / "all_dialogues.json").read_text())
    assert [d["dialogue_id"] for d in saved] == ["a", "b", "c"]
    assert json.loads((shared / "all_hashes.json").read_text()) == ["a" * 64, "b" * 64, "c" * 64]


async def test_report_dialogue_call_takes_the_reports_parameters(
    generator: DialogueGenerator, caplog: pytest.LogCaptureFixture
) -> None:
    """temperature, top_p and the penalties go to the model as given; a category foreign
    to the service is replaced by one of its own (and said)."""
    sent: list[Any] = []
    real_chat = generator.client.chat  # type: ignore[union-attr]

    async def recording(request: Any, handle: Any = None) -> Any:
        sent.append(handle)
        return await real_chat(request, handle)

    generator.client.chat = recording  # type: ignore[union-attr, method-assign]
    with caplog.at_level("INFO", logger="asyncgen.dialogue.generator"):
        await generator.generate_dynamic_scenario("no_such_category", ["hotel"], "Oslo", seed=1)
    assert "'no_such_category' is not one of hotel's" in caplog.text
    await generator.generate_dialogue(
        ["hotel"], "USER: A room?\nASSISTANT: Sure.", 4, 6,
        scenario="A late arrival in Oslo.", user_emotions=["Tired"],
        assistant_emotions=["Patient"], regions=["Oslo"],
        temperature=0.33, top_p=0.7, frequency_penalty=0.1, presence_penalty=0.2, max_retries=3,
    )  # fmt: skip
    last = sent[-1]
    assert (last.temperature, last.top_p, last.frequency_penalty, last.presence_penalty) == (
        0.33, 0.7, 0.1, 0.2,
    )  # fmt: skip


async def test_datasets_load_off_the_loop_once() -> None:
    """aload_dataset / aload_persona_dataset load in a thread and cache like the sync ones."""
    generator = DialogueGenerator(_config())
    bank = await generator.aload_persona_dataset()
    dataset = await generator.aload_dataset()
    assert bank is generator.load_persona_dataset() and len(bank.personas) > 100
    assert dataset is generator.load_dataset() and len(dataset.dialogues) == 50
