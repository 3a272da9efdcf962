"""MultiWOZ v2.2 loading: the packaged sample, every file layout, and malformed files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from asyncgen.config.dialogue import CORE_SERVICES
from asyncgen.dialogue import extract_dialogue, generate_base_conversation, load_multiwoz
from asyncgen.dialogue.synthetic import synthesize_multiwoz, write_multiwoz
from asyncgen.errors import DatasetError

ROW_COLUMNS: dict[str, Any] = {
    "dialogue_id": "PMUL0001.json",
    "services": ["hotel", "taxi"],
    "turns": {
        "turn_id": ["0", "1", "2", "3"],
        "speaker": [0, 1, 0, 1],
        "utterance": ["I need a hotel.", "Which area?", "The north, please.", "Booked."],
        "frames": [{"service": ["hotel"]}, {"service": []}, {"service": ["hotel"]}, {}],
        "dialogue_acts": [{}, {}, {}, {}],
    },
}
ROW_LIST = {
    "dialogue_id": "SNG0002.json",
    "services": ["train"],
    "turns": [
        {"turn_id": "0", "speaker": "USER", "utterance": "A train to Ely, please."},
        {"turn_id": "1", "speaker": "SYSTEM", "utterance": "The 9:15 leaves from platform 2."},
    ],
}


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_packaged_sample_covers_every_service_and_multi_service_cases() -> None:
    """The default sample has >= 40 dialogues over all eight services, some multi-service."""
    dataset = load_multiwoz()
    assert len(dataset) >= 40
    services = {s for d in dataset.dialogues for s in d.services}
    assert services == set(CORE_SERVICES)
    assert sum(len(d.services) > 1 for d in dataset.dialogues) >= 10
    assert len(dataset.unique_indices()) == len(dataset)


def test_both_turn_layouts_and_speaker_spellings_load(tmp_path: Path) -> None:
    """Column layout (dict of lists) and list-of-turns layout with USER/SYSTEM both parse."""
    dataset = load_multiwoz(_jsonl(tmp_path / "d.jsonl", [ROW_COLUMNS, ROW_LIST]))
    first, second = dataset.dialogues
    assert [t.speaker for t in first.turns] == [0, 1, 0, 1]
    assert first.turns[0].frames == {"service": ["hotel"]}
    assert [t.speaker for t in second.turns] == [0, 1]
    assert second.services == ("train",)


def test_extract_and_base_conversation_match_the_report() -> None:
    """extract_dialogue labels speakers USER/ASSISTANT; the base is 'SPEAKER: text' lines."""
    turns = extract_dialogue(ROW_COLUMNS)
    assert turns[1] == {"turn_id": "1", "speaker": "ASSISTANT", "utterance": "Which area?"}
    text = generate_base_conversation(turns)
    assert text.splitlines() == [
        "USER: I need a hotel.",
        "ASSISTANT: Which area?",
        "USER: The north, please.",
        "ASSISTANT: Booked.",
    ]


def test_json_parquet_and_split_keyed_files_load(tmp_path: Path) -> None:
    """A JSON list, a split-keyed JSON object and a Parquet file give the same dialogues."""
    (tmp_path / "list.json").write_text(json.dumps([ROW_COLUMNS, ROW_LIST]))
    (tmp_path / "split.json").write_text(json.dumps({"train": [ROW_LIST], "test": [ROW_COLUMNS]}))
    parquet = write_multiwoz(tmp_path / "syn.parquet", 30, seed=3)
    assert len(load_multiwoz(tmp_path / "list.json")) == 2
    assert [d.dialogue_id for d in load_multiwoz(tmp_path / "split.json")] == ["SNG0002.json"]
    from_parquet = load_multiwoz(parquet)
    assert len(from_parquet) == 30
    assert from_parquet[0].dialogue_id == synthesize_multiwoz(30, seed=3)[0]["dialogue_id"]


def test_hugging_face_save_to_disk_folder_loads(tmp_path: Path) -> None:
    """A DatasetDict saved with save_to_disk is read through `datasets`, by split."""
    datasets = pytest.importorskip("datasets")
    rows = synthesize_multiwoz(12, seed=5)
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(rows), "test": datasets.Dataset.from_list(rows[:2])}
    ).save_to_disk(str(tmp_path / "mwoz"))
    assert len(load_multiwoz(tmp_path / "mwoz")) == 12
    assert len(load_multiwoz(tmp_path / "mwoz", split="test")) == 2
    with pytest.raises(DatasetError, match="no split 'validation'"):
        load_multiwoz(tmp_path / "mwoz", split="validation")


def test_save_to_disk_without_datasets_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the optional `datasets` package the error says how to install it."""
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "dataset_dict.json").write_text('{"splits": ["train"]}')
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(DatasetError, match=r"asyncgen\[hf\]"):
        load_multiwoz(tmp_path / "hf")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.pop("dialogue_id"), "dialogue_id"),
        (lambda r: r.pop("turns"), "turns"),
        (lambda r: r.__setitem__("services", "hotel"), "services"),
        (lambda r: r["turns"].__setitem__("utterance", []), "turns"),
        (lambda r: r["turns"].__setitem__("speaker", [0, 1]), "turns.speaker"),
        (lambda r: r["turns"]["speaker"].__setitem__(2, 7), "turns.speaker[2]"),
        (lambda r: r["turns"]["utterance"].__setitem__(1, " "), "turns.utterance[1]"),
    ],
)
def test_malformed_rows_name_file_row_and_field(tmp_path: Path, mutate: Any, field: str) -> None:
    """A broken row is a DatasetError naming the file, the row number and the field."""
    bad = json.loads(json.dumps(ROW_COLUMNS))
    mutate(bad)
    path = _jsonl(tmp_path / "bad.jsonl", [ROW_LIST, bad])
    with pytest.raises(DatasetError) as info:
        load_multiwoz(path)
    message = str(info.value)
    assert str(path) in message and "row 1" in message and f"'{field}'" in message


def test_missing_turn_field_in_list_layout_is_named(tmp_path: Path) -> None:
    """A list-layout turn without an utterance names `turns[i].utterance`."""
    bad = json.loads(json.dumps(ROW_LIST))
    del bad["turns"][1]["utterance"]
    with pytest.raises(DatasetError, match=r"row 0: field 'turns\[1\]\.utterance'"):
        load_multiwoz(_jsonl(tmp_path / "b.jsonl", [bad]))


def test_unreadable_inputs_are_dataset_errors(tmp_path: Path) -> None:
    """A missing path, bad JSON and an unknown suffix each give one clear DatasetError."""
    with pytest.raises(DatasetError, match="does not exist"):
        load_multiwoz(tmp_path / "nope.jsonl")
    (tmp_path / "x.jsonl").write_text('{"dialogue_id": \n')
    with pytest.raises(DatasetError, match="row 0: not valid JSON"):
        load_multiwoz(tmp_path / "x.jsonl")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        load_multiwoz(tmp_path / "x.csv")


def test_repeated_dialogues_are_planned_once(tmp_path: Path) -> None:
    """Two rows with the same conversation share a SHA-256; only the first is kept."""
    twin = dict(ROW_LIST, dialogue_id="SNG9999.json")
    dataset = load_multiwoz(_jsonl(tmp_path / "t.jsonl", [ROW_LIST, ROW_COLUMNS, twin]))
    assert dataset[0].conversation_hash == dataset[2].conversation_hash
    assert dataset.unique_indices() == [0, 1]


def test_anonymize_masks_identifiers_but_keeps_times_and_prices() -> None:
    """Emails, phones, postcodes and references are masked; times, prices, counts stay."""
    from asyncgen.dialogue.multiwoz import anonymize

    text = "Ref RT4K92LA, call 07700 900123, CB2 0QQ, jo@x.co.uk, 2 seats at 19:30 for 36.20"
    assert anonymize(text) == (
        "Ref [REFERENCE], call [PHONE], [POSTCODE], [EMAIL], 2 seats at 19:30 for 36.20"
    )


def _hf_row(i: int) -> dict[str, Any]:
    """A row shaped like the published HF MultiWOZ 2.2 (nested frames and dialogue acts)."""
    frame = {
        "service": ["hotel"],
        "state": [
            {
                "active_intent": "find_hotel",
                "requested_slots": [],
                "slots_values": {
                    "slots_values_name": ["hotel-area"],
                    "slots_values_list": [["north"]],
                },
            }
        ],
        "slots": [
            {"slot": ["hotel-area"], "value": ["north"], "start": [10], "exclusive_end": [15]}
        ],
    }
    acts = {
        "dialog_act": {
            "act_type": ["Hotel-Inform"],
            "act_slots": [{"slot_name": ["area"], "slot_value": ["north"]}],
        },
        "span_info": {
            "act_type": [],
            "act_slot_name": [],
            "act_slot_value": [],
            "span_start": [],
            "span_end": [],
        },
    }
    return {
        "dialogue_id": f"PMUL{i:04d}.json",
        "services": ["hotel"],
        "turns": {
            "turn_id": ["0", "1"],
            "speaker": [0, 1],
            "utterance": [f"A hotel in the north for {i} nights.", "Okay, booked."],
            "frames": [frame, {**frame, "state": [], "slots": []}],
            "dialogue_acts": [acts, acts],
        },
    }


def test_published_hf_schema_with_nested_frames_loads(tmp_path: Path) -> None:
    """Nested frames/dialogue_acts survive a save_to_disk round trip and stay on the turns."""
    datasets = pytest.importorskip("datasets")
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list([_hf_row(i) for i in range(3)])}
    ).save_to_disk(str(tmp_path / "hf"))
    dataset = load_multiwoz(tmp_path / "hf")
    first = dataset[0].turns[0]
    assert first.speaker == 0 and first.frames["service"] == ["hotel"]
    assert first.dialogue_acts["dialog_act"]["act_type"] == ["Hotel-Inform"]
    assert len(dataset.unique_indices()) == 3
