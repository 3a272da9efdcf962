"""The dataset report: every headline figure matches an independent recomputation."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from asyncgen.cli import app
from asyncgen.report import build_report, write_report
from asyncgen.report.judge import parse_scores

SERVICES = ["hotel", "taxi", "train", "restaurant"]
STATUSES = ["Resolved", "Failed", "Escalated"]
WORDS = "book room taxi train station please tomorrow evening cheap near centre help".split()


def _dialogue(rng: random.Random, i: int) -> dict[str, Any]:
    turns = []
    for n in range(rng.randint(2, 6)):
        user = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
        assistant = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12)))
        turns.append(
            {
                "turn_number": n + 1,
                "user_utterance": user,
                "intent": "x",
                "assistant_response": assistant,
            }
        )
    services = rng.sample(SERVICES, rng.choice([1, 1, 2, 3]))
    return {
        "id": f"r{i}",
        "dialogue_id": f"d{i}",
        "services": services,
        "turns": turns,
        "resolution_status": rng.choice(STATUSES),
        "scenario_category": "ticket_booking",
        "regions": ["Paris"],
        "user_emotions": ["Happy"],
        "assistant_emotions": ["Patient"],
        "time_slot": "Evening (17:00-21:00): 18:30",
        "persona": "a traveller",
        "persona_cluster": rng.randint(0, 3),
        "model": "sim-model",
        "generation_attempts": rng.choice([1, 1, 1, 2]),
    }


def _make_run(tmp_path: Path, n: int = 120) -> tuple[Path, list[dict[str, Any]]]:
    rng = random.Random(7)
    run = tmp_path / "run"
    run.mkdir()
    records = [_dialogue(rng, i) for i in range(n)]
    lines = [json.dumps(r) for r in records]
    lines.insert(5, '{"torn": ')  # a corrupt line must be reported, not fatal
    (run / "records.jsonl").write_text("\n".join(lines) + "\n")
    (run / "failures.jsonl").write_text(json.dumps({"id": "f1", "reason": "timeout: x"}) + "\n")
    (run / "rejected.jsonl").write_text(
        "\n".join(json.dumps({"id": f"j{i}", "reason": "duplicate"}) for i in range(3)) + "\n"
    )
    config = {
        "dialogue": {
            "service_weights": {"single": 0.3, "double": 0.35, "triple": 0.25, "quadruple": 0.1},
            "resolution_statuses": {"Resolved": 0.4, "Failed": 0.3, "Escalated": 0.3},
        },
        "dedup": {"embedder": "hashing", "threshold": 0.9},
    }
    (run / "config.json").write_text(json.dumps(config))
    (run / "summary.json").write_text(
        json.dumps({"tokens_in": 12000, "tokens_out": 6000, "cost_usd": 0.24})
    )
    return run, records


def _independent_distinct(texts: list[str], n: int) -> float:
    grams = []
    for text in texts:
        toks = re.findall(r"\w+", text.lower())
        grams += [" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)]
    return len(set(grams)) / len(grams)


def test_figures_match_independent_computation(tmp_path: Path) -> None:
    """distinct-n, validity shares, coverage and cost agree with a recount in the test."""
    run, records = _make_run(tmp_path)
    report, _, _ = build_report(run, sample_size=10_000, embed=False)
    users = [t["user_utterance"] for r in records for t in r["turns"]]
    assistants = [t["assistant_response"] for r in records for t in r["turns"]]
    for n in (1, 2, 3):
        assert report["diversity"]["user_turns"][f"distinct_{n}"] == pytest.approx(
            _independent_distinct(users, n), abs=1e-4
        )
        assert report["diversity"]["assistant_turns"][f"distinct_{n}"] == pytest.approx(
            _independent_distinct(assistants, n), abs=1e-4
        )
    total = len(records) + 1 + 3
    first = sum(1 for r in records if r["generation_attempts"] == 1)
    assert report["validity"]["valid_first_parse"] == pytest.approx(first / total, abs=1e-4)
    assert report["validity"]["rejected_by_cause"] == {"duplicate": 3}
    assert report["validity"]["failed_by_cause"] == {"timeout": 1}
    counts = Counter(r["resolution_status"] for r in records)
    assert report["coverage"]["resolution_status"]["realised"] == dict(counts)
    singles = sum(1 for r in records if len(r["services"]) == 1) / len(records)
    realised = report["coverage"]["service_count"]["realised_share"]["single"]
    assert realised == pytest.approx(singles, abs=1e-4)
    assert report["cost"]["cost_per_record_usd"] == pytest.approx(0.24 / len(records), abs=1e-6)
    turns = Counter(len(r["turns"]) for r in records)
    assert report["length"]["turns_histogram"] == {str(k): v for k, v in sorted(turns.items())}
    assert report["unreadable_lines"]["count"] == 1
    assert "records.jsonl:6" in report["unreadable_lines"]["examples"][0]


def test_ngram_overlap_detects_copies(tmp_path: Path) -> None:
    """A sample of repeated turns has overlap 1; all-distinct turns have overlap 0."""
    from asyncgen.report.text_stats import ngram_overlap

    assert ngram_overlap(["a b c d e", "a b c d e"], 4) == 1.0
    assert ngram_overlap(["a b c d", "e f g h"], 4) == 0.0


async def test_page_is_self_contained_and_embeds_every_entry(tmp_path: Path) -> None:
    """report.html fetches nothing, and its chunks hold every record, reject and failure."""
    import base64
    import gzip
    import html as html_lib

    run, _ = _make_run(tmp_path)
    report = await write_report(run, embed=True)
    page = (run / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    chunks = re.findall(r"id='ag-chunk-\d+'>([^<]+)</script>", page)
    entries = [e for c in chunks for e in json.loads(gzip.decompress(base64.b64decode(c)))]
    assert len(entries) == 120 + 1 + 3
    assert [e["status"] for e in entries].count("Rejected") == 3
    assert json.loads((run / "report.json").read_text())["records"] == 120
    assert report["diversity"]["nearest_neighbour"]["count"] > 1
    for tile in report["headline"]:
        assert f"data-path='{html_lib.escape(tile['path'])}'" in page
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", page, flags=re.S))
    for key in ("valid_first_parse", "share_at_or_above_threshold", "resolution_status"):
        assert key not in visible


def test_cost_counts_every_session_of_a_resumed_run(tmp_path: Path) -> None:
    """A resume with nothing to do does not make the run look free."""
    run, records = _make_run(tmp_path)
    (run / "summary.json").write_text(
        json.dumps({"tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0})
    )
    lines = [
        {"session": "a", "tokens_in": 500, "tokens_out": 100, "cost_usd": 0.1},
        {"session": "a", "tokens_in": 9000, "tokens_out": 3000, "cost_usd": 0.2},
        {"session": "b", "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0},
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    report, _, _ = build_report(run, embed=False)
    assert report["cost"]["cost_usd"] == pytest.approx(0.2)
    assert report["cost"]["cost_per_record_usd"] == pytest.approx(0.2 / len(records), abs=1e-6)
    assert report["cost"]["tokens_in"] == 9000


def test_partial_run_without_summary_is_reported_not_fatal(tmp_path: Path) -> None:
    """A run with only a records file still reports, listing what is missing."""
    run = tmp_path / "partial"
    run.mkdir()
    (run / "records.jsonl").write_text(
        json.dumps({"turns": [{"user_utterance": "hi there"}]}) + "\n"
    )
    report, _, _ = build_report(run, embed=False)
    assert report["records"] == 1
    assert report["summary_found"] is False
    assert "resolution_status" in report["missing_fields"]


def test_cli_prints_headline_and_rejects_missing_dir(tmp_path: Path) -> None:
    """`asyncgen report` prints the figures; a missing directory is a one-line error."""
    run, _ = _make_run(tmp_path)
    result = CliRunner().invoke(app, ["report", str(run), "--no-embed"])
    assert result.exit_code == 0, result.output
    assert "Distinct word pairs" in result.output and "Valid on first parse" in result.output
    import sys

    from asyncgen.cli.errors import run_cli

    argv, sys.argv = sys.argv, ["asyncgen", "report", str(tmp_path / "nope")]
    try:
        assert run_cli(app) == 2
    finally:
        sys.argv = argv


def test_judge_scores_parse_strictly() -> None:
    """Judge answers outside 1-5 or without JSON are unusable, not guessed."""
    assert parse_scores('{"persona_adherence": 4, "naturalness": 3, "task_success": 5}') == {
        "persona_adherence": 4,
        "naturalness": 3,
        "task_success": 5,
    }
    assert parse_scores('{"persona_adherence": 9, "naturalness": 3, "task_success": 5}') is None
    assert parse_scores("no json here") is None


def test_judge_pass_scores_a_sample_through_the_simulator(tmp_path: Path) -> None:
    """`--judge` scores records through the transport (simulator) and reports the means."""
    run, _ = _make_run(tmp_path, n=12)
    result = CliRunner().invoke(app, ["report", str(run), "--no-embed", "--judge", "sim-model"])
    assert result.exit_code == 0, result.output
    judge = json.loads((run / "report.json").read_text())["judge"]
    assert judge["judged"] + judge["unusable"] == 12
    assert judge["judged"] >= 10
    assert all(1 <= v <= 5 for v in judge["means"].values())


def test_report_on_a_simulator_dialogue_run_matches_the_records(tmp_path: Path) -> None:
    """On a real simulator run, distinct-2, resolution mix and turn counts match a recount."""
    run = tmp_path / "sim-run"
    made = CliRunner().invoke(
        app, ["generate", "--pipeline", "dialogue", "--n", "40", "--out", str(run), "--quiet"]
    )
    assert made.exit_code == 0, made.output
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    report, _, _ = build_report(run, sample_size=100_000, embed=False)
    users = [t["user_utterance"] for r in records for t in r["turns"]]
    assert report["diversity"]["user_turns"]["distinct_2"] == pytest.approx(
        _independent_distinct(users, 2), abs=1e-4
    )
    statuses = Counter(r["resolution_status"] for r in records)
    assert report["coverage"]["resolution_status"]["realised"] == dict(statuses)
    assert report["coverage"]["resolution_status"]["target_share"]["Resolved"] == pytest.approx(0.4)
    turns = Counter(len(r["turns"]) for r in records)
    assert report["length"]["turns_histogram"] == {str(k): v for k, v in sorted(turns.items())}
    assert report["records"] == 40
    assert report["cost"]["tokens_in"] and report["cost"]["tokens_in"] > 0


def test_chart_axes_hold_every_value() -> None:
    """No bar runs past its axis: the axis ends at or above the largest share and count."""
    from asyncgen.report.charts import coverage_card, histogram_svg, nice_ticks

    for low, high in ((0, 0.053), (0, 34), (0.91, 0.985), (0, 0.4), (0, 7)):
        ticks = nice_ticks(low, high, 4)
        assert ticks[0] <= low and ticks[-1] >= high
    card = coverage_card(
        "user_emotions",
        {
            "realised": {"Happy": 53, "Sad": 47},
            "realised_share": {"Happy": 0.053, "Sad": 0.047},
            "target_share": {"Happy": 0.05, "Sad": 0.05},
            "max_deviation": 0.003,
        },
    )
    widths = [float(w) for w in re.findall(r"width:([\d.]+)%", card)]
    assert widths and max(widths) <= 100.0
    svg = histogram_svg([0.5, 1.5, 2.5], [34, 12], xlabel="turns", line=2.2, line_label="bar")
    heights = [float(h) for h in re.findall(r"height='([\d.]+)'", svg)]
    assert all(h <= 220 - 24 - 42 for h in heights)  # inside the plot area


def test_judge_scores_on_records_reach_the_headline_and_the_browser(tmp_path: Path) -> None:
    """`record["quality"]["scores"]` gives mean scores per criterion and a filterable score."""
    from asyncgen.report.browse import BrowserData

    run, records = _make_run(tmp_path, n=30)
    scored = []
    for i, record in enumerate(records):
        if i % 3 == 0:
            record["quality"] = {"scores": {"naturalness": 2 + i % 4, "task_success": 4}}
            scored.append(record)
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    browser = BrowserData()
    report, _, _ = build_report(run, embed=False, browser=browser)
    means = report["quality"]["means"]
    expected = sum(r["quality"]["scores"]["naturalness"] for r in scored) / len(scored)
    assert means["naturalness"] == pytest.approx(expected, abs=1e-3)
    assert report["quality"]["judged_records"] == len(scored)
    tile = next(t for t in report["headline"] if t["key"] == "judge")
    assert tile["value"] == pytest.approx((means["naturalness"] + means["task_success"]) / 2)
    index = browser.index()
    scores = index["columns"]["score"][: len(records)]
    assert sum(s is not None for s in scores) == len(scored)
    (tmp_path / "plain").mkdir()
    unjudged, _, _ = build_report(_make_run(tmp_path / "plain")[0], embed=False)
    assert next(t for t in unjudged["headline"] if t["key"] == "judge")["display"] == "not judged"


def test_browser_keeps_a_bounded_seeded_sample_in_file_order(tmp_path: Path) -> None:
    """A run longer than the browser's limit shows a uniform sample of it and says so."""
    import base64
    import gzip

    from asyncgen.report.browse import ACCEPTED, BrowserData
    from asyncgen.report.page import render_page

    run, records = _make_run(tmp_path, n=300)
    ids = [str(r.get("id") or r.get("dialogue_id")) for r in records]

    def sample(seed: int) -> tuple[dict[str, Any], BrowserData]:
        browser = BrowserData(seed=seed, limits={ACCEPTED: 40})
        report, _, _ = build_report(run, embed=False, browser=browser)
        return report, browser

    report, browser = sample(0)
    assert report["records"] == 300  # the other figures count every record
    others = browser.total - 300  # the run's rejects and failures, all kept
    assert browser.count == 40 + others and browser.sampled == {ACCEPTED: (40, 300)}
    every = browser.index()["columns"]["id"]
    kept = every[:40]  # records are read first
    positions = [ids.index(k) for k in kept]
    assert positions == sorted(positions) and len(set(kept)) == 40
    assert positions[-1] > 150 and positions[0] < 150  # spread over the run, not its head
    entries = [
        e for chunk in browser.chunks for e in json.loads(gzip.decompress(base64.b64decode(chunk)))
    ]
    assert [e["id"] for e in entries] == every
    assert sample(0)[1].index()["columns"]["id"] == every  # seeded: the same sample again
    assert sample(1)[1].index()["columns"]["id"] != every
    page = render_page(report, browser)
    assert f"Conversations ({40 + others} of {300 + others})" in page
    assert "40 of 300 accepted" in page
