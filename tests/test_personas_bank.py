"""The persona bank and persona sampling, files and personalised system prompts."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import orjson
import pytest
import yaml

from asyncgen.errors import ConfigError, DatasetError
from asyncgen.interaction.personas import (
    DEFAULT_BANK_PATH,
    differing_features,
    load_bank,
    load_personas,
    parse_profile,
    personalised_system_prompt,
    sample_personas,
)


def test_packaged_bank_has_twenty_dimensions_with_values() -> None:
    """The shipped bank has at least 20 categorical dimensions, each with several values."""
    bank = load_bank()
    assert len(bank.dimensions) >= 20
    for wanted in (
        "role",
        "seniority",
        "domain",
        "tone_preference",
        "query_length_preference",
        "followup_tendency",
        "patience",
        "expertise",
        "language_habits",
    ):
        assert wanted in bank.names
    assert all(len(d.values) >= 3 for d in bank.dimensions)


def test_sampling_keeps_the_share_and_the_distance() -> None:
    """Each persona fixes round(share × dims) features; any two differ in ≥ min features."""
    bank = load_bank()
    people = sample_personas(bank, 60, feature_share=0.6, min_differing=6, rng=random.Random(1))
    expected = round(0.6 * len(bank.dimensions))
    assert all(len(p.features) == expected for p in people)
    assert all(p.features["role"] and p.features["domain"] for p in people)  # `always` dimensions
    for a, b in itertools.combinations(people, 2):
        assert differing_features(a.features, b.features) >= 6
    assert [p.persona_id for p in people[:2]] == ["persona_001", "persona_002"]
    assert len({p.persona_id for p in people}) == 60


def test_sampling_is_deterministic_for_a_seed() -> None:
    """The same seed gives the same personas; another seed gives others."""
    bank = load_bank()
    one = sample_personas(bank, 10, feature_share=0.7, min_differing=3, rng=random.Random(5))
    two = sample_personas(bank, 10, feature_share=0.7, min_differing=3, rng=random.Random(5))
    other = sample_personas(bank, 10, feature_share=0.7, min_differing=3, rng=random.Random(6))
    assert one == two and one != other


def test_impossible_distance_is_a_config_error(tmp_path: Path) -> None:
    """Asking for more distinct personas than the bank allows names the setting to change."""
    small = tmp_path / "bank.yaml"
    small.write_text(yaml.safe_dump({"dimensions": {"a": {"values": ["x", "y"]}, "b": ["p", "q"]}}))
    with pytest.raises(ConfigError, match="min_differing_features"):
        sample_personas(
            load_bank(small), 10, feature_share=1.0, min_differing=2, rng=random.Random(0)
        )


def test_bad_bank_is_a_dataset_error(tmp_path: Path) -> None:
    """A bank without values is refused with the file and dimension named."""
    bad = tmp_path / "bank.yaml"
    bad.write_text("dimensions:\n  role: {values: []}\n")
    with pytest.raises(DatasetError, match="role"):
        load_bank(bad)


def test_personas_load_from_jsonl_and_yaml(tmp_path: Path) -> None:
    """Personas come from JSONL or YAML files with persona_id and features."""
    rows = [
        {"persona_id": "a", "features": {"role": "chef"}},
        {"persona_id": "b", "persona_features": {"role": "nurse"}},
    ]
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    as_yaml = tmp_path / "p.yaml"
    as_yaml.write_text(yaml.safe_dump({"personas": rows}))
    for path in (jsonl, as_yaml):
        people = load_personas(path)
        assert [p.persona_id for p in people] == ["a", "b"]
        assert people[1].features == {"role": "nurse"}


def test_broken_persona_file_names_the_line(tmp_path: Path) -> None:
    """A corrupt JSONL line is reported with file and line number."""
    path = tmp_path / "p.jsonl"
    path.write_text('{"persona_id": "a", "features": {}}\n{not json\n')
    with pytest.raises(DatasetError, match=r"p\.jsonl:2"):
        load_personas(path)


def test_system_prompt_is_personalised_and_machine_readable() -> None:
    """The per-persona system prompt describes the persona and carries its profile as JSON."""
    features = {"role": "nurse", "expertise": "novice", "preferred_format": "table"}
    prompt = personalised_system_prompt(features)
    assert "nurse" in prompt and "table" in prompt
    assert parse_profile(prompt) == features
    assert DEFAULT_BANK_PATH.is_file()
