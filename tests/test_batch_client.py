"""The batch client against a simulator process: gathering, limits, retries, crashes, deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from asyncgen.config.batch import BatchSettings
from asyncgen.config.llm import LLMSettings
from asyncgen.errors import BudgetExceededError, LLMError, LLMStatusError
from asyncgen.llm import Transport
from asyncgen.llm.batch_api import BatchAPI
from asyncgen.llm.batch_client import BatchClient
from asyncgen.llm.types import ChatRequest

FAST = {"poll_initial": 0.02, "poll_max": 0.1, "idle_flush_seconds": 0.05}


def make_client(sim: Any, run_dir: Path, **batch: Any) -> BatchClient:
    settings = LLMSettings(
        provider="compatible",
        base_url=sim.base_url,
        model="gpt-4o-mini",
        batch=BatchSettings(**{**FAST, **batch}),
    )
    transport = Transport.from_settings(settings, api_key=None, base_url=sim.base_url)
    api = BatchAPI(sim.base_url, None, settings.timeouts)
    return BatchClient(transport, settings, api, run_dir)


async def close(client: BatchClient) -> None:
    await client.aclose()
    await client.transport.aclose()


def ask(i: int, kind: str = "generic") -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": f"Suggest a quiet museum, {i}."}], kind=kind
    )


def sim_batches(sim: Any) -> list[dict[str, Any]]:
    response = httpx.get(f"{sim.base_url}/batches", params={"limit": 100})
    return list(reversed(response.json()["data"]))


async def test_a_round_flushes_when_every_live_conversation_waits(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """Ten live conversations, ten waiting: one batch of ten, not ten batches; costs halve."""
    sim = sim_factory(batch={"round_time": 0.2})
    client = make_client(sim, tmp_path, max_gather_seconds=30.0)
    await client.start()
    client.attach_run(lambda: 10)
    try:
        started = time.monotonic()
        results = await asyncio.gather(*(client.chat(ask(i)) for i in range(10)))
        elapsed = time.monotonic() - started
    finally:
        await close(client)
    assert all(r.content for r in results) and elapsed < 5
    batches = sim_batches(sim)
    assert len(batches) == 1 and batches[0]["request_counts"]["total"] == 10
    progress = client.progress()
    assert progress["rounds"] == 1 and progress["states"]["completed"]["requests"] == 10
    assert progress["cost_usd_batch"] > 0
    assert client.usage.cost_usd == pytest.approx(client.usage_online_prices.cost_usd / 2)
    part = tmp_path / "batch" / "parts" / "00000-000.json"
    assert '"state": "done"' in part.read_text()


async def test_a_round_waits_for_the_last_live_conversation(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """With 3 live and 2 waiting nothing is sent until the third asks (or the gather cap)."""
    sim = sim_factory(batch={"round_time": 0.0})
    client = make_client(sim, tmp_path, max_gather_seconds=30.0)
    await client.start()
    client.attach_run(lambda: 3)
    try:
        first = [asyncio.create_task(client.chat(ask(i))) for i in range(2)]
        await asyncio.sleep(0.5)
        assert sim_batches(sim) == [] and not any(t.done() for t in first)
        await client.chat(ask(2))
        await asyncio.gather(*first)
    finally:
        await close(client)
    assert [b["request_counts"]["total"] for b in sim_batches(sim)] == [3]


async def test_gathering_stops_at_the_size_cap_and_the_time_cap(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """Seven requests at 3 per batch go at once as one round of three batches; two requests
    that never reach the live count go after max_gather_seconds."""
    sim = sim_factory(batch={"round_time": 0.0})
    client = make_client(sim, tmp_path, max_gather_seconds=1.0, max_requests=3)
    await client.start()
    client.attach_run(lambda: 100)
    try:
        started = time.monotonic()
        await asyncio.gather(*(client.chat(ask(i)) for i in range(7)))
        full = time.monotonic() - started
        started = time.monotonic()
        await asyncio.gather(*(client.chat(ask(i)) for i in range(10, 12)))
        timed = time.monotonic() - started
    finally:
        await close(client)
    assert full < 0.8 and timed >= 1.0
    totals = [b["request_counts"]["total"] for b in sim_batches(sim)]
    assert sorted(totals[:3]) == [1, 3, 3] and totals[3] == 2
    assert client.rounds == 2


async def test_expired_requests_are_resubmitted_in_later_rounds(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """30 % expiry and 10 % errors: every request still answered, in several rounds."""
    sim = sim_factory(batch={"round_time": 0.0, "expiry_rate": 0.3, "error_rate": 0.1})
    client = make_client(sim, tmp_path, max_retries=8)
    await client.start()
    try:
        results = await asyncio.gather(*(client.chat(ask(i)) for i in range(40)))
    finally:
        await close(client)
    assert len(results) == 40 and all(r.content for r in results)
    batches = sim_batches(sim)
    assert batches[0]["status"] == "expired" and len(batches) >= 2
    assert client.resubmitted >= 12
    totals = [b["request_counts"]["total"] for b in batches]
    assert totals[0] == 40 and all(t < 40 for t in totals[1:])


async def test_retry_limit_ends_in_a_failure(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """A request that always expires fails after max_retries resubmissions."""
    sim = sim_factory(batch={"round_time": 0.0, "expiry_rate": 1.0})
    client = make_client(sim, tmp_path, max_retries=2)
    await client.start()
    try:
        with pytest.raises(LLMError, match="batch_expired in 3 rounds"):
            await client.chat(ask(0))
    finally:
        await close(client)
    assert len(sim_batches(sim)) == 3


async def test_a_400_fails_at_once_with_the_providers_message(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """A request the provider refuses is not resubmitted; the error says why."""
    sim = sim_factory(batch={"round_time": 0.0})
    client = make_client(sim, tmp_path)
    await client.start()
    try:
        bad = ChatRequest(messages=[])
        good, refused = await asyncio.gather(
            client.chat(ask(1)), client.chat(bad), return_exceptions=True
        )
    finally:
        await close(client)
    assert not isinstance(good, BaseException) and good.content
    assert isinstance(refused, LLMStatusError) and refused.status_code == 400
    assert "'messages' must be a non-empty array" in str(refused)
    assert len(sim_batches(sim)) == 1


async def test_rounds_split_across_batches_at_the_enqueued_token_limit(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """A round larger than the queue limit runs as consecutive batches that each fit; a
    client that does not know the limit learns it from the first refusal."""
    sim = sim_factory(batch={"round_time": 0.1, "enqueued_token_limit": 100})
    for known in (100, None):
        run_dir = tmp_path / str(known)
        client = make_client(sim, run_dir, enqueued_token_limit=known)
        await client.start()
        try:
            results = await asyncio.gather(*(client.chat(ask(i)) for i in range(20)))
        finally:
            await close(client)
        assert len(results) == 20 and client.rounds == (1 if known else 2)
        assert client.batches_created >= 3
    batches = sim_batches(sim)
    ok = [b for b in batches if b["status"] == "completed"]
    refused = [b for b in batches if b["status"] == "failed"]
    assert sum(b["request_counts"]["total"] for b in ok) == 40
    assert [e["code"] for b in refused for e in b["errors"]["data"]] == ["token_limit_exceeded"]


class Killed(BaseException):
    """Stands for SIGKILL at one chosen line of code."""


async def test_a_crash_between_create_and_record_finds_the_batch_again(
    sim_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the batch was created but before its id was recorded: the next session
    finds it by its metadata (run id, round, part) and creates no second batch."""
    sim = sim_factory(batch={"round_time": 0.5})
    first = make_client(sim, tmp_path)
    await first.start()
    original = first.journal.record

    def record(state: Any) -> None:
        if state.state == "created":
            raise Killed
        original(state)

    monkeypatch.setattr(first.journal, "record", record)
    task = asyncio.create_task(first.chat(ask(7)))
    for _ in range(200):
        await asyncio.sleep(0.02)
        if sim_batches(sim):
            break
    await asyncio.sleep(0.1)
    task.cancel()
    await close(first)
    part = (tmp_path / "batch" / "parts" / "00000-000.json").read_text()
    assert '"state": "uploaded"' in part and '"batch_id": null' in part
    assert len(sim_batches(sim)) == 1

    second = make_client(sim, tmp_path)
    await second.start()
    try:
        result = await asyncio.wait_for(second.chat(ask(7)), 10)
    finally:
        await close(second)
    assert result.content
    batches = sim_batches(sim)
    assert len(batches) == 1
    assert '"state": "done"' in (tmp_path / "batch" / "parts" / "00000-000.json").read_text()
    assert second.batches_created == 1 and second.rounds == 0


async def test_the_deadline_cancels_batches_and_finishes_online(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """Rounds of 5 s cannot meet a deadline 1 s away: the batch is cancelled, the requests
    are answered online within a few seconds, and later requests go online at once."""
    sim = sim_factory(batch={"round_time": 5.0})
    started = time.monotonic()
    deadline = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    client = make_client(sim, tmp_path, deadline=deadline, poll_max=0.05)
    await client.start()
    try:
        results = await asyncio.gather(*(client.chat(ask(i)) for i in range(10)))
        later = await client.chat(ask(99))
        elapsed = time.monotonic() - started
    finally:
        await close(client)
    assert all(r.content for r in results) and later.content
    assert 1.0 <= elapsed < 4.0
    assert [b["status"] for b in sim_batches(sim)] == ["cancelled"]
    in_batch = sum(u.requests for u in client.usage.by_model.values())
    assert client.online and client.online_requests >= 5
    assert client.online_requests + in_batch == 11
    assert client.transport.stats.successes == client.online_requests


async def test_budgets_count_batch_spending(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """--max-cost is spent by batch answers at the batch price (and the ledger hears them)."""
    sim = sim_factory(batch={"round_time": 0.0})
    client = make_client(sim, tmp_path)
    client.settings.max_cost = 0.01
    heard: list[Any] = []
    client.transport.usage.listeners.append(heard.append)
    await client.start()
    try:
        assert not client.budget_exhausted
        await asyncio.gather(*(client.chat(ask(i)) for i in range(10)))
    finally:
        await close(client)
    assert len(heard) == 10 and sum(c.cost_usd for c in heard) == pytest.approx(
        client.usage.cost_usd
    )
    assert 0 < client.usage.cost_usd == pytest.approx(client.usage_online_prices.cost_usd / 2)
    assert client.stats.snapshot()["cost_usd"] == pytest.approx(client.usage.cost_usd, abs=1e-6)


async def test_a_budget_that_cannot_pay_for_a_round_does_not_submit_it(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """Each request reserves its projected cost at batch prices as it joins a round: with
    room for three of ten, one batch of three goes and seven are refused at once (the
    engine leaves them for a resume); with room for none, no batch is created at all."""
    sim = sim_factory(batch={"round_time": 0.0})
    one = make_client(sim, tmp_path / "probe")
    await one.start()
    projected = one.usage.projected_request("gpt-4o-mini", "generic", 30, 512)[0]
    await close(one)
    for room, sent in ((3, 3), (0, 0)):
        client = make_client(sim, tmp_path / str(room))
        client.settings.max_cost = projected * (room + 0.5)
        before = len(sim_batches(sim))
        await client.start()
        try:
            results = await asyncio.gather(
                *(client.chat(ask(i)) for i in range(10)), return_exceptions=True
            )
        finally:
            await close(client)
        refused = [r for r in results if isinstance(r, BudgetExceededError)]
        assert len(refused) == 10 - sent, results
        assert "would be passed by this batch round" in str(refused[0])
        created = sim_batches(sim)[before:]
        assert [b["request_counts"]["total"] for b in created] == ([sent] if sent else [])
        assert client.budget_exhausted
        assert client.cost_usd <= client.settings.max_cost


async def test_a_crash_between_download_and_answer_charges_once_and_reuses_the_answers(
    sim_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the output file was saved but before anyone was answered: the next
    session charges those answers once (the ledger hears them) and serves them again."""
    sim = sim_factory(batch={"round_time": 0.0})
    first = make_client(sim, tmp_path)
    await first.start()

    def killed(*args: Any) -> None:
        raise Killed

    monkeypatch.setattr(first, "_resolve", killed)
    tasks = [asyncio.create_task(first.chat(ask(i))) for i in range(4)]
    state = tmp_path / "batch" / "parts" / "00000-000.json"
    for _ in range(200):
        await asyncio.sleep(0.02)
        if state.exists() and '"state": "done"' in state.read_text():
            break
    await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await close(first)
    assert first.usage.cost_usd == 0

    second = make_client(sim, tmp_path)
    heard: list[Any] = []
    second.transport.usage.listeners.append(heard.append)
    await second.start()
    kept = [k for ks in second._earlier._answers.values() for k in ks]
    assert len(kept) == 4 and all(isinstance(k, tuple) for k in kept)  # on disk, not in memory
    second.attach_run(lambda: 4)
    try:
        results = await asyncio.gather(*(second.chat(ask(i)) for i in range(4)))
    finally:
        await close(second)
    assert all(r.content for r in results) and second.from_earlier == 4
    assert len(heard) == 4 and len(sim_batches(sim)) == 1
    third = make_client(sim, tmp_path)
    await third.start()
    third.attach_run(lambda: 0)
    await close(third)
    assert third.usage.cost_usd == 0, "charged twice"


async def test_a_batch_the_provider_lost_is_submitted_again(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """A recorded batch the endpoint no longer knows (an embedded simulator that stopped
    with the killed run): its requests go into a new round instead of failing the run."""
    gone = sim_factory(batch={"round_time": 30.0})
    first = make_client(gone, tmp_path)
    await first.start()
    task = asyncio.create_task(first.chat(ask(5)))
    state = tmp_path / "batch" / "parts" / "00000-000.json"
    for _ in range(200):
        await asyncio.sleep(0.02)
        if state.exists() and '"state": "created"' in state.read_text():
            break
    task.cancel()
    await close(first)

    fresh = sim_factory(batch={"round_time": 0.0})
    second = make_client(fresh, tmp_path)
    await second.start()
    try:
        result = await asyncio.wait_for(second.chat(ask(5)), 10)
    finally:
        await close(second)
    assert result.content
    assert '"state": "lost"' in state.read_text()
    assert len(sim_batches(fresh)) == 1


async def test_the_clients_bookkeeping_stays_bounded_over_many_rounds(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """Twelve rounds, one after another: the client keeps only parts in flight and the
    last five round times, while its progress still counts every batch and request."""
    sim = sim_factory(batch={"round_time": 0.05})
    client = make_client(sim, tmp_path, max_gather_seconds=30.0)
    await client.start()
    client.attach_run(lambda: 3)
    try:
        for round_no in range(12):
            await asyncio.gather(*(client.chat(ask(round_no * 3 + i)) for i in range(3)))
    finally:
        await close(client)
    assert client.rounds == 12 and client.batches_created == 12
    assert len(client._parts) == 0  # every part ended: none held
    assert len(client.round_times) == 5
    progress = client.progress()
    assert progress["states"]["completed"] == {"batches": 12, "requests": 36}
    assert len(sim_batches(sim)) == 12


async def test_a_kill_during_the_final_record_does_not_charge_twice(
    sim_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after every answer of a part was charged (the run's ledger holds them) but
    before the part's record says so: the next session counts the part's lines in the
    ledger and charges nothing again, while its answers are served again."""
    from asyncgen.store.ledger import Ledger, ledger_path, read_ledger

    sim = sim_factory(batch={"round_time": 0.0})

    def with_ledger(client: BatchClient, session: str) -> Ledger:
        ledger = Ledger(ledger_path(tmp_path), session, fsync_interval=0)
        ledger.open()
        client.transport.usage.listeners.append(ledger.record)
        client.ledger_charges = ledger.charges_for
        return ledger

    first = make_client(sim, tmp_path)
    first_ledger = with_ledger(first, "one")
    await first.start()
    original = first.journal.record

    def record(state: Any) -> None:
        if state.extra.get("charged"):
            raise Killed
        original(state)

    monkeypatch.setattr(first.journal, "record", record)
    try:
        await asyncio.gather(*(first.chat(ask(i)) for i in range(4)))
    finally:
        await close(first)
        await first_ledger.aclose()
    state = (tmp_path / "batch" / "parts" / "00000-000.json").read_text()
    assert '"state": "done"' in state and '"charged"' not in state
    paid = first.usage.cost_usd
    assert paid > 0

    second = make_client(sim, tmp_path)
    second_ledger = with_ledger(second, "two")
    await second.start()
    second.attach_run(lambda: 4)
    try:
        results = await asyncio.gather(*(second.chat(ask(i)) for i in range(4)))
    finally:
        await close(second)
        await second_ledger.aclose()
    assert all(r.content for r in results) and second.from_earlier == 4
    assert second.usage.cost_usd == 0, "charged twice"
    totals = read_ledger(tmp_path)
    assert totals is not None and totals.total.cost_usd == pytest.approx(paid)
    assert len(sim_batches(sim)) == 1


async def test_the_next_round_waits_until_the_last_one_is_read(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """600 two-turn conversations: round 0's output is read in steps of 500 lines, and
    the conversations answered first ask again before the rest are answered; the next
    round still waits for all of them (2 rounds of 600, not a third split off)."""
    sim = sim_factory(batch={"round_time": 0.0})
    client = make_client(sim, tmp_path, max_gather_seconds=30.0)
    await client.start()
    client.attach_run(lambda: 600)

    async def talk(i: int) -> str:
        first = await client.chat(ask(i))
        follow_up = ChatRequest(
            messages=[
                *ask(i).messages,
                {"role": "assistant", "content": first.content},
                {"role": "user", "content": "And after that?"},
            ]
        )
        return (await client.chat(follow_up)).content

    try:
        answers = await asyncio.gather(*(talk(i) for i in range(600)))
    finally:
        await close(client)
    assert all(answers)
    assert [b["request_counts"]["total"] for b in sim_batches(sim)] == [600, 600]
    assert client.rounds == 2


def test_polls_never_sleep_past_the_expected_end_of_a_round(tmp_path: Path) -> None:
    """Polls back off (5 % of the time waited, 5..60 s), but once a round time is known a
    wait ends at the round's expected end, and after it is as long as the batch has run
    late (from an eighth of 5 % of a round) and at most 5 % of a round: a slow batch is
    noticed within 3 s of ending, not up to 60 s later, and one a little late within
    about as long again."""

    class Nowhere:
        base_url = "http://127.0.0.1:9/v1"

    client = make_client(
        Nowhere, tmp_path, poll_initial=5.0, poll_max=60.0, poll_share=0.05, idle_flush_seconds=1
    )
    assert client._poll_wait(2000.0) == 60.0  # nothing observed yet: the plain backoff
    client.round_times.append(60.0)
    assert client._poll_wait(10.0) == 5.0
    assert client._poll_wait(58.0) == pytest.approx(2.0)  # wakes at the expected end
    assert client._poll_wait(60.0) == pytest.approx(0.375)  # then an eighth of 5 % of it
    assert client._poll_wait(61.0) == pytest.approx(1.0)  # as late as it is so far
    assert client._poll_wait(62.5) == pytest.approx(2.5)
    assert client._poll_wait(1000.0) == pytest.approx(3.0)  # at most 5 % of a round


async def test_requests_sent_online_count_batch_spending_against_the_budget(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """After the deadline fallback (or for a streamed request) the transport's budget
    check includes what batch answers cost: a budget the batch round nearly spent
    refuses the next online request instead of granting it a fresh budget."""
    sim = sim_factory(batch={"round_time": 0.0})
    client = make_client(sim, tmp_path)
    client.settings.max_cost = 0.01
    client.transport.usage.max_cost = 0.01
    await client.start()
    try:
        await asyncio.gather(*(client.chat(ask(i)) for i in range(30)))
        spent = client.usage.cost_usd
        online, _ = client.transport.usage.projected_request("gpt-4o-mini", "generic", 10, 512)
        assert online / 2 < spent < 0.01
        # room for one online request on a fresh budget, none once batch spending counts
        client.transport.usage.max_cost = client.settings.max_cost = spent + online / 2
        client.online = True  # as after the deadline fallback
        with pytest.raises(BudgetExceededError):
            await client.chat(ask(99))
    finally:
        await close(client)
    assert client.transport.stats.successes == 0


def test_a_token_budget_refuses_rounds_and_says_so() -> None:
    """`--max-tokens` alone: the request that would pass it is refused with the token
    budget in the message, and so is every later one (no new work after a refusal)."""
    from asyncgen.llm.batch_budget import RoundBudget
    from asyncgen.llm.usage import UsageMeter

    settings = LLMSettings(provider="compatible", model="gpt-4o-mini", max_tokens=1_500)
    budget = RoundBudget(settings, UsageMeter({}), UsageMeter({}))
    held = budget.admit("gpt-4o-mini", "generic", 400, 512)  # ~100 + 512 tokens
    assert held is not None and budget.held_tokens == 612
    assert budget.admit("gpt-4o-mini", "generic", 400, 512) is not None
    for _ in range(2):
        with pytest.raises(BudgetExceededError, match="--max-tokens 1500 would be passed"):
            budget.admit("gpt-4o-mini", "generic", 400, 512)
    assert budget.exhausted
    budget.release(held)
    assert budget.held_tokens == 612


async def test_each_submitted_round_gives_the_heaps_free_pages_back(
    sim_factory: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a round is in its batch and nothing else is being gathered or read, the
    client hands the heap's free pages back (off the loop): RSS follows the round in
    flight, not the high-water mark of every round before it."""
    from asyncgen import heap

    calls: list[int] = []
    monkeypatch.setattr(heap, "give_back_free_pages", lambda: calls.append(1) or True)
    sim = sim_factory(batch={"round_time": 0.05})
    client = make_client(sim, tmp_path, max_gather_seconds=30.0)
    await client.start()
    client.attach_run(lambda: 3)
    try:
        for round_no in range(3):
            await asyncio.gather(*(client.chat(ask(round_no * 3 + i)) for i in range(3)))
    finally:
        await close(client)
    assert client.rounds == 3 and len(calls) == 3
