"""Group-wise splits: no persona (or base dialogue) in two splits, seeded, near the ratios."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import orjson

from asyncgen.export import ExportOptions, export_run
from asyncgen.export.synthetic import dialogue_record, write_synthetic_run


def _split_members(files: dict[str, str], *keys: str) -> dict[str, dict[str, set[str]]]:
    """key → value → the splits holding a sample with it, read back from the exported JSON."""
    seen: dict[str, dict[str, set[str]]] = {k: defaultdict(set) for k in keys}
    for split, path in files.items():
        for sample in json.loads(Path(path).read_text()):
            for key in keys:
                value = sample["persona_id"] if key == "persona" else sample["metadata"][key]
                seen[key][value].add(split)
    return seen


def test_no_persona_crosses_splits_with_many_records_per_persona(tmp_path: Path) -> None:
    """3,000 interactions over 60 personas (~50 each): every persona lands in exactly one split."""
    run = tmp_path / "run"
    write_synthetic_run(run, 3000, personas=60)
    result = export_run(run, ExportOptions(out_dir=tmp_path / "out", user_turns="both"))
    seen = _split_members(result.files["json"], "persona")["persona"]
    assert len(seen) == 60
    assert all(len(splits) == 1 for splits in seen.values())
    used = {s for splits in seen.values() for s in splits}
    assert used == {"train", "validation", "test"}
    split = result.statistics["split"]
    assert sum(split["samples"].values()) == result.statistics["total_samples"]
    for name, target in split["configured_ratios"].items():
        assert abs(split["realised_ratios"][name] - target) < 0.03


def _write_linked_dialogues(run: Path, n: int) -> None:
    """Dialogues where each trio of personas shares two base dialogues (groups of 3 personas)."""
    rng = random.Random(5)
    run.mkdir()
    with (run / "records.jsonl").open("wb") as handle:
        for i in range(n):
            record = dialogue_record(i, rng, personas=300, bases=None)
            pid = int(record["persona_id"].removeprefix("fp_"))
            record["base_dialogue_id"] = f"MUL{pid // 3:04d}-{rng.randrange(2)}"
            handle.write(orjson.dumps(record) + b"\n")


def test_dialogue_groups_join_personas_through_shared_base_dialogues(tmp_path: Path) -> None:
    """Personas linked by a shared base dialogue stay together: no persona or base in two splits."""
    run = tmp_path / "run"
    _write_linked_dialogues(run, 2000)
    result = export_run(run, ExportOptions(out_dir=tmp_path / "out"))
    seen = _split_members(result.files["json"], "persona", "base_dialogue_id")
    for key in ("persona", "base_dialogue_id"):
        crossing = [v for v, splits in seen[key].items() if len(splits) > 1]
        assert not crossing, f"{key} in two splits: {crossing[:3]}"
    split = result.statistics["split"]
    assert sum(split["groups"].values()) == 100  # 300 personas joined in trios
    assert min(split["samples"].values()) > 0
    assert result.statistics["total_samples"] == 2000


def test_dialogues_with_unique_bases_split_by_persona(tmp_path: Path) -> None:
    """With each base dialogue used once, persona groups give ratios close to the config."""
    run = tmp_path / "run"
    write_synthetic_run(run, 2000, kind="dialogue", personas=200)
    options = ExportOptions(out_dir=tmp_path / "out", ratios=(0.7, 0.2, 0.1))
    split = export_run(run, options).statistics["split"]
    assert split["realised_ratios"]["train"] == split["samples"]["train"] / 2000
    for name, target in zip(("train", "validation", "test"), (0.7, 0.2, 0.1), strict=True):
        assert abs(split["realised_ratios"][name] - target) < 0.03
    assert not split["warnings"]


def _assignment(run: Path, out: Path, seed: int) -> dict[str, str]:
    result = export_run(run, ExportOptions(out_dir=out, seed=seed, formats=("jsonl",)))
    found = {}
    for split, path in result.files["jsonl"].items():
        for line in Path(path).read_bytes().splitlines():
            found[orjson.loads(line)["persona_id"]] = split
    return found


def test_split_is_seeded_and_reproducible(tmp_path: Path) -> None:
    """The same seed gives the same persona → split map; another seed gives another."""
    run = tmp_path / "run"
    write_synthetic_run(run, 1000, personas=80)
    first = _assignment(run, tmp_path / "a", seed=7)
    assert _assignment(run, tmp_path / "b", seed=7) == first
    assert _assignment(run, tmp_path / "c", seed=8) != first


def test_too_few_groups_is_reported_not_hidden(tmp_path: Path) -> None:
    """Two personas cannot fill three splits: the statistics warn and show the real ratios."""
    run = tmp_path / "run"
    write_synthetic_run(run, 50, personas=2)
    split = export_run(run, ExportOptions(out_dir=tmp_path / "out")).statistics["split"]
    assert sum(split["groups"].values()) == 2
    assert any("is empty" in w for w in split["warnings"])
    assert sum(split["realised_ratios"].values()) == 1.0
