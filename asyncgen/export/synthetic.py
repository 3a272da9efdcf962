"""Synthetic run directories in the documented record shapes, for tests and benchmarks.

Not generated text: deterministic filler shaped exactly like the interaction and dialogue
pipelines' records (see docs/architecture.md), so export can be measured on 100,000
records without a model.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

from asyncgen.store.rundir import RunLayout

ROLES = ("engineer", "student", "teacher", "nurse", "lawyer", "designer", "analyst")


def _messages(
    i: int, rng: random.Random, turns: int, noisy_first: str | None
) -> list[dict[str, Any]]:
    """User/assistant messages; the first user turn sent noisy when `noisy_first` is given."""
    messages: list[dict[str, Any]] = []
    for t in range(turns):
        user = f"can you help me with task {i} please" if t == 0 else f"follow-up {t} on task {i}"
        meta: dict[str, Any] = {"is_initial": t == 0, "was_noised": False}
        if noisy_first is not None and t == 0:
            meta.update(was_noised=True, clean_content=user)
            user = noisy_first
        stamp = "2026-02-06T10:30:00"
        messages.append({"role": "user", "content": user, "timestamp": stamp, "metadata": meta})
        answer = f"Answer {t} for task {i}: " + "details " * rng.randint(5, 40)
        model = {"model": "sim-model", "provider": "simulator", "turn": t + 1}
        messages.append(
            {"role": "assistant", "content": answer, "timestamp": stamp, "metadata": model}
        )
    return messages


def interaction_record(
    i: int, rng: random.Random, personas: int, noise_rate: float
) -> dict[str, Any]:
    """Interaction `i` (`Interaction.to_dict()` plus the engine's `id`)."""
    pid = f"persona_{rng.randrange(personas):05d}"
    turns = rng.randint(2, 5)
    noised = rng.random() < noise_rate
    clean_first = f"can you help me with task {i} please"
    noisy_first = f"cn you help me wth task {i} pls"
    messages = _messages(i, rng, turns, noisy_first if noised else None)
    versions = [
        {
            "noisy_text": noisy_first,
            "noise_type": "surface_noise",
            "applied_strategies": ["typo_misspelling"],
        }
    ]
    return {
        "id": f"0-{i:07d}",
        "interaction_id": f"interaction_{pid}_{i:07d}",
        "persona_id": pid,
        "persona_features": {"role": ROLES[int(pid[-5:]) % len(ROLES)], "style": "casual"},
        "original_query": f"Help me with task {i}",
        "initial_query": clean_first,
        "messages": messages,
        "num_turns": turns,
        "metadata": {
            "created_at": "2026-02-06T10:30:00",
            "distractor_applied": noised,
            "distractor_type": "rule_based" if noised else None,
            "noisy_versions": (
                {"initial_query": {"clean_query": clean_first, "noisy_versions": versions}}
                if noised
                else {}
            ),
            "assistant_model": {"model": "sim-model", "provider": "simulator"},
            "query_id": f"query_{i:07d}",
        },
        "simulated": True,
    }  # fmt: skip


def dialogue_record(i: int, rng: random.Random, personas: int, bases: int | None) -> dict[str, Any]:
    """Dialogue `i` in the dialogue pipeline's record shape (`bases`: shared pool, or unique)."""
    pid = rng.randrange(personas)
    turns = []
    for t in range(rng.randint(3, 8)):
        turn = {
            "turn_number": t + 1,
            "user_utterance": f"I need a hotel for night {t} of trip {i}",
            "intent": "find_hotel",
            "assistant_response": f"Here are hotels for night {t}.",
            "user_emotion": "neutral",
            "assistant_emotion": "helpful",
        }
        if t == 0 and i % 4 == 0:
            noisy = f"i ned a hotle for nite {t} of trip {i}"
            turn["noisy_user_utterance"] = noisy
            turn["noise"] = [
                {"noisy_text": noisy, "noise_type": "surface_noise", "applied_strategies": ["typo"]}
            ]
        turns.append(turn)
    return {
        "id": f"0-{i:07d}",
        "dialogue_id": f"dlg_{i:07d}",
        "services": ["hotel"],
        "turns": turns,
        "num_lines": len(turns) * 2,
        "user_emotions": ["neutral"],
        "assistant_emotions": ["helpful"],
        "scenario_category": "booking",
        "generated_scenario": "A traveller books a hotel.",
        "time_slot": "morning",
        "regions": ["Paris"],
        "resolution_status": "Resolved",
        "persona": {"id": f"fp_{pid}", "persona": f"A traveller {pid}", "cluster_label": pid % 15},
        "persona_id": f"fp_{pid}",
        "persona_cluster": pid % 15,
        "base_dialogue_id": f"MUL{rng.randrange(bases) if bases else i:05d}.json",
        "generation_params": {
            "temperature": 0.8, "top_p": 0.9, "frequency_penalty": 0.0,
            "presence_penalty": 0.0, "min_turns": 3, "max_turns": 8,
        },
        "model": "sim-model",
        "created_at": "2026-02-06T10:30:00",
        "service_count": "single",
        "distractor_applied": i % 4 == 0,
        "simulated": True,
    }  # fmt: skip


def write_synthetic_run(
    run_dir: Path,
    n: int,
    *,
    kind: str = "interaction",
    personas: int = 50,
    bases: int | None = None,
    noise_rate: float = 0.3,
    seed: int = 0,
) -> Path:
    """Write `n` records to `run_dir/records.jsonl`, streaming; returns the file.

    Dialogues use each base dialogue once (as the pipeline does) unless `bases` gives a
    smaller shared pool, which ties personas together through their base dialogues.
    """
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = RunLayout.in_dir(run_dir).records
    with path.open("wb") as handle:
        for i in range(n):
            if kind == "interaction":
                record = interaction_record(i, rng, personas, noise_rate)
            else:
                record = dialogue_record(i, rng, personas, bases)
            handle.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
    return path
