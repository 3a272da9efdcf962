"""`asyncgen extract --index N`: the report's single-dialogue extraction test."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from asyncgen.cli.options import ConfigFile
from asyncgen.config import RunConfig, load_config


def extract(
    index: int = typer.Option(
        0,
        "--index",
        "-i",
        "--extraction-index",
        "--extraction_index",
        help="Row of the base dataset to extract (the report's --extraction_index).",
    ),
    dataset: Path | None = typer.Option(
        None,
        "--dataset-path",
        "--dataset",
        help="MultiWOZ v2.2 folder or file; default: dialogue.dataset_path or the sample.",
    ),
    split: str | None = typer.Option(None, "--split", help="Split of a DatasetDict."),
    config: ConfigFile = None,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead."),
) -> None:
    """Extract dialogue INDEX, format its base conversation, and show what was found."""
    overrides = {
        "dialogue.dataset_path": str(dataset) if dataset else None,
        "dialogue.dataset_split": split,
    }
    show_extraction(load_config(config, overrides), index, as_json=as_json)


def show_extraction(config: RunConfig, index: int, *, as_json: bool) -> None:
    """Run the report's `test_single_dialogue_extraction(index)` and print what it found
    (`extract`, and `generate --test_extraction` as the report's script has it)."""
    from asyncgen.dialogue.generator import DialogueGenerator

    found = DialogueGenerator(config).test_single_dialogue_extraction(index)
    if as_json:
        typer.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    typer.echo(f"dialogue_id: {found['dialogue_id']} (index {index})")
    typer.echo(f"services:    {', '.join(found['services']) or '-'}")
    typer.echo(
        f"speakers: {found['speakers']}  utterances: {found['utterances']}  turns: {found['turns']}"
    )
    typer.echo(f"sha256:      {found['sha256']}")
    typer.echo("")
    typer.echo(found["base_conversation"])


def register(app: typer.Typer) -> None:
    """Add `extract` to the app."""
    app.command("extract")(extract)
