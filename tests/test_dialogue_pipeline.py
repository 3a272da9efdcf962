"""DialoguePipeline.run_item through the real transport and the simulator's ASGI app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from asyncgen.config import RunConfig, load_config
from asyncgen.config.sim import FaultRates, SimSettings
from asyncgen.contract import Failure, Record, Reject, RunContext
from asyncgen.dialogue import (
    DialoguePipeline,
    extract_dialogue,
    generate_base_conversation,
    process_generated_dialogue,
)
from asyncgen.dialogue.multiwoz import anonymize
from asyncgen.dialogue.parse import DialogueFormatError
from asyncgen.llm import Transport
from asyncgen.llm.retry import set_testing
from asyncgen.sim.app import SimApp

RECORD_FIELDS = {
    "dialogue_id", "services", "turns", "num_lines", "user_emotions", "assistant_emotions",
    "scenario_category", "generated_scenario", "time_slot", "regions", "resolution_status",
    "persona", "persona_id", "persona_cluster", "base_dialogue_id", "generation_params",
    "model", "created_at", "service_count",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    with set_testing():
        yield


def _config(**overrides: Any) -> RunConfig:
    base = {"engine.n": 20, "dialogue.retry_backoff": 0, "llm.provider": "simulator"}
    return load_config(overrides={**base, **overrides}, environ={}, env_file=None)


class Harness:
    """A pipeline, a transport over the in-process simulator, and a run context."""

    def __init__(self, config: RunConfig, sim: SimSettings, tmp: Path) -> None:
        self.app = SimApp(sim)
        self.transport = Transport.from_settings(
            config.llm,
            api_key=None,
            base_url="http://sim.test/v1",
            http_transport=httpx.ASGITransport(app=self.app),  # type: ignore[arg-type]
        )
        self.pipeline = DialoguePipeline(config)
        self.ctx = RunContext(config, self.transport, tmp, logging.getLogger("test"))

    async def run(self, index: int) -> Any:
        return await self.pipeline.run_item(self.pipeline.plan_item(index), self.ctx)


@pytest.fixture
async def harness_factory(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Harness] = []

    async def make(config: RunConfig | None = None, **sim: Any) -> Harness:
        harness = Harness(config or _config(), SimSettings(**sim), tmp_path)
        await harness.pipeline.prepare(harness.ctx)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        await harness.transport.aclose()


async def test_records_have_every_field_and_turns_in_range(harness_factory: Any) -> None:
    """Each record carries the agreed fields, parsed turns within range, emotions per turn."""
    harness = await harness_factory()
    for index in range(12):
        item = harness.pipeline.plan_item(index)
        outcome = await harness.pipeline.run_item(item, harness.ctx)
        assert isinstance(outcome, Record), outcome
        data = outcome.data
        assert RECORD_FIELDS <= data.keys()
        gen = data["generation_params"]
        assert gen["min_turns"] <= data["num_lines"] == len(data["turns"]) <= gen["max_turns"]
        assert data["services"] == list(item.payload.services)
        assert data["resolution_status"] == item.payload.resolution_status
        for turn in data["turns"]:
            assert turn["user_emotion"] in data["user_emotions"]
            assert turn["assistant_emotion"] in data["assistant_emotions"]
            assert turn["user_utterance"] and turn["intent"] and turn["assistant_response"]
        assert data["turns"][0]["user_emotion"] == data["user_emotions"][0]
        assert data["generated_scenario"]


async def test_sampled_parameters_and_kinds_reach_the_endpoint(harness_factory: Any) -> None:
    """Two calls per dialogue, with the planned temperature/top_p and both prompt kinds."""
    harness = await harness_factory()
    seen: list[dict[str, Any]] = []
    original = harness.transport.chat

    async def spy(request: Any, handle: Any = None) -> Any:
        seen.append({"kind": request.kind, "handle": handle, "messages": request.messages})
        return await original(request, handle)

    harness.transport.chat = spy  # type: ignore[method-assign]
    outcome = await harness.run(0)
    assert isinstance(outcome, Record)
    assert [s["kind"] for s in seen] == ["dialogue_scenario", "dialogue_generation"]
    gen = outcome.data["generation_params"]
    handle = seen[1]["handle"]
    assert (handle.temperature, handle.top_p) == (gen["temperature"], gen["top_p"])
    assert seen[0]["handle"] == handle  # one model locked for the whole dialogue
    prompt = seen[1]["messages"][1]["content"]
    base = harness.pipeline.planner.dataset[harness.pipeline.plan_item(0).payload.base_index]
    raw = generate_base_conversation(extract_dialogue(base))
    assert anonymize(raw) in prompt  # the base is masked before it reaches the model
    assert raw == anonymize(raw) or raw not in prompt


async def test_invalid_format_is_retried_then_rejected_with_raw(harness_factory: Any) -> None:
    """Always-malformed answers: max_retries + 1 attempts, then a Reject keeping the text."""
    harness = await harness_factory(_config(**{"dialogue.max_retries": 2}), malformed_rate=1.0)
    outcome = await harness.run(0)
    assert isinstance(outcome, Reject) and outcome.reason == "invalid_format"
    assert outcome.raw and "<User>" in outcome.raw
    with pytest.raises(DialogueFormatError):
        gen = outcome.data["plan"]["generation_params"]  # type: ignore[index]
        process_generated_dialogue(outcome.raw, gen["min_turns"], gen["max_turns"])
    assert harness.app.stats.snapshot()["requests"] == 1 + 3


async def test_some_malformed_answers_are_repaired_on_retry(harness_factory: Any) -> None:
    """At a 40% malformed rate nearly every dialogue still ends as a valid record."""
    harness = await harness_factory(malformed_rate=0.4)
    outcomes = [await harness.run(i) for i in range(20)]
    records = [o for o in outcomes if isinstance(o, Record)]
    assert len(records) >= 18
    assert any(r.data["attempts"] > 1 for r in records)


async def test_endpoint_failure_is_a_failure_not_an_exception(harness_factory: Any) -> None:
    """A server that always fails turns into a Failure naming the stage, never a raise."""
    config = _config(**{"llm.retry.max_retries": 0})
    harness = await harness_factory(config, faults=FaultRates(error_500=1.0))
    outcome = await harness.run(0)
    assert isinstance(outcome, Failure)
    assert outcome.reason == "scenario_llm_error"
    assert outcome.detail["error"] == "ServerError"


async def test_base_dialogue_used_by_a_restored_record_is_not_reused(
    harness_factory: Any,
) -> None:
    """After restore() learns a record's base hash, an item with that base is rejected."""
    harness = await harness_factory()
    payload = harness.pipeline.plan_item(3).payload
    harness.pipeline.restore({"base_dialogue_hash": payload.base_dialogue_hash})
    outcome = await harness.run(3)
    assert isinstance(outcome, Reject) and outcome.reason == "duplicate_base_dialogue"
    assert isinstance(await harness.run(4), Record)


async def test_exhausted_dataset_items_fail_with_the_dataset_size(harness_factory: Any) -> None:
    """A replacement item past the 50 sample dialogues fails, naming the dataset size."""
    harness = await harness_factory()
    outcome = await harness.run(50)
    assert isinstance(outcome, Failure) and outcome.reason == "base_dataset_exhausted"
    assert outcome.detail["dataset_size"] == 50


async def test_noise_keeps_clean_and_noisy_user_turns(harness_factory: Any) -> None:
    """With dialogue.apply_noise, noised user turns keep the clean text beside the noisy one."""
    config = _config(**{"dialogue.apply_noise": True, "distractor.noise_probability": 1.0})
    harness = await harness_factory(config)
    outcome = await harness.run(1)
    assert isinstance(outcome, Record)
    turns = outcome.data["turns"]
    assert outcome.data["distractor_applied"] is True
    assert all("noisy_user_utterance" in t for t in turns)
    assert any(t["noisy_user_utterance"] != t["user_utterance"] for t in turns)
    assert turns[0]["noise"][0]["noise_type"]


def test_index_entry_and_dedup_text_describe_the_dialogue() -> None:
    """index.json gets id/persona/turns/created_at/query_id; dedup sees the clean dialogue."""
    pipeline = DialoguePipeline(_config())
    turns = [
        {"turn_number": 1, "user_utterance": "Hi", "intent": "greet", "assistant_response": "Hey"}
    ]
    record = Record(
        id="x",
        data={"persona_id": "fp-1", "num_lines": 1, "created_at": "t", "base_dialogue_id": "b",
              "turns": turns},
    )  # fmt: skip
    entry = pipeline.index_entry(record)
    assert entry == {"id": "x", "persona": "fp-1", "turns": 1, "created_at": "t", "query_id": "b"}
    assert pipeline.dedup_text(record) == "User: Hi\nAssistant: Hey"


async def test_base_reuse_flag_lets_a_second_pass_through(harness_factory: Any) -> None:
    """With dialogue.allow_base_reuse, items past the dataset reuse bases as records."""
    config = _config(**{"dialogue.allow_base_reuse": True, "engine.n": 60})
    harness = await harness_factory(config)
    first = await harness.run(5)
    assert isinstance(first, Record)
    same_base = next(
        i for i in range(50, 100)
        if harness.pipeline.plan_item(i).payload.base_dialogue_hash
        == first.data["base_dialogue_hash"]
    )  # fmt: skip
    again = await harness.run(same_base)
    assert isinstance(again, Record)
    assert again.data["base_dialogue_hash"] == first.data["base_dialogue_hash"]


async def test_noise_respects_the_distractor_targets(harness_factory: Any) -> None:
    """distractor.apply_to [followups] leaves the first user turn clean."""
    config = _config(
        **{
            "dialogue.apply_noise": True,
            "distractor.noise_probability": 1.0,
            "distractor.apply_to": ["followups"],
        }
    )
    harness = await harness_factory(config)
    outcome = await harness.run(2)
    assert isinstance(outcome, Record)
    first, *rest = outcome.data["turns"]
    assert "noisy_user_utterance" not in first
    assert all("noisy_user_utterance" in t for t in rest)
