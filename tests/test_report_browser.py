"""Both reports opened in headless Chromium (Debian's package, driven over DevTools).

Checked as a reader would: no console errors; the headline figures are report.json's;
filtering the conversation browser to one persona lists exactly that persona's records;
a conversation opens with its noise edits and a reject with its reason; the bench page
fits the window. Screenshots go to $ASYNCGEN_SCREENSHOT_DIR (else the test's tmp dir).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import Browser, Page, open_browser
from typer.testing import CliRunner

from asyncgen.cli import app
from asyncgen.dialogue.synthetic import write_multiwoz
from asyncgen.report import write_report

NOISY_DIALOGUES = """
dialogue:
  apply_noise: true
  retry_backoff: 0.0
  max_retries: 1
sim:
  malformed_rate: 0.15
  duplicate_rate: 0.05
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module; CI installs it (`make test`), elsewhere it may be absent."""
    found = open_browser()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (make test installs it)")
        pytest.skip("chromium is not installed (make test installs it)")
    yield found
    found.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go."""
    target = os.environ.get("ASYNCGEN_SCREENSHOT_DIR")
    return Path(target) if target else tmp_path_factory.mktemp("shots")


def _generate(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["generate", "--quiet", *args])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def dialogue_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dialogue run on the simulator with noise, malformed answers and duplicates."""
    base = tmp_path_factory.mktemp("dialogue")
    dataset = write_multiwoz(base / "mwoz.jsonl", 160)
    config = base / "noisy.yaml"
    config.write_text(NOISY_DIALOGUES)
    run = base / "run"
    _generate(
        ["--pipeline", "dialogue", "--n", "80", "--dataset-path", str(dataset)]
        + ["--config", str(config), "--out", str(run)]
    )
    return run


@pytest.fixture(scope="module")
def interaction_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interaction run on the simulator (the default pipeline)."""
    run = tmp_path_factory.mktemp("interaction") / "run"
    _generate(["--n", "60", "--out", str(run)])
    return run


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def _open(browser: Browser, run: Path, fragment: str = "") -> tuple[Page, dict[str, Any]]:
    page = browser.page()
    page.goto(run / "report.html", fragment)
    page.wait_for("document.documentElement.dataset.ready === '1'")
    return page, json.loads((run / "report.json").read_text())


def _check_headline(page: Page, report: dict[str, Any]) -> None:
    """Every tile shows report.json's figure, and its value is the one at its path."""
    tiles = page.eval(
        "[...document.querySelectorAll('.tile')].map(t => ({path: t.dataset.path, "
        "value: t.dataset.value, shown: t.querySelector('.v').textContent, "
        "ref: t.querySelector('.ref') && t.querySelector('.ref').dataset.refValue}))"
    )
    assert [t["path"] for t in tiles] == [t["path"] for t in report["headline"]]
    for tile, expected in zip(tiles, report["headline"], strict=True):
        assert tile["shown"] == expected["display"]
        if expected["value"] is None:
            assert tile["value"] == ""
            continue
        source = _at(report, expected["path"])
        if isinstance(source, dict):  # a tile summing causes or averaging criteria
            values = list(source.values())
            source = sum(values) if "sum_of" in expected else sum(values) / len(values)
        assert float(tile["value"]) == pytest.approx(float(source), abs=1e-3)
        assert float(tile["value"]) == pytest.approx(float(expected["value"]))
        if expected.get("reference"):
            ref = expected["reference"]
            assert float(tile["ref"]) == pytest.approx(float(_at(report, ref["path"])))


async def test_dialogue_report_in_chromium(
    browser: Browser, dialogue_run: Path, shots: Path
) -> None:
    """Headline = report.json; persona filter exact; noise edits and reject reasons shown."""
    await write_report(dialogue_run)
    page, report = _open(browser, dialogue_run)
    _check_headline(page, report)
    assert page.eval("document.documentElement.scrollWidth <= innerWidth")
    page.screenshot(shots / "report-dialogue-overview.png", full_page=True)
    for tab in ("coverage", "distributions"):
        page.eval(f"agViewer.showTab('{tab}')")
        page.screenshot(shots / f"report-dialogue-{tab}.png", full_page=True)
    nn = page.eval(
        "[...document.querySelectorAll('#distributions svg text')].map(t => t.textContent)"
    )
    assert any(text.startswith("duplicate bar") for text in nn)

    records = _records(dialogue_run / "records.jsonl")
    rejects = _records(dialogue_run / "rejected.jsonl")
    assert rejects, "the fixture should produce rejects"
    page.eval("agViewer.showTab('conversations')")
    assert page.eval("agViewer.count") == len(records) + len(rejects)
    persona = Counter(r["persona_id"] for r in records).most_common(1)[0][0]
    page.eval("agViewer.setFacet('status', 'Accepted')")
    listed = page.eval(f"agViewer.setFacet('persona', {persona!r}) && agViewer.filtered()")
    assert sorted(listed) == sorted(r["id"] for r in records if r["persona_id"] == persona)

    noisy = next(r for r in records if any(t.get("noisy_user_utterance") for t in r["turns"]))
    assert page.eval("agViewer.clear()") == len(records) + len(rejects)
    page.eval(f"agViewer.open({noisy['id']!r})")
    page.wait_for("document.querySelector('#reader .noise')")
    assert page.eval("document.querySelectorAll('#reader ins, #reader del').length") > 0
    reader = page.eval("document.querySelector('#reader').innerText")
    assert noisy["persona"] in reader and noisy["generated_scenario"] in reader
    assert noisy["turns"][0]["user_emotion"] in reader
    page.screenshot(shots / "report-dialogue-conversation.png")

    reject = rejects[0]
    page.eval(f"agViewer.open({reject['id']!r})")
    page.wait_for("document.querySelector('#reader .why')")
    why = page.eval("document.querySelector('#reader .why').innerText")
    assert "Rejected" in why and reject["reason"].split(":")[0].replace("_", " ") in why.lower()
    assert page.errors() == []
    page.close()


async def test_interaction_report_in_chromium(
    browser: Browser, interaction_run: Path, shots: Path
) -> None:
    """The interaction pipeline renders too; persona and persona-feature filters are exact."""
    await write_report(interaction_run)
    page, report = _open(browser, interaction_run, "conversations")
    _check_headline(page, report)
    records = _records(interaction_run / "records.jsonl")
    persona = Counter(r["persona_id"] for r in records).most_common(1)[0][0]
    listed = page.eval(f"agViewer.setFacet('persona', {persona!r}) && agViewer.filtered()")
    assert sorted(listed) == sorted(r["id"] for r in records if r["persona_id"] == persona)
    page.eval("agViewer.clear()")
    role = records[0]["persona_features"]["role"]
    listed = page.eval(f"agViewer.setFacet('features', 'Role: {role}') && agViewer.filtered()")
    expected = [r["id"] for r in records if r["persona_features"]["role"] == role]
    assert sorted(listed) == sorted(expected)
    # an answer over several lines (a list, paragraphs) keeps its breaks in the reader
    shown = next(r for r in records if "\n" in r["messages"][1]["content"].strip())
    page.eval(f"agViewer.open({shown['id']!r})")
    page.wait_for("document.querySelector('#reader .turn')")
    reader = page.eval("document.querySelector('#reader').innerText")
    for message in shown["messages"][1:]:  # line breaks and list lines read as written
        assert message["content"].strip() in reader
    page.screenshot(shots / "report-interaction-conversation.png")
    link = page.eval("location.hash")
    assert link == f"#conversations/{shown['id']}"
    linked = browser.page()  # a fresh tab opened on the link
    linked.goto(interaction_run / "report.html", link[1:])
    linked.wait_for(f"document.querySelector('#reader h3')?.innerText.includes({shown['id']!r})")
    assert linked.errors() == []
    linked.close()
    assert page.errors() == []
    page.close()


async def test_judge_scores_and_dialogue_state_in_chromium(
    browser: Browser, tmp_path: Path
) -> None:
    """Records carrying judge scores and per-turn state: score filter exact, state shown."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "plan.json").write_text("{}")
    records = []
    for i in range(12):
        turns = [
            {
                "user_utterance": f"I need a cheap hotel in the north for {i + 2} people",
                "assistant_response": "Two match; shall I book one?",
                "user_emotion": "Hopeful",
                "assistant_emotion": "Helpful",
                "state": {"hotel": {"pricerange": "cheap", "area": "north", "people": str(i + 2)}},
            }
        ]
        scores = {"naturalness": 1 + i % 5, "task_success": 1 + (i * 2) % 5}
        records.append(
            {"id": f"r{i}", "services": ["hotel"], "turns": turns, "quality": {"scores": scores}}
        )
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    await write_report(run, embed=False)
    page, report = _open(browser, run, "conversations")
    _check_headline(page, report)
    page.eval("document.getElementById('f-score').value = '4'")
    page.eval(
        "document.getElementById('f-score').dispatchEvent(new Event('input', {bubbles: true}))"
    )
    listed = page.eval("agViewer.filtered()")
    means = {r["id"]: sum(r["quality"]["scores"].values()) / 2 for r in records}
    assert sorted(listed) == sorted(k for k, v in means.items() if v >= 4)
    page.eval("agViewer.open('r3')")
    page.wait_for("document.querySelector('#reader .chip.state')")
    state = page.eval("document.querySelector('#reader').innerText")
    assert "area = north" in state and "people = 5" in state and "Hopeful" in state
    assert page.errors() == []
    page.close()


def test_bench_report_in_chromium(
    browser: Browser, shots: Path, sim_factory: Any, tmp_path: Path
) -> None:
    """The bench page: key figures are bench.json's, images load, nothing overflows."""
    sim = sim_factory(rpm=240, latency_median=0.03)
    out = tmp_path / "bench"
    args = ["bench", "rate", "--base-url", sim.base_url, "--model", "sim-model"]
    args += ["--out", str(out), "--rate", "3,9", "--step-seconds", "1.5", "--warmup", "0.2"]
    result = CliRunner().invoke(app, [*args, "--cooldown", "0.3"])
    assert result.exit_code == 0, result.output
    bench = json.loads((out / "bench.json").read_text())
    page = browser.page(width=1366, height=768)
    page.goto(out / "report.html")
    tiles = page.eval(
        "[...document.querySelectorAll('.tile')].map(t => [t.dataset.path, t.dataset.value])"
    )
    assert tiles
    for path, value in tiles:
        expected = _at(bench, path)
        assert (value == "") if expected is None else float(value) == pytest.approx(expected)
    assert page.eval("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert page.eval("document.documentElement.scrollWidth <= innerWidth")
    text = page.eval("document.body.innerText")
    assert "x=" not in text and "success_per_s" not in text
    page.screenshot(shots / "bench-report.png", full_page=True)
    assert page.errors() == []
    page.close()


if __name__ == "__main__":  # pragma: no cover - `python tests/test_report_browser.py`
    sys.exit(pytest.main([__file__, "-q"]))
