"""Where the report keeps its datasets: `./local_datasets/<name>` in the working directory.

An explicit `dialogue.dataset_path` / `dialogue.persona_path` wins; else the report's
folder is used when it exists (`./local_datasets/multi_woz_v22` for the default
`pfb30/multi_woz_v22`, `./local_datasets/FinePersonas-v0.1-clustering-100k`); else None,
which loads the packaged sample.
"""

from __future__ import annotations

from pathlib import Path

from asyncgen.config import DialogueSettings

LOCAL_ROOT = Path("local_datasets")
PERSONA_FOLDER = "FinePersonas-v0.1-clustering-100k"


def dataset_path(settings: DialogueSettings, root: Path = LOCAL_ROOT) -> Path | None:
    """The base dialogues to load: configured, else the report's local folder, else None."""
    if settings.dataset_path:
        return Path(settings.dataset_path)
    local = root / settings.dataset_name.rsplit("/", 1)[-1]
    return local if local.exists() else None


def persona_path(settings: DialogueSettings, root: Path = LOCAL_ROOT) -> Path | None:
    """The personas to load: configured, else the report's local folder, else None."""
    if settings.persona_path:
        return Path(settings.persona_path)
    local = root / PERSONA_FOLDER
    return local if local.exists() else None
