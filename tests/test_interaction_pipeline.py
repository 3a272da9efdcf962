"""The interaction pipeline on the run engine and the built-in simulator (real sockets)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from asyncgen.config import RunConfig, load_config
from asyncgen.contract import Record, RunContext
from asyncgen.engine import RunOptions, run_generation
from asyncgen.interaction import InteractionPipeline, InteractionStorage
from asyncgen.interaction.offline import LocalResponderClient
from asyncgen.llm import Transport
from asyncgen.sim.embedded import RunningSimulator, start_simulator


def _config(base_url: str, **overrides: Any) -> RunConfig:
    values = {
        "llm.base_url": base_url,
        "interaction_generation.retry_delay": 0,
        "dedup.enabled": False,
        "personas.num_personas": 12,
        "personas.queries_per_persona": 3,
    } | overrides
    return load_config(overrides=values, environ={}, env_file=None)


async def _run(config: RunConfig, sim: RunningSimulator, run_dir: Path) -> Any:
    async with Transport.from_settings(config.llm, api_key=None, base_url=sim.base_url) as client:
        return await run_generation(
            config,
            InteractionPipeline(config),
            run_dir=run_dir,
            client=client,
            options=RunOptions(quiet=True, is_simulated=True),
        )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """A simulator child process for one test."""
    async with start_simulator() as running:
        yield running


def _ctx(config: RunConfig, run_dir: Path, client: Any) -> RunContext:
    return RunContext(config, client, run_dir, logging.getLogger("test"))


async def test_run_yields_valid_interactions_matching_the_config(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """n records: turns in range, user/assistant alternation, one model, noise as configured."""
    config = _config(
        sim.base_url,
        **{
            "engine.n": 80,
            "interaction_generation.min_turns": 2,
            "interaction_generation.max_turns": 4,
            "distractor.noise_probability": 0.5,
            "distractor.apply_to": ["initial_query"],
            "distractor.num_noisy_versions": 2,
        },
    )
    summary = await _run(config, sim, tmp_path / "run")
    assert summary.done == 80 and summary.failed == 0
    records = _lines(tmp_path / "run" / "records.jsonl")
    assert len(records) == 80 and len({r["id"] for r in records}) == 80
    pipeline = InteractionPipeline(config)
    await pipeline.prepare(_ctx(config, tmp_path / "run", LocalResponderClient()))
    noised = 0
    for record in records:
        roles = [m["role"] for m in record["messages"]]
        assert roles == ["user", "assistant"] * record["num_turns"]
        assert 2 <= record["num_turns"] <= 4
        models = {m["metadata"]["model"] for m in record["messages"] if m["role"] == "assistant"}
        assert models == {record["metadata"]["assistant_model"]["model"]}
        planned = pipeline.plan_item(int(record["id"].split("-")[1])).payload
        assert record["metadata"]["query_id"] == planned.query_id
        assert record["metadata"]["target_turns"] == planned.target_turns
        first = record["messages"][0]["metadata"]
        assert first["was_noised"] is (1 in planned.noise_turns)
        assert not any(m["metadata"].get("was_noised") for m in record["messages"][1:])
        if first["was_noised"]:
            noised += 1
            versions = record["metadata"]["noisy_versions"]["initial_query"]["noisy_versions"]
            assert len(versions) == 2 and versions[0]["noise_type"] == "surface_noise"
        assert record["metadata"]["distractor_applied"] is first["was_noised"]
    assert 20 <= noised <= 60
    index = json.loads((tmp_path / "run" / "index.json").read_text())
    entry = index["interactions"][0]
    assert {"id", "persona_id", "num_turns", "created_at", "query_id"} <= entry.keys()
    assert entry["filepath"] == "records.jsonl"  # the spec's field, relative to the run
    storage = InteractionStorage(tmp_path / "run")  # the spec's API on the engine's run dir
    assert len(await storage.aload_all()) == 80
    assert (await storage.aload(records[5]["interaction_id"]))["id"] == records[5]["id"]


async def test_rerun_resumes_stages_and_records(sim: RunningSimulator, tmp_path: Path) -> None:
    """Rerunning into the same directory keeps personas and records, adding only what is new."""
    run = tmp_path / "run"
    first = await _run(_config(sim.base_url, **{"engine.n": 12}), sim, run)
    personas = (run / "personas.jsonl").read_text()
    again = await _run(_config(sim.base_url, **{"engine.n": 12}), sim, run)
    assert first.done == 12 and again.session_done == 0
    more = await _run(_config(sim.base_url, **{"engine.n": 20}), sim, run)
    records = _lines(run / "records.jsonl")
    assert more.session_done == 8 and len({r["id"] for r in records}) == 20
    assert (run / "personas.jsonl").read_text() == personas


async def test_plan_items_are_pure_and_spread_over_queries(tmp_path: Path) -> None:
    """Two pipelines over the same stages plan identical items; each query once per cycle."""
    config = _config("http://unused", **{"engine.n": 40})
    one, two = InteractionPipeline(config), InteractionPipeline(config)
    client = LocalResponderClient()
    await one.prepare(_ctx(config, tmp_path, client))
    calls = len(client.calls)
    await two.prepare(_ctx(config, tmp_path, client))
    assert len(client.calls) == calls  # stages reused from personas.jsonl / queries.jsonl
    items = [one.plan_item(i) for i in range(len(one.queries) * 2)]
    assert items == [two.plan_item(i) for i in range(len(two.queries) * 2)]
    first_cycle = [item.payload.query_id for item in items[: len(one.queries)]]
    assert sorted(first_cycle) == sorted(q.query_id for q in one.queries)
    assert len(one.queries) >= 48  # 40 items plus a spare share for replacements
    personas = {q.persona_id for q in one.queries}
    share = Counter(item.payload.persona_id for item in items[: 3 * len(personas)])
    assert set(share) == personas and set(share.values()) == {3}  # 3 queries per persona
    spread = Counter(item.payload.persona_id for item in items[:40]).values()
    assert max(spread) - min(spread) <= 1  # the spares, too, go round the personas
    other = InteractionPipeline(
        config.model_copy(update={"engine": config.engine.model_copy(update={"seed": 1})})
    )
    await other.prepare(_ctx(config, tmp_path, client))
    assert [other.plan_item(i).payload for i in range(10)] != [i.payload for i in items[:10]]


async def test_query_stage_resumes_after_a_torn_line(tmp_path: Path) -> None:
    """A torn last line in queries.jsonl is cut; only the short persona gets new queries."""
    config = _config("http://unused", **{"engine.n": 36, "personas.spare_query_share": 0.0})
    client = LocalResponderClient()
    await InteractionPipeline(config).prepare(_ctx(config, tmp_path, client))
    path = tmp_path / "queries.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    victim = json.loads(lines[-1])["persona_id"]
    path.write_text("".join(lines[:-1]) + lines[-1][:20])
    client.calls.clear()
    pipeline = InteractionPipeline(config)
    await pipeline.prepare(_ctx(config, tmp_path, client))
    written = [
        json.loads(c.messages[0]["content"].split("Query request (JSON): ")[1].splitlines()[0])
        for c, _ in client.calls
        if c.kind == "query_generation"
    ]
    assert [w["persona_id"] for w in written] == [victim]
    assert len(pipeline.queries) == 36
    assert all(json.loads(line) for line in path.read_text().splitlines())


async def test_files_replace_sampling_and_generation(tmp_path: Path) -> None:
    """Personas and queries can come from files; unadapted queries get style transfer."""
    personas = tmp_path / "personas.yaml"
    personas.write_text(
        "- persona_id: alice\n  features: {role: chef, communication_style: casual}\n"
        "- persona_id: bob\n  features: {role: lawyer, communication_style: formal}\n"
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"persona_id": "alice", "query": "Plan a seasonal menu with local produce."}\n'
        '{"persona_id": "bob", "original_query": "Summarise a lease.", '
        '"adapted_query": "pls summarise"}\n'
    )
    config = _config(
        "http://unused",
        **{
            "engine.n": 2,
            "personas.personas_file": str(personas),
            "personas.queries_file": str(queries),
        },
    )
    pipeline = InteractionPipeline(config)
    client = LocalResponderClient()
    await pipeline.prepare(_ctx(config, tmp_path / "run", client))
    assert [p.persona_id for p in pipeline.personas] == ["alice", "bob"]
    assert "chef" in (pipeline.personas[0].system_prompt or "")
    by_owner = {q.persona_id: q for q in pipeline.queries}
    assert by_owner["alice"].original_query == "Plan a seasonal menu with local produce."
    assert by_owner["alice"].adapted_query and by_owner["alice"].style_transfer == "ok"
    assert by_owner["bob"].adapted_query == "pls summarise"
    assert client.kinds() == ["style_transfer"]


async def test_malformed_user_json_becomes_failures_with_raw_text(tmp_path: Path) -> None:
    """A user model that never answers JSON fails items with the raw text; the run completes."""
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"query": "Explain a slow SQL query.", "adapted_query": "why is my sql slow"}\n'
    )
    async with start_simulator(malformed_rate=1.0) as sim:
        config = _config(
            sim.base_url,
            **{
                "engine.n": 3,
                "interaction_generation.max_supplement_rounds": 0,
                "interaction_generation.max_retries": 1,
                "personas.num_personas": 2,
                "personas.queries_file": str(queries),
                "distractor.enabled": False,
            },
        )
        summary = await _run(config, sim, tmp_path / "run")
    assert summary.done == 0 and summary.failed == 3
    assert not (tmp_path / "run" / "training_data").exists()  # no export of a short run
    failures = _lines(tmp_path / "run" / "failures.jsonl")
    assert {f["reason"] for f in failures} == {"malformed_user_feedback"}
    assert all(f["raw"] and f["attempts"] == 2 for f in failures)


async def test_some_malformed_answers_are_retried_to_a_full_run(tmp_path: Path) -> None:
    """At a 30% malformed rate, re-asks and retries still deliver every record."""
    async with start_simulator(malformed_rate=0.3) as sim:
        config = _config(sim.base_url, **{"engine.n": 30})
        summary = await _run(config, sim, tmp_path / "run")
    assert summary.done == 30


def test_dedup_text_follows_the_embed_setting() -> None:
    """dedup_text embeds the dialogue, the user turns, or the first k turns."""
    record = Record(
        "r",
        {
            "messages": [
                {"role": "user", "content": "u1"},
                {"role": "assistant", "content": "a1"},
                {"role": "user", "content": "u2"},
                {"role": "assistant", "content": "a2"},
            ]
        },
    )
    texts = {}
    for embed in ("dialogue", "user_turns", "first_k_turns"):
        cfg = load_config(
            overrides={"dedup.embed": embed, "dedup.first_k": 1}, environ={}, env_file=None
        )
        texts[embed] = InteractionPipeline(cfg).dedup_text(record)
    assert texts["dialogue"] == "User: u1\nAssistant: a1\nUser: u2\nAssistant: a2"
    assert texts["user_turns"] == "User: u1\nUser: u2"
    assert texts["first_k_turns"] == "User: u1\nAssistant: a1"


async def test_query_writer_asks_in_batches_and_stops_on_repeats() -> None:
    """45 queries come in calls of at most 20; a model that only repeats itself is given up on."""
    from asyncgen.interaction.personas import Persona
    from asyncgen.interaction.queries import QueryWriter
    from asyncgen.llm.types import ModelHandle

    persona = Persona("p", {"domain": "software"})
    client = LocalResponderClient()
    queries = await QueryWriter(client, ModelHandle("openai", "m")).write(persona, 45)
    assert len(queries) == len({q.lower() for q in queries}) == 45
    sizes = [
        json.loads(c.messages[0]["content"].split("Query request (JSON): ")[1].splitlines()[0])[
            "num_queries"
        ]
        for c, _ in client.calls
    ]
    assert sizes == [20, 20, 5]
    stuck = LocalResponderClient(scripts={"query_generation": lambda r, n: '{"queries": ["same"]}'})
    few = await QueryWriter(stuck, ModelHandle("openai", "m"), max_retries=2).write(persona, 5)
    assert few == ["same"] and len(stuck.calls) == 4
    # the guide's spelling of the same call, from a persona's features
    writer = QueryWriter(LocalResponderClient(), ModelHandle("openai", "m"))
    more = await writer.generate_queries_for_persona({"domain": "software"}, num_queries=3)
    assert len(more) == len({q.lower() for q in more}) == 3


async def test_a_bad_user_prompt_fails_prepare_with_a_clear_error(tmp_path: Path) -> None:
    """A custom user-model prompt with an unknown field stops the run before any item."""
    from asyncgen.errors import PromptError

    prompt = tmp_path / "my_user.txt"
    prompt.write_text("---\nkind: user_feedback\n---\nYou are {persona_name}. {transcript}\n")
    config = _config(
        "http://unused",
        **{"engine.n": 2, "interaction_generation.user_model.system_prompt_template": str(prompt)},
    )
    with pytest.raises(PromptError, match="persona_name"):
        await InteractionPipeline(config).prepare(_ctx(config, tmp_path, LocalResponderClient()))


async def test_a_whole_interaction_run_never_blocks_the_loop(
    tmp_path: Path, no_blocking: Any
) -> None:
    """Personas, queries, style transfer, conversations with noise, index, summary and the
    training export, all under blockbuster: the pipeline's file work stays off the loop."""
    overrides = {
        "engine.n": 12,
        "engine.fsync_interval": 0.0,
        "dedup.enabled": False,
        "personas.num_personas": 3,
    }
    config = load_config(None, overrides, environ={}, env_file=None)
    summary = await run_generation(
        config,
        InteractionPipeline(config),
        run_dir=tmp_path / "run",
        client=LocalResponderClient(),
        options=RunOptions(quiet=True, progress="off"),
    )
    assert summary.status == "complete" and summary.done == 12
    assert await anyio.Path(tmp_path / "run" / "training_data").is_dir()
