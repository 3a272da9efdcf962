"""One conversation item: a task through the loop with the spec's retries, as an outcome.

What both engine plug-ins run per item (the pipeline's planned conversations, a batch's
tasks) and what `InteractionGenerator.run_task` exposes; no scheduling here.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from asyncgen.config import RunConfig
from asyncgen.contract import Reason
from asyncgen.errors import BudgetExceededError, LLMError, StoreError
from asyncgen.interaction.assistant import AssistantModel
from asyncgen.interaction.conversation import ConversationTask, Parts, converse
from asyncgen.interaction.distractor.types import Distractor
from asyncgen.interaction.jsonout import MalformedOutputError
from asyncgen.interaction.outcome import FINAL_REASONS, TaskOutcome
from asyncgen.interaction.records import Clock
from asyncgen.interaction.user_model import UserFeedbackModel
from asyncgen.interaction.validate import problems
from asyncgen.llm.types import RunClient

log = logging.getLogger("asyncgen.interaction")
Sleep = Callable[[float], Awaitable[None]]
NOT_RETRIED_STATUS = frozenset({400, 401, 403, 404})


def build_parts(
    config: RunConfig, client: RunClient, distractor: Distractor | None, clock: Clock
) -> Parts:
    """Assistant, user model and distractor, every call through `client` (the prompts
    load here, so a bad one fails early)."""
    settings = config.interaction_generation
    if distractor is not None:
        distractor.bind_client(client)
    return Parts(
        settings=settings,
        assistant=AssistantModel(settings.assistant_model, client, sampling=config.llm.sampling),
        user_model=UserFeedbackModel(
            settings.user_model,
            client,
            min_turns=settings.min_turns,
            max_retries=settings.max_retries,
            hold_to_target=settings.turn_policy == "target",
        ),
        distractor=distractor,
        noise=config.distractor,
        clock=clock,
    )


class ConversationRunner:
    """Runs one task with the spec's retries (`max_retries`, `retry_delay`); never raises
    for a failed conversation (the outcome says why)."""

    def __init__(self, parts: Parts, client: RunClient, sleep: Sleep) -> None:
        self.parts = parts
        self.client = client
        self._sleep = sleep

    async def run(self, task: ConversationTask) -> TaskOutcome:
        """Attempts until one succeeds, a reason is final, or the retries are spent."""
        settings = self.parts.settings
        outcome = TaskOutcome(None, 0)
        for attempt in range(1, settings.max_retries + 2):
            if self.client.budget_exhausted:
                detail = {"error": "llm.max_cost or llm.max_tokens is spent"}
                return TaskOutcome(None, attempt - 1, Reason.BUDGET_EXHAUSTED, None, detail)
            outcome = await self._attempt(task, attempt)
            if outcome.interaction is not None or outcome.reason in FINAL_REASONS:
                return outcome
            if attempt <= settings.max_retries:
                await self._sleep(settings.retry_delay)
        return outcome

    async def _attempt(self, task: ConversationTask, attempt: int) -> TaskOutcome:
        rng = random.Random(f"{task.seed}:attempt:{attempt}")
        try:
            interaction = await converse(task, self.parts, rng)
        except MalformedOutputError as exc:
            return TaskOutcome(None, attempt, Reason.MALFORMED_OUTPUT, exc.raw, {"error": str(exc)})
        except BudgetExceededError as exc:
            return TaskOutcome(None, attempt, Reason.BUDGET_EXHAUSTED, None, {"error": str(exc)})
        except LLMError as exc:
            return _llm_failure(exc, attempt)
        except (asyncio.CancelledError, StoreError):
            raise
        except Exception as exc:  # one conversation's bug must not sink the others
            log.exception("conversation %s failed unexpectedly", task.query_id)
            error = {"error": f"{type(exc).__name__}: {exc}"}
            return TaskOutcome(None, attempt, Reason.INTERNAL_ERROR, None, error)
        found = problems(interaction, self.parts.settings)
        if found:
            detail = {"problems": found, "interaction": interaction.to_dict()}
            return TaskOutcome(None, attempt, "invalid_interaction", None, detail)
        interaction.metadata["attempts"] = attempt
        return TaskOutcome(interaction, attempt)


def _llm_failure(exc: LLMError, attempt: int) -> TaskOutcome:
    """A transport failure; a request the endpoint refuses outright is not retried."""
    status = getattr(exc, "status_code", None)
    reason = Reason.LLM_REFUSED if status in NOT_RETRIED_STATUS else Reason.LLM_ERROR
    detail: dict[str, Any] = {"error": str(exc), "type": type(exc).__name__}
    if status is not None:
        detail["status_code"] = status
    return TaskOutcome(None, attempt, reason, getattr(exc, "raw", None), detail)
