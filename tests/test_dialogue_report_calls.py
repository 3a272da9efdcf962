"""The dialogue report's calls exactly as it writes them: positional arguments, a dict
config, no hand-built transport, no key (the embedded simulator, announced in one line)."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from asyncgen import offload
from asyncgen.config.sim import SimSettings
from asyncgen.dialogue import DialogueGenerator, assign_selected_emotions
from asyncgen.llm import Transport
from asyncgen.llm.retry import set_testing
from asyncgen.sim.app import SimApp

SPEC_CONFIG = {"llm": {"provider": "simulator"}, "dialogue": {"retry_backoff": 0}}


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    with set_testing():
        yield


@pytest.fixture
async def generator() -> AsyncIterator[DialogueGenerator]:
    made = DialogueGenerator(SPEC_CONFIG)
    transport = Transport.from_settings(
        made.config.llm,
        api_key=None,
        base_url="http://sim.test/v1",
        http_transport=httpx.ASGITransport(app=SimApp(SimSettings())),  # type: ignore[arg-type]
    )
    async with transport:
        made.client = transport
        yield made


def test_config_may_be_a_dict_or_a_yaml_path(tmp_path: Path) -> None:
    """The report builds a config dict; a YAML path works too, and a bad key is named."""
    assert (
        DialogueGenerator({"dialogue": {"similarity_threshold": 0.8}}).settings.similarity_threshold
        == 0.8
    )
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"dialogue": {"max_retries": 1}}))
    assert DialogueGenerator(path).settings.max_retries == 1
    from asyncgen.errors import ConfigError

    with pytest.raises(ConfigError, match="dialogue.colour"):
        DialogueGenerator({"dialogue": {"colour": "blue"}})


async def test_generate_dialogue_takes_the_reports_positional_order(
    generator: DialogueGenerator,
) -> None:
    """listservice, prompt, min/max turns, sampling, retries, emotions, scenario, regions."""
    # test set-up: the synchronous extraction reads the dataset, so it runs in a thread
    found = await offload.to_thread(generator.test_single_dialogue_extraction, 0)
    base = found["base_conversation"]
    scenario = await generator.generate_dynamic_scenario("general_inquiry", ["hotel"], "Lima")
    text = await generator.generate_dialogue(
        ["hotel"], base, 3, 6, 0.7, 0.9, 0.0, 0.0, 2, ["Frustrated"], ["Patient"], scenario,
        ["Lima"],
    )  # fmt: skip
    turns = generator.process_generated_dialogue(text, 3, 6)
    assert 3 <= len(turns) <= 6
    assert await generator.generate_dialogue(["hotel"], base, 3, 6)  # the rest drawn


def test_select_random_persona_without_an_argument() -> None:
    """The report calls select_random_persona() and reads `.persona`."""
    persona = DialogueGenerator(SPEC_CONFIG).select_random_persona()
    assert isinstance(persona.persona, str) and persona.persona


def test_report_file_calls_write_into_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """save_new_dialogues(dialogues) and save_embeddings(array) with no folder: the cwd."""
    monkeypatch.chdir(tmp_path)
    made = DialogueGenerator(SPEC_CONFIG)
    assert made.save_new_dialogues([{"dialogue_id": "d1", "base_dialogue_hash": "ab"}]) == 1
    made.save_embeddings(np.eye(2))
    assert json.loads(Path("generated_dialogues.json").read_text())[0]["dialogue_id"] == "d1"
    assert json.loads(Path("dialogue_hashes.json").read_text()) == ["ab"]
    assert np.load("dialogue_embeddings.npy").shape == (2, 2)


def test_assign_selected_emotions_on_the_reports_turn_dicts() -> None:
    """Each turn dict gets an `emotion` for its speaker, the arc running over its turns."""
    turns = [{"speaker": s, "utterance": "x"} for s in ("USER", "ASSISTANT") * 4]
    out = assign_selected_emotions(turns, ["Frustrated", "Grateful"], ["Patient"])
    assert [t["emotion"] for t in out if t["speaker"] == "USER"] == [
        "Frustrated", "Frustrated", "Grateful", "Grateful",
    ]  # fmt: skip
    assert {t["emotion"] for t in out if t["speaker"] == "ASSISTANT"} == {"Patient"}


async def test_no_key_and_no_client_runs_on_the_announced_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """generate_unique_dialogues with no transport and no key starts the embedded
    simulator, says so in one line, and marks the records simulated."""
    for name in ("OPENAI_API_KEY", "OPENAI_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    gc.collect()  # earlier tests' garbage is reaped (and reported) before the capture
    capsys.readouterr()
    made = DialogueGenerator({"dialogue": {"retry_backoff": 0}, "dedup": {"embedder": "hashing"}})
    summary = await made.generate_unique_dialogues(3, tmp_path / "run")
    assert summary.status == "complete" and summary.simulated
    err = capsys.readouterr().err.splitlines()
    notice = [line for line in err if "built-in simulator" in line]
    assert len(notice) == 1 and "No API key" in notice[0]
    first = json.loads((tmp_path / "run" / "records.jsonl").read_text().splitlines()[0])
    assert first["simulated"] is True and made.client is None


def test_the_reports_local_datasets_folder_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """./local_datasets/multi_woz_v22 and ./local_datasets/FinePersonas-… are used when
    present (no path configured); without them the packaged samples load."""
    from asyncgen.dialogue.multiwoz import SAMPLE_PATH as DIALOGUES
    from asyncgen.personas.finepersonas import SAMPLE_PATH as PERSONAS

    monkeypatch.chdir(tmp_path)
    assert DialogueGenerator(SPEC_CONFIG).load_dataset().source == str(DIALOGUES)
    woz = tmp_path / "local_datasets" / "multi_woz_v22"
    fine = tmp_path / "local_datasets" / "FinePersonas-v0.1-clustering-100k"
    woz.mkdir(parents=True)
    fine.mkdir()
    rows = DIALOGUES.read_text().splitlines()[:3]
    (woz / "train.jsonl").write_text("\n".join(rows) + "\n")
    (fine / "train.jsonl").write_text("\n".join(PERSONAS.read_text().splitlines()[:4]) + "\n")
    made = DialogueGenerator(SPEC_CONFIG)
    assert len(made.load_dataset()) == 3 and "local_datasets" in made.load_dataset().source
    assert len(made.load_persona_dataset().personas) == 4


def test_generate_test_extraction_flag_shows_one_dialogue(tmp_path: Path) -> None:
    """`--test_extraction --extraction_index 5`, the report's testing mode: no run."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "asyncgen", "generate", "--pipeline", "dialogue",
         "--test_extraction", "--extraction_index", "5"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(index 5)" in result.stdout and "USER:" in result.stdout
    assert not (tmp_path / "runs").exists()
