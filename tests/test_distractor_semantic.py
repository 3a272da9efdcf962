"""The semantic distractor: intent and slots, a weighted noise layer, a rewrite in voice."""

from __future__ import annotations

import random
from collections import Counter

from asyncgen.config import DistractorSettings
from asyncgen.interaction.distractor import LAYERS, SemanticDistractorModel, create_distractor_model
from asyncgen.interaction.distractor.layers import choose_layer, choose_strategies
from asyncgen.interaction.offline import LocalResponderClient
from asyncgen.interaction.personas import parse_profile

FEATURES = {"role": "teacher", "communication_style": "casual", "domain": "education"}
TEXT = "Write a quiz on the French Revolution for a complete beginner before Friday."


def test_layers_are_drawn_by_weight() -> None:
    """Layer choice follows layer_weights; a zero weight is never drawn."""
    rng = random.Random(0)
    weights = {"surface_noise": 0.5, "incomplete_information": 0.5, "semantic_ambiguity": 0.0}
    drawn = Counter(choose_layer(weights, rng) for _ in range(2000))
    assert drawn["semantic_ambiguity"] == 0
    assert 0.45 < drawn["surface_noise"] / 2000 < 0.55


def test_strategies_come_from_the_layer_and_the_config() -> None:
    """Strategies belong to the chosen layer, restricted to configured ones when any match."""
    rng = random.Random(0)
    for _ in range(50):
        assert set(choose_strategies("semantic_ambiguity", [], rng)) <= set(
            LAYERS["semantic_ambiguity"]
        )
        assert choose_strategies("incomplete_information", ["slot_omission"], rng) == [
            "slot_omission"
        ]


async def test_semantic_noise_extracts_intent_then_rewrites_in_voice() -> None:
    """Each version records layer, strategies, intent and slots; the prompt carries the persona."""
    settings = DistractorSettings(
        use_semantic=True,
        num_noisy_versions=2,
        layer_weights={
            "incomplete_information": 1.0,
            "surface_noise": 0.0,
            "semantic_ambiguity": 0.0,
        },
    )
    client = LocalResponderClient()
    model = SemanticDistractorModel(settings, client, seed=0)
    result = await model.noise(TEXT, FEATURES, persona_id="p1", rng=random.Random(3))
    assert client.kinds() == ["intent_extraction", "semantic_noise", "semantic_noise"]
    for version in result.versions:
        assert version.noise_type == "incomplete_information"
        assert set(version.applied_strategies) <= set(LAYERS["incomplete_information"])
        assert version.noisy_text and version.noisy_text != TEXT
        assert version.details["intent"] == "write_content"
        assert isinstance(version.details["slots"], dict)
    rewrite_prompt = client.calls[1][0].messages[0]["content"]
    assert parse_profile(rewrite_prompt) == FEATURES


async def test_malformed_rewrite_falls_back_to_surface_noise_on_record() -> None:
    """A rewrite that stays malformed falls back to rule-based noise, and says so."""
    client = LocalResponderClient(scripts={"semantic_noise": lambda r, n: "no json here"})
    model = SemanticDistractorModel(DistractorSettings(use_semantic=True), client, max_retries=1)
    result = await model.noise(TEXT, FEATURES, persona_id="p1", rng=random.Random(0))
    version = result.sent
    assert version.details["fallback"] == "rule_based"
    assert version.noise_type == "surface_noise" and version.edits
    assert client.kinds().count("semantic_noise") == 2


async def test_factory_builds_the_configured_kind() -> None:
    """create_distractor_model returns semantic or rule-based per config and argument."""
    config = {"distractor": {"use_semantic": False}}
    assert type(create_distractor_model(config)).__name__ == "DistractorModel"
    semantic = create_distractor_model(config, use_semantic=True, client=LocalResponderClient())
    assert isinstance(semantic, SemanticDistractorModel)
    noisy = await semantic.apply_noise(TEXT, FEATURES)
    assert noisy and noisy != TEXT
