"""FinePersonas loading, the cluster and summary dictionaries, and random selection."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asyncgen.errors import DatasetError
from asyncgen.personas import UNCLUSTERED, get_summary_labels, load_personas

ROWS: list[dict[str, Any]] = [
    {"id": "a", "persona": "A nurse.", "cluster_label": 3, "summary_label": '["Health", "Care"]'},
    {"id": "b", "persona": "A doctor.", "cluster_label": 3, "summary_label": '["Care", "Health"]'},
    {"id": "c", "persona": "A pilot.", "cluster_label": 7, "summary_label": '["Aviation"]'},
    {"id": "d", "persona": "A drifter.", "cluster_label": -1, "summary_label": '["Misc"]'},
]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_packaged_sample_has_150_personas_over_15_clusters() -> None:
    """The default persona sample is big and spread enough for selection to matter."""
    bank = load_personas()
    assert len(bank) >= 150
    clusters = [k for k in bank.cluster_dict if k != UNCLUSTERED]
    assert len(clusters) >= 15
    assert UNCLUSTERED in bank.cluster_dict
    assert len({p.id for p in bank.personas}) == len(bank)


def test_dictionaries_index_by_cluster_and_sorted_summary(tmp_path: Path) -> None:
    """cluster_dict maps labels to rows; summary_dict keys are sorted label tuples."""
    bank = load_personas(_write(tmp_path / "p.jsonl", ROWS))
    assert bank.cluster_dict == {3: [0, 1], 7: [2], -1: [3]}
    assert bank.summary_dict[("Care", "Health")] == [0, 1]
    assert get_summary_labels("['Zed', 'Alpha']") == ("Alpha", "Zed")


def test_cluster_selection_skips_unclustered_and_summary_selection_reaches_all(
    tmp_path: Path,
) -> None:
    """By cluster, −1 is never drawn; by summary every persona group is reachable."""
    bank = load_personas(_write(tmp_path / "p.jsonl", ROWS))
    rng = random.Random(1)
    by_cluster = Counter(bank.select_random_persona(rng, "cluster").id for _ in range(400))
    by_summary = Counter(bank.select_random_persona(rng, "summary").id for _ in range(400))
    assert "d" not in by_cluster and set(by_cluster) == {"a", "b", "c"}
    assert set(by_summary) == {"a", "b", "c", "d"}


def test_selection_is_reproducible_for_a_seed() -> None:
    """The same seed picks the same personas; a different seed picks others."""
    bank = load_personas()
    first = [bank.select_index(random.Random(9)) for _ in range(5)]
    again = [bank.select_index(random.Random(9)) for _ in range(5)]
    assert first == again
    many = {bank.select_index(random.Random(s)) for s in range(200)}
    assert len(many) > 60


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.__setitem__("summary_label", '"Health"'), "summary_label"),
        (lambda r: r.__setitem__("summary_label", "not json ["), "summary_label"),
        (lambda r: r.__setitem__("summary_label", 5), "summary_label"),
        (lambda r: r.pop("summary_label"), "summary_label"),
        (lambda r: r.pop("persona"), "persona"),
        (lambda r: r.pop("id"), "id"),
        (lambda r: r.__setitem__("cluster_label", "three"), "cluster_label"),
    ],
)
def test_malformed_persona_rows_name_file_row_and_field(
    tmp_path: Path, mutate: Any, field: str
) -> None:
    """A non-list summary_label or a missing field is a DatasetError with file, row, field."""
    rows = json.loads(json.dumps(ROWS))
    mutate(rows[2])
    path = _write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(DatasetError) as info:
        load_personas(path)
    message = str(info.value)
    assert str(path) in message and "row 2" in message and f"'{field}'" in message


def test_parquet_personas_load(tmp_path: Path) -> None:
    """The Parquet layout of the dataset loads the same personas."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "p.parquet")
    bank = load_personas(tmp_path / "p.parquet")
    assert [p.id for p in bank.personas] == ["a", "b", "c", "d"]
    assert bank.personas[0].summary_labels == ("Care", "Health")


def test_embedding_columns_of_the_real_dataset_are_never_loaded(tmp_path: Path) -> None:
    """FinePersonas rows carry a 1,024-float embedding and neighbour lists; only the
    persona's own fields are read, so 100k rows do not become GBs of Python floats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from asyncgen.personas.tables import read_rows

    wide = [
        {**row, "embedding": [0.5] * 1024, "nn_indices": [1, 2], "nn_scores": [0.9, 0.8]}
        for row in ROWS
    ]
    pq.write_table(pa.Table.from_pylist(wide), tmp_path / "wide.parquet")
    columns = ("id", "persona", "cluster_label", "summary_label")
    rows = read_rows(tmp_path / "wide.parquet", columns=columns)
    assert all(set(row) == set(columns) for _, _, row in rows)
    assert [p.id for p in load_personas(tmp_path / "wide.parquet").personas] == ["a", "b", "c", "d"]
    jsonl = read_rows(_write(tmp_path / "wide.jsonl", wide), columns=columns)
    assert all("embedding" not in row for _, _, row in jsonl)
