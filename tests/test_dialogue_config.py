"""The dialogue scenario space in config: defaults match the report, YAML overrides, checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from asyncgen.config import DEFAULT_CONFIG_PATH, DialogueSettings, load_config
from asyncgen.config import dialogue as defaults
from asyncgen.errors import ConfigError


def test_default_yaml_lists_equal_the_packaged_defaults() -> None:
    """default.yaml spells out every report list, identical to the model's defaults."""
    section = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())["dialogue"]
    model = DialogueSettings()
    for key in ("regions", "general_categories", "core_services", "user_emotions",
                "assistant_emotions", "service_categories", "combinations"):  # fmt: skip
        assert section[key] == getattr(model, key), key
    assert {k: tuple(v) for k, v in section["time_slots"].items()} == model.time_slots
    assert section["service_weights"] == {"single": 0.3, "double": 0.35, "triple": 0.25,
                                          "quadruple": 0.1}  # fmt: skip
    assert section["resolution_statuses"] == {"Resolved": 0.4, "Failed": 0.3, "Escalated": 0.3}


def test_report_lists_are_complete() -> None:
    """20 + 20 emotions (Appendix B), 54 regions, 8 services each with its categories."""
    assert len(defaults.USER_EMOTIONS) == len(set(defaults.USER_EMOTIONS)) == 20
    assert len(defaults.ASSISTANT_EMOTIONS) == len(set(defaults.ASSISTANT_EMOTIONS)) == 20
    assert len(defaults.REGIONS) == 54 and "Kuala Lumpur" in defaults.REGIONS
    assert set(defaults.SERVICE_CATEGORIES) == set(defaults.CORE_SERVICES)
    assert len(defaults.SERVICE_CATEGORIES["flight"]) == 13
    assert len(defaults.GENERAL_CATEGORIES) == 9


def test_user_yaml_overrides_lists(tmp_path: Path) -> None:
    """A user YAML replaces a list and adds a service's categories without losing others."""
    user = tmp_path / "d.yaml"
    user.write_text(
        "dialogue:\n  regions: [Oslo, Lima]\n"
        "  service_categories:\n    taxi: [ride_booking]\n"
        "  service_weights: {single: 1.0, double: 0, triple: 0, quadruple: 0}\n"
    )
    config = load_config(user, environ={}, env_file=None)
    assert config.dialogue.regions == ["Oslo", "Lima"]
    assert config.dialogue.service_categories["taxi"] == ["ride_booking"]
    assert config.dialogue.service_categories["flight"] == defaults.SERVICE_CATEGORIES["flight"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("dialogue:\n  combinations: {double: [[hotel, spaceship]]}\n", "dialogue"),
        ("dialogue:\n  min_turns: [6, 2]\n", "dialogue"),
        ("dialogue:\n  service_weights: {single: 1, quintuple: 1}\n", "dialogue"),
        ("dialogue:\n  time_slots: {Dawn: [7, 5]}\n", "dialogue"),
        ("dialogue:\n  user_emotions: []\n", "dialogue"),
    ],
)
def test_bad_scenario_space_is_a_config_error(tmp_path: Path, text: str, key: str) -> None:
    """Impossible combinations, ranges, classes or slots are refused naming the section."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=key):
        load_config(bad, environ={}, env_file=None)


def test_the_reports_list_names_are_importable() -> None:
    """Code written against the report finds its lists under the report's names."""
    import asyncgen.dialogue as dialogue
    from asyncgen.config import dialogue as lists

    assert dialogue.PREDEFINED_REGIONS is lists.REGIONS
    assert dialogue.LOGICAL_COMBINATIONS is lists.COMBINATIONS
    assert dialogue.USER_EMOTION_LIST is lists.USER_EMOTIONS
    assert dialogue.ASSISTANT_EMOTION_LIST is lists.ASSISTANT_EMOTIONS
    assert dialogue.travel_time_slots is lists.TIME_SLOTS
    assert set(dialogue.RESOLUTION_STATUSES) == {"Resolved", "Failed", "Escalated"}
    assert sum(dialogue.SERVICE_WEIGHTS.values()) == pytest.approx(1.0)
    assert len(dialogue.CORE_SERVICES) == 8
