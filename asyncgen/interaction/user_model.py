"""The simulated user: reads the answer, then follows up or stops when satisfied."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

from asyncgen.config import UserModelSettings
from asyncgen.errors import PromptError
from asyncgen.interaction.jsonout import JsonAsker, MalformedOutputError, json_request
from asyncgen.interaction.personas.model import profile_json, summary
from asyncgen.interaction.records import Message
from asyncgen.llm.types import ChatClient, ChatRequest, ModelHandle

Reason = Literal["follow_up", "forced_follow_up", "satisfied", "no_follow_up", "target_reached"]
TEMPLATE_FIELDS = frozenset(
    {"summary", "profile_json", "state_json", "transcript", "last_answer", "current_turn",
     "target_turns", "turn_rule"}
)  # fmt: skip
MUST_CONTINUE = "You have not got what you need yet: set satisfied to false and write a follow-up."


@dataclass(frozen=True)
class FeedbackTurn:
    """Where the conversation stands when the user reads an answer."""

    persona_features: dict[str, str]
    conversation_history: Sequence[Message]
    assistant_response: str
    current_turn: int
    target_turns: int


@dataclass(frozen=True)
class FeedbackDecision:
    """What the user does after an answer: a follow-up text, or stop (and why)."""

    followup: str | None
    reason: Reason
    satisfied: bool = False
    raw: str | None = None
    calls: int = 0


class UserFeedbackModel(JsonAsker):
    """A persona-driven user model answering JSON `{satisfied, feedback}`.

    Rules around the model's answer: at the target turn the user stops; from `min_turns`
    on, an unsatisfied user follows up only with probability `feedback_probability`; a
    "satisfied" before `min_turns` is turned into a follow-up.
    """

    def __init__(
        self,
        settings: UserModelSettings,
        client: ChatClient,
        *,
        min_turns: int = 1,
        max_retries: int = 3,
        rng: random.Random | None = None,
        hold_to_target: bool = False,
    ) -> None:
        """Bind the user-model settings to the one transport.

        Args:
            settings: model, temperature, token cap, prompt template, feedback_probability.
            client: the transport every call goes through.
            min_turns: turns before which the user never stops.
            max_retries: re-asks when the answer is not the JSON asked for.
            rng: used when `generate_feedback` is called without one.
        """
        handle = ModelHandle(provider=settings.provider, model=settings.model)
        prompt = settings.system_prompt_template
        super().__init__(client, handle, max_retries=max_retries, prompt=prompt)
        self.settings = settings
        self.min_turns = min_turns
        self.hold_to_target = hold_to_target  # turn_policy target: no stop before the target
        self._rng = rng or random.Random(0)
        unknown = self.template.fields - TEMPLATE_FIELDS
        if unknown:
            raise PromptError(
                f"user model prompt {settings.system_prompt_template!r} uses unknown fields "
                f"{', '.join(sorted(unknown))}; available: {', '.join(sorted(TEMPLATE_FIELDS))}"
            )

    async def generate_feedback(
        self,
        persona_features: dict[str, str],
        conversation_history: Sequence[Message],
        assistant_response: str,
        current_turn: int,
        target_turns: int,
    ) -> str | None:
        """The user's next message, or None when the user stops.

        Raises:
            MalformedOutputError: the model never answered with the JSON asked for.
            LLMError: the transport could not get an answer.
        """
        turn = FeedbackTurn(
            persona_features, conversation_history, assistant_response, current_turn, target_turns
        )
        return (await self.decide(turn, rng=self._rng)).followup

    async def decide(self, turn: FeedbackTurn, *, rng: random.Random) -> FeedbackDecision:
        """Apply the turn rules, asking the model only when its answer matters."""
        if turn.current_turn >= turn.target_turns:
            return FeedbackDecision(None, "target_reached")
        must_continue = turn.current_turn < self._floor(turn.target_turns)
        if not must_continue and rng.random() >= self.settings.feedback_probability:
            return FeedbackDecision(None, "no_follow_up")
        request = self.request(turn)
        satisfied, feedback, raw, calls = await self._ask(request, must_continue)
        if satisfied and not must_continue:
            return FeedbackDecision(None, "satisfied", True, raw, calls)
        reason: Reason = "forced_follow_up" if satisfied else "follow_up"
        return FeedbackDecision(feedback, reason, satisfied, raw, calls)

    def _floor(self, target_turns: int) -> int:
        """Turns before which the user never stops: min_turns, or the target when held."""
        return max(self.min_turns, target_turns) if self.hold_to_target else self.min_turns

    def request(self, turn: FeedbackTurn) -> ChatRequest:
        """The chat request asking the user model for its decision."""
        state = {
            "current_turn": turn.current_turn,
            "target_turns": turn.target_turns,
            "min_turns": self.min_turns,
            "must_continue": turn.current_turn < self._floor(turn.target_turns),
        }
        history = _without_last_answer(turn.conversation_history, turn.assistant_response)
        return json_request(
            self.template,
            max_tokens=self.settings.max_completion_tokens,
            temperature=self.settings.temperature,
            summary=summary(turn.persona_features),
            profile_json=profile_json(turn.persona_features),
            state_json=orjson.dumps(state).decode(),
            transcript=transcript(history),
            last_answer=turn.assistant_response,
            current_turn=turn.current_turn,
            target_turns=turn.target_turns,
            turn_rule=MUST_CONTINUE if state["must_continue"] else "",
        )

    async def _ask(self, request: ChatRequest, must_continue: bool) -> tuple[bool, str, str, int]:
        """Send the request, re-asking on malformed JSON; raise with the last raw text."""
        answer = await self.ask(
            request,
            required=("satisfied",),
            check=lambda data, raw: _check_feedback(data, raw, must_continue),
        )
        satisfied = _as_bool(answer.data["satisfied"], answer.raw)
        return satisfied, str(answer.data.get("feedback") or "").strip(), answer.raw, answer.calls


def transcript(messages: Sequence[Message]) -> str:
    """The conversation as `User:`/`Assistant:` lines for the user model's prompt."""
    if not messages:
        return "(nothing yet)"
    return "\n".join(f"{m.role.capitalize()}: {m.content}" for m in messages)


def _without_last_answer(history: Sequence[Message], answer: str) -> Sequence[Message]:
    """The history minus a trailing copy of the answer shown separately in the prompt."""
    if history and history[-1].role == "assistant" and history[-1].content == answer:
        return history[:-1]
    return history


def _check_feedback(data: dict[str, object], raw: str, must_continue: bool) -> None:
    """A usable decision: a boolean `satisfied`, and text whenever the user goes on."""
    satisfied = _as_bool(data["satisfied"], raw)
    if (must_continue or not satisfied) and not str(data.get("feedback") or "").strip():
        raise MalformedOutputError("user_feedback answer: no feedback text", raw=raw)


def _as_bool(value: object, raw: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise MalformedOutputError("user_feedback answer: satisfied is not a boolean", raw=raw)
