"""Structural checks on a finished interaction (what the records promise)."""

from __future__ import annotations

from typing import Any

from asyncgen.config import DistractorSettings, InteractionGenerationSettings, RunConfig
from asyncgen.interaction.distractor.edits import replay
from asyncgen.interaction.distractor.strategies import STRATEGIES
from asyncgen.interaction.records import Interaction, Message


def problems(interaction: Interaction, settings: InteractionGenerationSettings) -> list[str]:
    """Every broken promise of an interaction, empty when it is valid."""
    found: list[str] = []
    roles = [m.role for m in interaction.messages]
    expected = ["user", "assistant"] * (len(roles) // 2 + 1)
    if roles != expected[: len(roles)] or len(roles) % 2:
        found.append("messages do not alternate user/assistant starting with user")
    if interaction.num_turns != len(roles) // 2:
        found.append("num_turns does not match the messages")
    if not settings.min_turns <= interaction.num_turns <= settings.max_turns:
        found.append(
            f"{interaction.num_turns} turns outside [{settings.min_turns}, {settings.max_turns}]"
        )
    if any(not m.content.strip() for m in interaction.messages):
        found.append("a message is empty")
    models = {m.metadata.get("model") for m in interaction.messages if m.role == "assistant"}
    if len(models) > 1:
        found.append("assistant messages name more than one model")
    return found


def audit_record(record: dict[str, Any], config: RunConfig) -> list[str]:
    """Every way a stored interaction breaks the run's config (turns, roles, model, noise)."""
    try:
        interaction = Interaction.from_dict(record)
    except (KeyError, TypeError, ValueError) as exc:
        return [f"not an interaction record ({exc})"]
    found = problems(interaction, config.interaction_generation)
    found += _noise_problems(interaction, config.distractor)
    return found


def _noise_problems(interaction: Interaction, noise: DistractorSettings) -> list[str]:
    meta = interaction.metadata
    noised = [m for m in interaction.messages if m.metadata.get("was_noised")]
    if meta.get("distractor_applied") != bool(noised):
        return ["distractor_applied disagrees with the messages"]
    if not noise.enabled:
        return ["noise applied with the distractor disabled"] if noised else []
    expected_type = "semantic" if noise.use_semantic else "rule_based"
    found = []
    if meta.get("distractor_type") != expected_type:
        found.append(f"distractor_type {meta.get('distractor_type')!r} != {expected_type!r}")
    allowed = set(noise.strategies or STRATEGIES) if not noise.use_semantic else None
    for message in noised:
        found += _message_noise(message, noise, allowed)
    return found + _version_problems(meta.get("noisy_versions") or {}, noise)


def _version_problems(kept: dict[str, Any], noise: DistractorSettings) -> list[str]:
    """Each noised turn keeps `num_noisy_versions` versions; edit logs replay exactly."""
    groups = ([kept["initial_query"]] if "initial_query" in kept else []) + list(
        kept.get("followups", [])
    )
    found = []
    for group in groups:
        clean = group.get("clean_query", group.get("clean_text", ""))
        versions = group.get("noisy_versions", [])
        if len(versions) != noise.num_noisy_versions:
            found.append(
                f"{len(versions)} noisy versions kept, {noise.num_noisy_versions} configured"
            )
        for version in versions:
            edits = version.get("edits")
            if edits and replay(clean, edits) != version.get("noisy_text"):
                found.append("an edit log does not reproduce its noisy text")
    return found


def _message_noise(
    message: Message, noise: DistractorSettings, allowed: set[str] | None
) -> list[str]:
    meta = message.metadata
    turn = meta.get("turn")
    where = "initial_query" if meta.get("is_initial") else "followups"
    found = []
    if where not in noise.apply_to:
        found.append(f"turn {turn} noised but {where} is not in apply_to")
    if "clean_content" not in meta:
        found.append(f"turn {turn} noised without its clean text")
    layers = {k for k, w in noise.layer_weights.items() if w > 0} | {"surface_noise"}
    if meta.get("noise_type") not in layers:
        found.append(f"turn {turn} has noise type {meta.get('noise_type')!r}")
    strategies = set(meta.get("applied_strategies") or [])
    if allowed is not None and not strategies <= allowed:
        found.append(f"turn {turn} used unconfigured strategies {sorted(strategies - allowed)}")
    return found
