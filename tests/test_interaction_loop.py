"""The conversation loop: turn rules, real history, model locking, retries, noise metadata."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import orjson
import pytest

from asyncgen import offload
from asyncgen.interaction import (
    InteractionGenerator,
    UserFeedbackModel,
    create_distractor_model,
)
from asyncgen.interaction.offline import LocalResponderClient
from asyncgen.interaction.records import Interaction
from asyncgen.interaction.validate import problems
from asyncgen.llm.types import ChatRequest

FEATURES = {"role": "engineer", "communication_style": "casual", "domain": "software"}


def _config(**gen: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"retry_delay": 0, "max_retries": 2} | gen
    return {"interaction_generation": settings, "distractor": {"enabled": False}}


def _answer(satisfied: bool, feedback: str = "and what about tests?") -> Any:
    return lambda request, n: orjson.dumps({"satisfied": satisfied, "feedback": feedback}).decode()


def _generator(
    config: dict[str, Any], client: LocalResponderClient, **kw: Any
) -> InteractionGenerator:
    return InteractionGenerator(config, client=client, sleep=_no_sleep, **kw)


async def _no_sleep(_: float) -> None:
    return None


def _check(interaction: Interaction | None, config: dict[str, Any]) -> Interaction:
    assert interaction is not None
    gen = InteractionGenerator(config, client=LocalResponderClient()).settings
    assert problems(interaction, gen) == []
    return interaction


async def test_min_turns_turns_an_early_satisfied_into_a_follow_up() -> None:
    """A user satisfied at turn 1 still follows up until min_turns, then stops."""
    config = _config(min_turns=3, max_turns=5, user_model={"feedback_probability": 1.0})
    client = LocalResponderClient(
        scripts={"user_feedback": _answer(True, "thanks! one more thing?")}
    )
    interaction = _check(
        await _generator(config, client).generate_interaction("p", FEATURES, "hi", target_turns=5),
        config,
    )
    assert interaction.num_turns == 3
    assert interaction.metadata["end_reason"] == "satisfied"
    reasons = [
        m.metadata.get("followup_reason")
        for m in interaction.messages
        if m.metadata.get("is_followup")
    ]
    assert reasons == ["forced_follow_up", "forced_follow_up"]


async def test_feedback_probability_zero_stops_at_min_turns() -> None:
    """With feedback_probability 0 an unsatisfied user never follows up past min_turns."""
    config = _config(min_turns=2, max_turns=5, user_model={"feedback_probability": 0.0})
    client = LocalResponderClient(scripts={"user_feedback": _answer(False)})
    gen = _generator(config, client)
    for _ in range(5):
        interaction = _check(
            await gen.generate_interaction("p", FEATURES, "hi", target_turns=5), config
        )
        assert interaction.num_turns == 2
        assert interaction.metadata["end_reason"] == "no_follow_up"


async def test_feedback_probability_gates_follow_ups_at_its_rate() -> None:
    """Past min_turns, an unsatisfied user follows up in about feedback_probability of cases."""
    config = _config(min_turns=1, max_turns=2, user_model={"feedback_probability": 0.3})
    client = LocalResponderClient(scripts={"user_feedback": _answer(False)})
    gen = _generator(config, client)
    turns = [
        (await gen.generate_interaction("p", FEATURES, f"q{i}", target_turns=2)).num_turns  # type: ignore[union-attr]
        for i in range(300)
    ]
    share = turns.count(2) / len(turns)
    assert 0.22 < share < 0.38


async def test_never_satisfied_user_reaches_the_target_and_max_caps_it() -> None:
    """A never-satisfied user talks until the target; a target above max_turns is capped."""
    config = _config(min_turns=2, max_turns=4, user_model={"feedback_probability": 1.0})
    client = LocalResponderClient(scripts={"user_feedback": _answer(False)})
    gen = _generator(config, client)
    three = _check(await gen.generate_interaction("p", FEATURES, "hi", target_turns=3), config)
    assert three.num_turns == 3 and three.metadata["end_reason"] == "target_reached"
    capped = _check(await gen.generate_interaction("p", FEATURES, "hi", target_turns=99), config)
    assert capped.num_turns == 4 and capped.metadata["target_turns"] == 4


async def test_assistant_sees_the_real_chat_history() -> None:
    """Each assistant call carries system + the whole conversation as chat messages."""
    config = _config(min_turns=3, max_turns=3, user_model={"feedback_probability": 1.0})
    client = LocalResponderClient(scripts={"user_feedback": _answer(False)})
    interaction = _check(
        await _generator(config, client).generate_interaction(
            "p", FEATURES, "first question", system_prompt="SYS"
        ),
        config,
    )
    assistant_calls = [r for r, _ in client.calls if r.kind == "assistant"]
    assert len(assistant_calls) == 3
    last = assistant_calls[-1].messages
    assert last[0] == {"role": "system", "content": "SYS"}
    convo = interaction.get_full_conversation()
    assert last[1:] == convo[:-1]
    assert [m["role"] for m in last[1:]] == ["user", "assistant", "user", "assistant", "user"]


async def test_pool_model_is_locked_per_conversation() -> None:
    """With a weighted pool, each conversation uses one model; the mix follows the weights."""
    pool = [
        {"provider": "openai", "model": "model-a", "weight": 0.8},
        {"provider": "openrouter", "model": "model-b", "weight": 0.2},
    ]
    config = _config(min_turns=2, max_turns=4, assistant_model={"model_pool": pool})
    client = LocalResponderClient()
    gen = _generator(config, client)
    batch = [
        {
            "persona_id": f"p{i}",
            "persona_features": FEATURES,
            "queries": [{"adapted_query": f"question {i}"}],
        }
        for i in range(100)
    ]
    interactions = await gen.generate_interactions_batch(batch, show_progress=False, max_workers=8)
    assert len(interactions) == 100
    mix: Counter[str] = Counter()
    for it in interactions:
        models = {m.metadata["model"] for m in it.messages if m.role == "assistant"}
        assert len(models) == 1
        assert it.metadata["assistant_model"]["model"] in models
        mix[models.pop()] += 1
    assert 65 <= mix["model-a"] <= 95 and mix["model-b"] >= 5


async def test_lock_model_is_task_local() -> None:
    """Spec-style lock_model()/respond() in concurrent tasks never share a lock."""
    pool = [{"model": "model-a", "weight": 1.0}, {"model": "model-b", "weight": 1.0}]
    config = _config(assistant_model={"model_pool": pool})
    client = LocalResponderClient()
    # the synchronous property reads prompt files: async code calls it in a thread
    assistant = await offload.to_thread(lambda: _generator(config, client).assistant)

    async def conversation(seed: int) -> tuple[str, set[str]]:
        handle = assistant.lock_model(random.Random(seed))
        seen = set()
        for turn in range(3):
            await asyncio.sleep(0)
            await assistant.respond(f"turn {turn}", [])
            seen.add(client.calls[-1][1].model)  # type: ignore[union-attr]
            assert assistant.locked == handle
        assistant.unlock_model()
        return handle.model, seen

    results = await asyncio.gather(*(asyncio.create_task(conversation(s)) for s in range(12)))
    assert {m for m, _ in results} == {"model-a", "model-b"}
    assert assistant.locked is None


async def test_malformed_feedback_is_retried_then_a_failure_with_raw_text() -> None:
    """Bad user-model JSON is re-asked, the conversation retried, then failed with the raw text."""
    config = _config(min_turns=2, max_turns=3, max_retries=2)
    client = LocalResponderClient(scripts={"user_feedback": lambda r, n: "{'satisfied': maybe"})
    gen = _generator(config, client)
    task = gen.task("p", FEATURES, "hello")
    outcome = await gen.run_task(task)
    assert outcome.interaction is None
    assert outcome.reason == "malformed_user_feedback"
    assert outcome.raw == "{'satisfied': maybe"
    assert outcome.attempts == 3
    assert client.kinds().count("user_feedback") == 3 * 3  # 3 attempts × (1 + 2 re-asks)
    assert await gen.generate_interaction("p", FEATURES, "hello") is None


async def test_a_repair_turn_recovers_from_one_bad_answer() -> None:
    """After one malformed answer the re-ask carries the bad answer and a correction, then works."""

    def flaky(request: ChatRequest, n: int) -> str:
        return "oops not json" if n == 1 else '{"satisfied": false, "feedback": "more please"}'

    config = _config(min_turns=2, max_turns=2)
    client = LocalResponderClient(scripts={"user_feedback": flaky})
    interaction = _check(
        await _generator(config, client).generate_interaction("p", FEATURES, "hi"), config
    )
    assert interaction.metadata["attempts"] == 1
    feedback_calls = [r for r, _ in client.calls if r.kind == "user_feedback"]
    assert feedback_calls[1].messages[-2] == {"role": "assistant", "content": "oops not json"}
    assert "not usable" in feedback_calls[1].messages[-1]["content"]


async def test_user_model_generate_feedback_returns_none_when_satisfied() -> None:
    """The spec's generate_feedback returns the follow-up text, or None once satisfied."""
    from asyncgen.config import UserModelSettings

    client = LocalResponderClient(scripts={"user_feedback": _answer(True)})
    settings = UserModelSettings(feedback_probability=1.0)
    # test set-up: the constructor reads its prompt file, so async code builds it in a thread
    model = await offload.to_thread(lambda: UserFeedbackModel(settings, client, min_turns=1))
    assert await model.generate_feedback(FEATURES, [], "an answer", 1, 3) is None
    client.scripts["user_feedback"] = _answer(False, "not yet")
    assert await model.generate_feedback(FEATURES, [], "an answer", 1, 3) == "not yet"
    assert await model.generate_feedback(FEATURES, [], "an answer", 3, 3) is None


@pytest.mark.parametrize(
    "apply_to", [["initial_query"], ["followups"], ["initial_query", "followups"]]
)
async def test_noise_goes_where_configured_and_keeps_clean_text(apply_to: list[str]) -> None:
    """Noise hits only the configured turns; clean text, type and strategies are kept."""
    config = _config(min_turns=3, max_turns=3, user_model={"feedback_probability": 1.0})
    config["distractor"] = {
        "enabled": True,
        "apply_to": apply_to,
        "noise_probability": 1.0,
        "num_noisy_versions": 2,
    }
    client = LocalResponderClient(
        scripts={"user_feedback": _answer(False, "Could you please show the schedule?")}
    )
    distractor = create_distractor_model(config, seed=1)
    gen = _generator(config, client, distractor=distractor)
    interaction = _check(
        await gen.generate_interaction("p", FEATURES, "Please explain the library schedule."),
        config,
    )
    users = [m for m in interaction.messages if m.role == "user"]
    for message in users:
        where = "initial_query" if message.metadata["turn"] == 1 else "followups"
        assert message.metadata["was_noised"] is (where in apply_to)
        if message.metadata["was_noised"]:
            assert message.metadata["clean_content"] != message.content
            assert message.metadata["noise_type"] == "surface_noise"
            assert message.metadata["applied_strategies"]
    meta = interaction.metadata
    assert meta["distractor_applied"] and meta["distractor_type"] == "rule_based"
    if "initial_query" in apply_to:
        initial = meta["noisy_versions"]["initial_query"]
        assert initial["clean_query"] == interaction.initial_query
        assert len(initial["noisy_versions"]) == 2
        assert initial["noisy_versions"][0]["noisy_text"] == users[0].content
    assert ("followups" in meta["noisy_versions"]) is ("followups" in apply_to)
    assert interaction.get_trajectory(clean=True)[0] == "Please explain the library schedule."


async def test_disabled_distractor_means_no_noise() -> None:
    """distractor.enabled false: create_distractor_model gives None and nothing is noised."""
    config = _config()
    assert create_distractor_model(config) is None
    interaction = await _generator(config, LocalResponderClient()).generate_interaction(
        "p", FEATURES, "hi"
    )
    assert interaction is not None and not interaction.metadata["distractor_applied"]
    assert not any(m.metadata.get("was_noised") for m in interaction.messages)


def _doomed_feedback(request: ChatRequest, n: int) -> str:
    """A user model that answers no JSON for a "doomed" query, and follows up otherwise."""
    if "doomed" in request.messages[0]["content"]:
        return "not json at all"
    return '{"satisfied": false, "feedback": "go on"}'


async def test_failed_tasks_get_new_queries_in_a_supplement_round() -> None:
    """A persona whose conversation fails gets a freshly written query and succeeds."""

    config = _config(min_turns=2, max_turns=2, max_retries=0, max_supplement_rounds=2)
    client = LocalResponderClient(scripts={"user_feedback": _doomed_feedback})
    gen = _generator(config, client)
    fine = [{"adapted_query": "fine 1"}, {"adapted_query": "fine 2"}]
    doomed = [{"adapted_query": "doomed question"}]
    batch = [
        {"persona_id": "ok", "persona_features": FEATURES, "queries": fine},
        {"persona_id": "unlucky", "persona_features": FEATURES, "queries": doomed},
    ]
    interactions = await gen.generate_interactions_batch(batch, show_progress=False, max_workers=2)
    report = gen.last_batch
    assert len(interactions) == 3
    assert report.supplement_rounds == 1 and report.total_tasks == 4
    assert report.success_rate == pytest.approx(0.75)
    assert report.failed == [{"task": "unlucky_q001", "reason": "malformed_user_feedback"}]
    replacement = next(i for i in interactions if i.persona_id == "unlucky")
    assert replacement.metadata["query_id"] == "unlucky_s1_001"
    # one engine run: the replacement happened inside the item, so nothing failed there
    assert report.summary is not None and (report.summary.done, report.summary.failed) == (3, 0)
    assert "query_generation" in client.kinds() and "style_transfer" in client.kinds()


class _FailingClient(LocalResponderClient):
    """Answers like the simulator, except that assistant calls raise `error`."""

    error: Exception | None = None

    async def chat(self, request: ChatRequest, handle: Any = None) -> Any:
        if request.kind == "assistant" and self.error is not None:
            self.calls.append((request, handle))
            raise self.error
        return await super().chat(request, handle)


async def test_transport_failures_are_retried_unless_refused() -> None:
    """A 5xx after the transport's retries is retried whole; a 401 is not retried at all."""
    from asyncgen.errors import LLMStatusError, ServerError

    config = _config(max_retries=2)
    client = _FailingClient()
    gen = _generator(config, client)
    client.error = ServerError("boom", status_code=503)
    outcome = await gen.run_task(gen.task("p", FEATURES, "hi"))
    assert (outcome.reason, outcome.attempts) == ("llm_error", 3)
    assert outcome.detail and outcome.detail["type"] == "ServerError"
    client.error = LLMStatusError("bad key", status_code=401)
    outcome = await gen.run_task(gen.task("p", FEATURES, "hi"))
    assert (outcome.reason, outcome.attempts) == ("llm_refused", 1)
    assert outcome.detail == {"error": "bad key", "type": "LLMStatusError", "status_code": 401}


class _NoJsonModeClient(LocalResponderClient):
    """An endpoint that rejects `response_format` with a 400, as some providers do."""

    refused: int = 0

    async def chat(self, request: ChatRequest, handle: Any = None) -> Any:
        from asyncgen.errors import LLMStatusError

        if request.response_format is not None:
            self.refused += 1
            body = {"error": {"message": "Invalid parameter: 'response_format' not supported"}}
            raise LLMStatusError("request refused (400)", status_code=400, body=body)
        return await super().chat(request, handle)


async def test_endpoints_without_json_mode_are_asked_in_words_only() -> None:
    """A 400 on response_format is answered by asking without it, once per model."""
    from asyncgen.config import UserModelSettings

    client = _NoJsonModeClient()
    settings = UserModelSettings(model="no-json-mode-model", feedback_probability=1.0)
    # test set-up: the constructor reads its prompt file, so async code builds it in a thread
    model = await offload.to_thread(lambda: UserFeedbackModel(settings, client, min_turns=1))
    for _ in range(3):
        await model.generate_feedback(FEATURES, [], "an answer", 1, 3)
    assert client.refused == 1 and client.kinds().count("user_feedback") == 3


class _NoSupplementClient(LocalResponderClient):
    """Answers like the simulator, but writing new queries fails (the endpoint went down)."""

    async def chat(self, request: ChatRequest, handle: Any = None) -> Any:
        from asyncgen.errors import ServerError

        if request.kind == "query_generation":
            raise ServerError("down", status_code=503)
        return await super().chat(request, handle)


async def test_a_failing_supplement_round_keeps_what_the_batch_made() -> None:
    """When new queries cannot be written, the batch still returns its finished interactions
    and reports the short persona, instead of raising and losing them."""

    config = _config(min_turns=2, max_turns=2, max_retries=0, max_supplement_rounds=2)
    client = _NoSupplementClient(scripts={"user_feedback": _doomed_feedback})
    gen = _generator(config, client)
    batch = [
        {"persona_id": "ok", "persona_features": FEATURES, "queries": [{"adapted_query": "q"}]},
        {
            "persona_id": "unlucky",
            "persona_features": FEATURES,
            "queries": [{"adapted_query": "doomed question"}],
        },
    ]
    interactions = await gen.generate_interactions_batch(batch, show_progress=False, max_workers=2)
    assert [i.persona_id for i in interactions] == ["ok"]
    assert gen.last_batch.failed == [{"task": "unlucky_q001", "reason": "malformed_user_feedback"}]


async def test_refused_tasks_are_not_supplemented() -> None:
    """A 401-style refusal is final: no new queries are written for it."""
    from asyncgen.errors import LLMStatusError

    config = _config(max_retries=0, max_supplement_rounds=2)
    client = _FailingClient()
    client.error = LLMStatusError("bad key", status_code=401)
    gen = _generator(config, client)
    batch = [{"persona_id": "p", "persona_features": FEATURES, "queries": [{"adapted_query": "q"}]}]
    assert await gen.generate_interactions_batch(batch, show_progress=False) == []
    assert gen.last_batch.supplement_rounds == 0 and "query_generation" not in client.kinds()
