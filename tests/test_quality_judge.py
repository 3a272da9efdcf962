"""The judge in the loop: scored records, low-quality ones replaced, the judge billed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asyncgen.config import RunConfig, load_config
from asyncgen.contract import Record, Reject
from asyncgen.engine import RunOptions, run_generation
from asyncgen.errors import ConfigError
from asyncgen.interaction import InteractionPipeline
from asyncgen.interaction.offline import LocalResponderClient
from asyncgen.llm import Transport
from asyncgen.quality import build_judge
from asyncgen.sim.embedded import RunningSimulator, start_simulator
from asyncgen.sim.responders.contradiction import MARKER, has_contradiction

RATE = 0.10


def _config(base_url: str, **overrides: Any) -> RunConfig:
    values = {
        "llm.base_url": base_url,
        "interaction_generation.retry_delay": 0,
        "dedup.enabled": False,
        "quality.judge.enabled": True,
    } | overrides
    return load_config(overrides=values, environ={}, env_file=None)


async def _run(config: RunConfig, sim: RunningSimulator, run_dir: Path) -> Any:
    async with Transport.from_settings(config.llm, api_key=None, base_url=sim.base_url) as client:
        return await run_generation(
            config,
            InteractionPipeline(config),
            run_dir=run_dir,
            client=client,
            options=RunOptions(quiet=True, is_simulated=True),
        )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _contradicts(record: dict[str, Any]) -> bool:
    """Ground truth: a user turn's clean text holds the injected sentence."""
    for message in record["messages"]:
        clean = (message.get("metadata") or {}).get("clean_content") or message["content"]
        if message["role"] == "user" and MARKER in clean.lower():
            return True
    return False


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    """A simulator that drops the persona in 10 % of user follow-ups."""
    async with start_simulator(persona_contradiction_rate=RATE) as running:
        yield running


async def test_the_gate_keeps_contradicting_conversations_out_and_still_gives_n(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """10 % injected per follow-up; <= 1 % of the final n contradict; the judge is billed."""
    n = 400
    summary = await _run(_config(sim.base_url, **{"engine.n": n}), sim, tmp_path / "run")
    records = _lines(tmp_path / "run" / "records.jsonl")
    rejected = _lines(tmp_path / "run" / "rejected.jsonl")
    assert summary.status == "complete" and len(records) == n
    assert sum(map(_contradicts, records)) <= n // 100
    low = [r for r in rejected if r["reason"] == "low_quality"]
    assert len(low) >= n * RATE / 2  # the injection reached conversations and was caught
    assert all(_contradicts(r["data"]) for r in low)  # nothing clean was thrown away
    assert all(r["data"]["quality"]["scores"]["persona_adherence"] < 3 for r in low)
    for record in records:
        scores = record["quality"]["scores"]
        assert set(scores) == {"persona_adherence", "naturalness", "task_success"}
        assert min(scores.values()) >= 3 and record["quality"]["judge"]["model"]
    quality = json.loads((tmp_path / "run" / "summary.json").read_text())["quality"]
    assert quality["judged"] == n + len(low) and quality["rejected_low_quality"] == len(low)
    judge_lines = [
        c for c in _lines(tmp_path / "run" / "ledger.jsonl") if c["kind"] == "quality_judge"
    ]
    assert len(judge_lines) == quality["judged"]
    assert all(c["in"] > 0 and c["usd"] > 0 for c in judge_lines)
    assert summary.failure_reasons == {"low_quality": len(low)}


async def test_without_the_judge_the_contradictions_stay(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    """The same injection with the judge off: the share the gate removes is really there."""
    n = 200
    config = _config(sim.base_url, **{"engine.n": n, "quality.judge.enabled": False})
    await _run(config, sim, tmp_path / "run")
    records = _lines(tmp_path / "run" / "records.jsonl")
    assert sum(map(_contradicts, records)) >= n * 0.04
    assert all("quality" not in r for r in records)


def _record(*turns: tuple[str, str], **extra: Any) -> Record:
    messages = [{"role": role, "content": text} for role, text in turns]
    return Record(
        id="r-1", data={"persona_features": {"role": "nurse"}, "messages": messages} | extra
    )


async def _scores(record: Record) -> dict[str, Any]:
    config = load_config(overrides={"quality.judge.enabled": True}, environ={}, env_file=None)
    judge = build_judge(config)
    assert judge is not None
    outcome = await judge.review(record, LocalResponderClient())
    assert isinstance(outcome, Record | Reject) and outcome.data is not None
    return dict(outcome.data["quality"]["scores"])


async def test_simulated_judge_scores_what_the_text_shows() -> None:
    """Repeats, cut-off answers, unanswered endings and noised contradictions are seen."""
    good = await _scores(
        _record(("user", "How do I rotate logs?"), ("assistant", "Use logrotate."))
    )
    assert min(good.values()) >= 4
    repeated = await _scores(
        _record(
            ("user", "How do I rotate logs?"),
            ("assistant", "Use logrotate daily."),
            ("user", "and weekly?"),
            ("assistant", "Use logrotate daily."),
        )
    )
    assert repeated["naturalness"] <= 3
    cut = await _scores(_record(("user", "How?"), ("assistant", "First open the config and")))
    assert cut["naturalness"] <= 3
    unanswered = await _scores(
        _record(("user", "How?"), ("assistant", "Like this."), ("user", "ok?"))
    )
    assert unanswered["task_success"] <= 2
    noised = "what then Honstly, contrary to my basically profle, I hate tables"
    bad = await _scores(
        _record(
            ("user", "How?"), ("assistant", "Like this."), ("user", noised), ("assistant", "Sure.")
        )
    )
    assert bad["persona_adherence"] == 1


def test_marker_detection_has_no_false_positives_on_ordinary_text() -> None:
    assert has_contradiction("CONTRARY to my PROFILE!!")
    assert has_contradiction("contray to my  basically profile")
    assert has_contradiction("Contrrar to mt profile, I qk not a ojurnalist")
    assert not has_contradiction(
        "On the contrary, the profile page loads fine; the contract is mine."
    )


async def test_unusable_judge_answers_keep_the_record_and_are_counted() -> None:
    config = load_config(overrides={"quality.judge.enabled": True}, environ={}, env_file=None)
    judge = build_judge(config)
    assert judge is not None
    client = LocalResponderClient(scripts={"quality_judge": lambda request, seen: "no idea"})
    outcome = await judge.review(_record(("user", "Hi"), ("assistant", "Hello.")), client)
    assert isinstance(outcome, Record) and outcome.data["quality"]["unjudged"] == "unusable answer"
    assert judge.summary()["unjudged"] == 1 and judge.summary()["problems"] == {
        "unusable answer": 1
    }
    judge.settings = judge.settings.model_copy(update={"keep_unjudged": False})
    outcome = await judge.review(_record(("user", "Hi"), ("assistant", "Hello.")), client)
    assert isinstance(outcome, Reject) and outcome.reason == "unjudged"


def test_sample_share_picks_records_by_id() -> None:
    config = load_config(
        overrides={"quality.judge.enabled": True, "quality.judge.sample_share": 0.25},
        environ={},
        env_file=None,
    )
    judge = build_judge(config)
    assert judge is not None
    picked = [judge.is_sampled(f"id-{i}") for i in range(4000)]
    assert 0.22 < sum(picked) / len(picked) < 0.28
    assert picked == [judge.is_sampled(f"id-{i}") for i in range(4000)]


def test_an_unknown_rubric_criterion_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown rubric"):
        load_config(overrides={"quality.judge.rubric": ["vibes"]}, environ={}, env_file=None)
