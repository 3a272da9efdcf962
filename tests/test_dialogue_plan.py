"""The dialogue plan: exact mixes, least-used combinations, pure items, base dialogues once."""

from __future__ import annotations

import logging
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asyncgen.config import RunConfig, load_config
from asyncgen.contract import RunContext
from asyncgen.dialogue import DialoguePipeline, StratifiedMix
from asyncgen.dialogue.plan import DialoguePlan
from asyncgen.errors import DatasetError

SERVICE_WEIGHTS = {"single": 0.30, "double": 0.35, "triple": 0.25, "quadruple": 0.10}
STATUS_WEIGHTS = {"Resolved": 0.4, "Failed": 0.3, "Escalated": 0.3}


def _config(**overrides: Any) -> RunConfig:
    return load_config(overrides=overrides, environ={}, env_file=None)


def _share(counts: Counter[str], total: int) -> dict[str, float]:
    return {k: 100 * v / total for k, v in counts.items()}


def test_mix_on_5000_planned_items_is_exact() -> None:
    """5,000 planned dialogues hold 30/35/25/10 and 40/30/30 exactly, not the drifted mix."""
    pipeline = DialoguePipeline(_config(**{"dialogue.allow_base_reuse": True}))
    items = [pipeline.plan_item(i).payload for i in range(5000)]
    services = Counter(p.service_count for p in items)
    statuses = Counter(p.resolution_status for p in items)
    assert services == {"single": 1500, "double": 1750, "triple": 1250, "quadruple": 500}
    assert statuses == {"Resolved": 2000, "Failed": 1500, "Escalated": 1500}
    for payload in items[:200]:
        size = {"single": 1, "double": 2, "triple": 3, "quadruple": 4}[payload.service_count]
        assert len(payload.services) == size


def test_mix_stays_within_two_points_when_failed_items_are_replaced() -> None:
    """Replacing 15% failed items with the next plan indices keeps the mix within ±2 points."""
    pipeline = DialoguePipeline(_config(**{"dialogue.allow_base_reuse": True}))
    rng = random.Random(4)
    done: list[DialoguePlan] = []
    cursor = 0
    while len(done) < 5000:
        payload = pipeline.plan_item(cursor).payload
        cursor += 1
        if rng.random() >= 0.15:
            done.append(payload)
    services = _share(Counter(p.service_count for p in done), len(done))
    statuses = _share(Counter(p.resolution_status for p in done), len(done))
    for name, weight in SERVICE_WEIGHTS.items():
        assert abs(services[name] - 100 * weight) <= 2.0, services
    for name, weight in STATUS_WEIGHTS.items():
        assert abs(statuses[name] - 100 * weight) <= 2.0, statuses


def test_every_block_of_20_holds_the_quotas() -> None:
    """Each block of 20 items has exactly 6/7/5/2 service classes and 8/6/6 statuses."""
    services = StratifiedMix(SERVICE_WEIGHTS, 20, seed=11, salt="services")
    statuses = StratifiedMix(STATUS_WEIGHTS, 20, seed=11, salt="resolution")
    for block in range(0, 300, 7):
        assert services.block_counts(block) == {
            "single": 6,
            "double": 7,
            "triple": 5,
            "quadruple": 2,
        }
        assert statuses.block_counts(block) == {"Resolved": 8, "Failed": 6, "Escalated": 6}


def test_uneven_weights_never_drift_more_than_one_item_per_class() -> None:
    """With weights that do not divide a block, every prefix of blocks stays within ±1."""
    weights = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3, "d": 0.07}
    mix = StratifiedMix(weights, 20, seed=2, salt="x")
    total = sum(weights.values())
    counts: Counter[str] = Counter()
    for block in range(100):
        counts.update(mix.block_counts(block))
        items = 20 * (block + 1)
        for name, weight in weights.items():
            assert abs(counts[name] - items * weight / total) <= 1.0


def test_a_long_plan_keeps_a_few_block_layouts_and_one_flat_prefix() -> None:
    """100,000 items in index order: the mix caches a few block layouts (not one per
    block: 5,000 at n=100,000) and its prefix counts stay one flat array of ints, while
    ranks within a class still count every earlier item of it."""
    mix = StratifiedMix(SERVICE_WEIGHTS, 20, seed=11, salt="services")
    ranks: Counter[str] = Counter()
    for index in range(100_000):
        name, rank = mix.classify(index)
        assert rank == ranks[name]
        ranks[name] += 1
    assert len(mix._blocks) <= 64
    assert mix._prefix.itemsize == 8 and len(mix._prefix) == 4 * 5_001


def test_combinations_rotate_least_used_first() -> None:
    """Within each class, combination usage never differs by more than one."""
    config = _config(**{"dialogue.allow_base_reuse": True})
    pipeline = DialoguePipeline(config)
    usage: dict[str, Counter[tuple[str, ...]]] = {}
    for i in range(2000):
        payload = pipeline.plan_item(i).payload
        combo = tuple(sorted(payload.services))
        bucket = usage.setdefault(payload.service_count, Counter())
        bucket[combo] += 1
        assert max(bucket.values()) - min(bucket.values()) <= 1
    assert len(usage["double"]) == len(config.dialogue.combinations["double"])
    assert len(usage["single"]) == len(config.dialogue.core_services)


def test_plan_item_is_a_pure_function_of_config_seed_and_index() -> None:
    """Two pipelines, items asked in different orders, give identical payloads; seeds differ."""
    first = DialoguePipeline(_config(**{"dialogue.allow_base_reuse": True}))
    second = DialoguePipeline(_config(**{"dialogue.allow_base_reuse": True}))
    indices = list(range(0, 400, 3))
    forward = {i: first.plan_item(i).payload for i in indices}
    backward = {i: second.plan_item(i).payload for i in reversed(indices)}
    assert forward == backward
    other = DialoguePipeline(_config(**{"dialogue.allow_base_reuse": True, "engine.seed": 5}))
    assert other.plan_item(0).payload != forward[0]
    assert first.plan_item(7).record_id == second.plan_item(7).record_id


def test_item_fields_come_from_the_configured_space() -> None:
    """Region, category, slot/time, emotions and sampling values come from config lists."""
    config = _config(
        **{
            "dialogue.regions": ["Lima"],
            "dialogue.time_slots": {"Dawn": [5, 6]},
            "dialogue.min_turns": [4, 4],
            "dialogue.max_turns": [6, 6],
            "llm.sampling.temperature": [0.3],
        }
    )
    payload = DialoguePipeline(config).plan_item(3).payload
    assert payload.regions == ("Lima",)
    assert payload.time_slot == "Dawn" and payload.time.startswith("05:")
    gen = payload.generation_params
    assert (gen.min_turns, gen.max_turns, gen.temperature) == (4, 6, 0.3)
    primary = payload.services[0]
    allowed = config.dialogue.general_categories + config.dialogue.service_categories[primary]
    assert payload.scenario_category in allowed
    assert set(payload.user_emotions) <= set(config.dialogue.user_emotions)
    assert set(payload.assistant_emotions) <= set(config.dialogue.assistant_emotions)


def test_base_dialogues_are_a_permutation_used_once() -> None:
    """Items 0..49 use the 50 sample dialogues once each; item 50 has none left."""
    pipeline = DialoguePipeline(_config())
    hashes = [pipeline.plan_item(i).payload.base_dialogue_hash for i in range(50)]
    assert len(set(hashes)) == 50
    assert pipeline.plan_item(50).payload.base_index is None


def test_base_reuse_flag_reuses_each_dialogue_once_per_pass() -> None:
    """With dialogue.allow_base_reuse every dialogue is used exactly once per pass."""
    pipeline = DialoguePipeline(_config(**{"dialogue.allow_base_reuse": True}))
    counts = Counter(pipeline.plan_item(i).payload.base_dialogue_id for i in range(150))
    assert len(counts) == 50 and set(counts.values()) == {3}


async def test_run_larger_than_the_dataset_is_refused(tmp_path: Path) -> None:
    """--n beyond the unique base dialogues stops with a clear error naming the size."""
    config = _config(**{"engine.n": 51})
    pipeline = DialoguePipeline(config)
    ctx = RunContext(config, object(), tmp_path, logging.getLogger("t"))  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match="has 50 unique ones.*allow_base_reuse"):
        await pipeline.prepare(ctx)


def test_similarity_threshold_drives_the_dedup_gate() -> None:
    """The report's --similarity-threshold becomes the run's semantic dedup threshold."""
    config = _config(**{"engine.pipeline": "dialogue", "dialogue.similarity_threshold": 0.82})
    assert config.dedup.threshold == 0.82  # resolved when the config is built
    DialoguePipeline(config.freeze())  # the pipeline changes nothing in its config
    assert _config(**{"dialogue.similarity_threshold": 0.82}).dedup.threshold == 0.9


def test_base_order_gives_every_service_its_quota() -> None:
    """A hotel-heavy dataset still feeds rare services early: the report's service quotas."""
    from asyncgen.dialogue.mix import balanced_order

    groups = [("hotel",)] * 90 + [("bus",)] * 5 + [("taxi", "hotel")] * 5
    order = balanced_order(groups, seed=1, salt="base", block_size=32)
    assert sorted(order) == list(range(100))
    first_block = {groups[i][0] for i in order[:32]}
    assert sum(groups[i] == ("bus",) for i in order[:32]) == 5
    assert sum(groups[i] == ("taxi", "hotel") for i in order[:32]) == 5
    assert first_block == {"hotel", "bus", "taxi"}


def test_fingerprint_follows_dataset_content_not_its_path(tmp_path: Path) -> None:
    """A moved dataset resumes (same fingerprint); an edited one or other personas do not."""
    from asyncgen.dialogue.synthetic import write_multiwoz

    a = write_multiwoz(tmp_path / "a.jsonl", 20, seed=1)
    b = tmp_path / "moved" / "b.jsonl"
    b.parent.mkdir()
    b.write_bytes(a.read_bytes())
    c = write_multiwoz(tmp_path / "c.jsonl", 20, seed=2)

    def fingerprint(path: Path, **extra: Any) -> dict[str, Any]:
        return DialoguePipeline(
            _config(**{"dialogue.dataset_path": str(path), **extra})
        ).plan_fingerprint()

    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a)["dataset"] != fingerprint(c)["dataset"]
    personas = tmp_path / "p.jsonl"
    personas.write_text(
        '{"id": "x", "persona": "A pilot.", "cluster_label": 1, "summary_label": "[\\"Air\\"]"}\n'
    )
    assert (
        fingerprint(a)["personas"]
        != fingerprint(a, **{"dialogue.persona_path": str(personas)})["personas"]
    )
