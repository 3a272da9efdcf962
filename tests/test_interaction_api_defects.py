"""The interaction API used from Python as the spec shows: ids unique across generators,
storage never silently keeps one of several, a distractor follows its generator's client,
and no key means the embedded simulator, announced in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from asyncgen.errors import StoreError
from asyncgen.interaction import (
    InteractionGenerator,
    InteractionStorage,
    create_distractor_model,
)
from asyncgen.interaction.offline import LocalResponderClient

FEATURES = {"role": "engineer", "communication_style": "casual", "domain": "software"}
CONFIG: dict[str, Any] = {
    "interaction_generation": {"retry_delay": 0, "min_turns": 1, "max_turns": 2},
    "distractor": {"enabled": False},
}


async def test_ids_from_three_generators_never_collide_in_storage(tmp_path: Path) -> None:
    """Three generators in the same second, one storage: three interactions kept."""
    storage = InteractionStorage(str(tmp_path / "store"))
    for _ in range(3):
        generator = InteractionGenerator(CONFIG, client=LocalResponderClient())
        made = await generator.generate_interaction("p1", FEATURES, "help me", target_turns=1)
        assert made is not None
        storage.save(made)
    assert len(storage.load_all()) == 3


def test_storage_refuses_a_second_interaction_with_the_same_id(tmp_path: Path) -> None:
    """Saving an id again is an error naming it, not a silent overwrite."""
    storage = InteractionStorage(str(tmp_path / "store"))
    row = {"interaction_id": "i1", "persona_id": "p", "messages": [], "metadata": {}}
    storage.save(row)
    with pytest.raises(StoreError, match="'i1' is already stored"):
        storage.save(dict(row))
    assert len(InteractionStorage(str(tmp_path / "store")).load_all()) == 1


async def test_a_semantic_distractor_follows_the_generator_using_it() -> None:
    """Bound by one generator, then used by another: it calls the second one's client."""
    config = {**CONFIG, "distractor": {"enabled": True, "noise_probability": 1.0}}
    distractor = create_distractor_model(config, use_semantic=True)
    first, second = LocalResponderClient(), LocalResponderClient()
    distractor.bind_client(first)
    distractor.release_client(first)
    distractor.bind_client(second)
    await distractor.apply_noise("how do I sort a list in python", FEATURES)
    assert second.calls and not first.calls


async def test_no_key_starts_the_simulator_and_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spec's `InteractionGenerator(config)` with no key: the embedded simulator."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    async with InteractionGenerator(CONFIG) as generator:
        made = [
            await generator.generate_interaction("p1", FEATURES, "help me", target_turns=1)
            for _ in range(2)
        ]
    assert all(m is not None for m in made)
    notice = [line for line in capsys.readouterr().err.splitlines() if "simulator" in line]
    assert len(notice) == 1 and "No API key" in notice[0]
