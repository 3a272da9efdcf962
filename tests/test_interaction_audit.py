"""audit_record catches every broken promise of a stored interaction."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from asyncgen.config import RunConfig
from asyncgen.interaction import InteractionGenerator, create_distractor_model
from asyncgen.interaction.offline import LocalResponderClient
from asyncgen.interaction.validate import audit_record

SETTINGS: dict[str, Any] = {
    "interaction_generation": {"min_turns": 3, "max_turns": 3, "retry_delay": 0,
                               "user_model": {"feedback_probability": 1.0}},
    "distractor": {"noise_probability": 1.0, "apply_to": ["initial_query", "followups"]},
}  # fmt: skip


async def _record() -> dict[str, Any]:
    client = LocalResponderClient(
        scripts={"user_feedback": lambda r, n: '{"satisfied": false, "feedback": "Please go on."}'}
    )
    generator = InteractionGenerator(SETTINGS, create_distractor_model(SETTINGS), client=client)
    interaction = await generator.generate_interaction(
        "p", {"role": "chef"}, "Please plan a seasonal menu with local produce."
    )
    assert interaction is not None
    return interaction.to_dict()


async def test_a_generated_record_passes() -> None:
    """A record straight from the generator has no problems under its own config."""
    assert audit_record(await _record(), RunConfig.model_validate(SETTINGS)) == []


def _swap_roles(r: dict[str, Any]) -> None:
    r["messages"][0]["role"], r["messages"][1]["role"] = "assistant", "user"


def _second_model(r: dict[str, Any]) -> None:
    r["messages"][3]["metadata"]["model"] = "other-model"


def _too_many_turns(r: dict[str, Any]) -> None:
    r["messages"] += copy.deepcopy(r["messages"][:2])
    r["num_turns"] = 4


def _tampered_edit(r: dict[str, Any]) -> None:
    version = r["metadata"]["noisy_versions"]["initial_query"]["noisy_versions"][0]
    version["noisy_text"] += "!"


def _flag_mismatch(r: dict[str, Any]) -> None:
    r["metadata"]["distractor_applied"] = False


@pytest.mark.parametrize(
    ("tamper", "config_change", "expected"),
    [
        (_swap_roles, {}, "alternate"),
        (_second_model, {}, "more than one model"),
        (_too_many_turns, {}, "outside"),
        (_tampered_edit, {}, "edit log"),
        (_flag_mismatch, {}, "distractor_applied"),
        (None, {"apply_to": ["initial_query"]}, "followups is not in apply_to"),
        (None, {"enabled": False}, "distractor disabled"),
        (None, {"use_semantic": True}, "distractor_type"),
        (None, {"num_noisy_versions": 2}, "noisy versions kept"),
        (None, {"strategies": ["omission"]}, "unconfigured strategies"),
    ],
)
async def test_broken_records_are_reported(
    tamper: Any, config_change: dict[str, Any], expected: str
) -> None:
    """Tampered records, or records judged against another config, are flagged."""
    record = await _record()
    if tamper is not None:
        tamper(record)
    settings = copy.deepcopy(SETTINGS)
    settings["distractor"].update(config_change)
    found = audit_record(record, RunConfig.model_validate(settings))
    assert any(expected in problem for problem in found), found
