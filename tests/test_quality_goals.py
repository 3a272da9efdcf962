"""Goal-grounded service dialogues: MultiWOZ goals, per-turn state, checks, DST export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from asyncgen import offload
from asyncgen.config import load_config
from asyncgen.dialogue import DialoguePipeline
from asyncgen.dialogue.grounding import check_grounding, value_in
from asyncgen.dialogue.multiwoz import dialogue_goal, dialogue_states, load_multiwoz, parse_row
from asyncgen.dialogue.parse import DialogueFormatError, process_generated_dialogue
from asyncgen.engine import RunOptions, run_generation
from asyncgen.export.options import ExportOptions
from asyncgen.export.run import export_run
from asyncgen.llm import Transport
from asyncgen.sim.embedded import start_simulator
from asyncgen.sim.responders.contradiction import MARKER

ORIGINAL_LAYOUT = {  # MultiWOZ 2.2's own JSON: a list of turns, one frame per service
    "dialogue_id": "PMUL0001.json",
    "services": ["restaurant"],
    "turns": [
        {
            "turn_id": "0",
            "speaker": "USER",
            "utterance": "A cheap place in the north, please.",
            "frames": [
                {
                    "service": "restaurant",
                    "state": {
                        "active_intent": "find_restaurant",
                        "requested_slots": [],
                        "slot_values": {
                            "restaurant-area": ["north"],
                            "restaurant-pricerange": ["cheap"],
                        },
                    },
                    "slots": [],
                }
            ],
        },
        {"turn_id": "1", "speaker": "SYSTEM", "utterance": "How many people?", "frames": []},
        {
            "turn_id": "2",
            "speaker": "USER",
            "utterance": "Two.",
            "frames": [
                {
                    "service": "restaurant",
                    "state": {
                        "slot_values": {
                            "restaurant-area": ["north"],
                            "restaurant-pricerange": ["cheap"],
                            "restaurant-bookpeople": ["2"],
                        }
                    },
                }
            ],
        },
    ],
}


def test_goals_from_both_multiwoz_layouts() -> None:
    """The packaged sample (Hugging Face `multi_woz_v22` columns) and the original JSON."""
    sample = load_multiwoz()
    grounded = [d for d in sample.dialogues if dialogue_goal(d)]
    assert len(grounded) >= 35
    first = dialogue_states(sample[0])
    assert first[0]["restaurant"]["area"] == "centre"
    original = parse_row(("<test>", 1, ORIGINAL_LAYOUT))
    assert dialogue_goal(original) == {
        "restaurant": {"area": "north", "pricerange": "cheap", "bookpeople": "2"}
    }
    assert len(dialogue_states(original)) == 2


def _dialogue(*turns: tuple[str, dict[str, Any]]) -> str:
    return "\n".join(
        f"<User>{u}</User><Intent>inform</Intent><State>{json.dumps(s)}</State>"
        f"<Assistant>Noted.</Assistant>"
        for u, s in turns
    )


GOAL = {"hotel": {"area": "east", "stars": "4"}}


@pytest.mark.parametrize(
    ("turns", "problem"),
    [
        ((("A hotel in the east.", {"hotel": {"area": "east"}}),), "never expressed"),
        (
            (("A hotel with 4 stars.", {"hotel": {"area": "east", "stars": "4"}}),),
            "not in the user",
        ),
        (
            (
                ("In the east with 4 stars.", {"hotel": {"area": "east", "stars": "4"}}),
                ("Thanks.", {"hotel": {"area": "east", "stars": "4"}}),
                ("And parking?", {"hotel": {"area": "east", "stars": "4"}}),
            ),
            "met at turn 1",
        ),
    ],
)
def test_grounding_rules_name_what_is_wrong(
    turns: tuple[tuple[str, dict[str, Any]], ...], problem: str
) -> None:
    text = _dialogue(*turns)
    with pytest.raises(DialogueFormatError, match=problem):
        check_grounding(process_generated_dialogue(text, 1, 9), GOAL, text)


def test_a_grounded_dialogue_passes_and_values_match_whole_words() -> None:
    text = _dialogue(
        ("Somewhere in the east.", {"hotel": {"area": "east"}}),
        ("4 stars please.", {"hotel": {"area": "east", "stars": "4"}}),
        ("Thanks!", {"hotel": {"area": "east", "stars": "4"}}),
    )
    check_grounding(process_generated_dialogue(text, 1, 9), GOAL, text)
    assert value_in("4", "4 stars") and not value_in("4", "14:00") and not value_in("east", "least")


async def test_grounded_run_states_in_the_text_and_a_dst_export_that_loads(
    tmp_path: Path,
) -> None:
    """On the simulator: every annotated value is in its turn's text; the goal is met and
    the dialogue ends with it; the judge scores goal completion; `dst` loads with datasets."""
    datasets = pytest.importorskip("datasets")
    n = 20
    config = load_config(
        overrides={
            "engine.n": n,
            "engine.pipeline": "dialogue",
            "dialogue.retry_backoff": 0.0,
            "dialogue.grounding": "goals",
            "quality.judge.enabled": True,
            "dedup.enabled": False,
        },
        environ={},
        env_file=None,
    )
    run_dir = tmp_path / "run"
    async with start_simulator() as sim:
        async with Transport.from_settings(config.llm, api_key=None, base_url=sim.base_url) as c:
            summary = await run_generation(
                config,
                DialoguePipeline(config),
                run_dir=run_dir,
                client=c,
                options=RunOptions(quiet=True, is_simulated=True),
            )
    assert summary.done == n
    records = [json.loads(x) for x in (run_dir / "records.jsonl").read_text().splitlines()]
    for record in records:
        goal, turns = record["goal"], record["turns"]
        assert record["grounding"] == "goals" and record["services"] == list(goal)
        before: dict[str, dict[str, str]] = {}
        for turn in turns:
            for service, slots in turn["state"].items():
                for slot, value in slots.items():
                    if before.get(service, {}).get(slot) != value:
                        assert value_in(value, turn["user_utterance"]), (value, turn)
            before = turn["state"]
        assert all(before[s][k] == v for s, slots in goal.items() for k, v in slots.items())
        assert len(turns) <= record["goal_met_turn"] + 1
        assert record["quality"]["scores"]["goal_completion"] >= 4
    rejected = [json.loads(x) for x in (run_dir / "rejected.jsonl").read_text().splitlines()]
    assert {r["reason"] for r in rejected} <= {"base_without_goal"}

    options = ExportOptions(out_dir=tmp_path / "out", formats=("dst",))
    result = await offload.to_thread(export_run, run_dir, options)
    paths = [Path(p) for p in result.files["dst"].values()]
    rows = [json.loads(x) for p in paths for x in p.read_text().splitlines()]
    assert len(rows) == sum(len(r["turns"]) for r in records)
    loaded = datasets.load_dataset("json", data_files=[str(p) for p in paths], split="train")
    assert loaded.num_rows == len(rows)
    assert set(loaded.features) >= {"history", "user_utterance", "state", "state_text"}
    assert loaded[1]["history"][0].startswith("user: ")


async def test_the_judge_keeps_persona_breaking_dialogues_out(tmp_path: Path) -> None:
    """A quarter of simulated dialogues drop the persona; none of the kept ones do."""
    n = 16
    config = load_config(
        overrides={
            "engine.n": n,
            "engine.pipeline": "dialogue",
            "dialogue.retry_backoff": 0.0,
            "dialogue.grounding": "goals",
            "dialogue.allow_base_reuse": True,
            "quality.judge.enabled": True,
            "dedup.enabled": False,
        },
        environ={},
        env_file=None,
    )
    run_dir = tmp_path / "run"
    async with start_simulator(persona_contradiction_rate=0.25) as sim:
        async with Transport.from_settings(config.llm, api_key=None, base_url=sim.base_url) as c:
            summary = await run_generation(
                config,
                DialoguePipeline(config),
                run_dir=run_dir,
                client=c,
                options=RunOptions(quiet=True, is_simulated=True),
            )
    assert summary.done == n
    records = [json.loads(x) for x in (run_dir / "records.jsonl").read_text().splitlines()]
    rejected = [json.loads(x) for x in (run_dir / "rejected.jsonl").read_text().splitlines()]

    def breaks(record: dict[str, Any]) -> bool:
        return any(MARKER in t["user_utterance"].lower() for t in record["turns"])

    assert not any(map(breaks, records))
    low = [r for r in rejected if r["reason"] == "low_quality"]
    assert low and all(breaks(r["data"]) for r in low)
