"""`InteractionGenerator`: the spec's conversation generator, asyncio-native."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from itertools import count
from typing import TYPE_CHECKING, Any

import anyio

from asyncgen import offload
from asyncgen.config import ConfigLike, as_run_config
from asyncgen.errors import ConfigError
from asyncgen.interaction.assistant import AssistantModel
from asyncgen.interaction.conversation import ConversationTask, Parts
from asyncgen.interaction.distractor.types import Distractor
from asyncgen.interaction.item import ConversationRunner, Sleep, build_parts
from asyncgen.interaction.outcome import TaskOutcome
from asyncgen.interaction.records import Clock, Interaction, utc_now
from asyncgen.interaction.user_model import UserFeedbackModel
from asyncgen.llm.types import RunClient

if TYPE_CHECKING:
    from asyncgen.interaction.batch import BatchReport
    from asyncgen.interaction.storage import InteractionStorage

log = logging.getLogger("asyncgen.interaction")


class InteractionGenerator:
    """Generates multi-turn interactions with an optional distractor.

    Every model call goes through one `RunClient` (the transport). Pass `client=` to
    share the run's transport; without one, a transport is built from `config.llm` and
    closed by `aclose()` (or `async with generator:`).
    """

    def __init__(
        self,
        config: ConfigLike,
        distractor: Distractor | None = None,
        *,
        client: RunClient | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = anyio.sleep,
    ) -> None:
        """Initialise from the spec's config dict (or a RunConfig).

        Args:
            config: configuration; `interaction_generation.*` shapes the loop.
            distractor: optional rule-based or semantic distractor for noise injection.
            client: the transport; built from `config.llm` when None.
            clock: the source of timestamps.
            sleep: waits `retry_delay` between attempts (instant in tests).

        Raises:
            ConfigError: the config is invalid.
        """
        self.config = as_run_config(config)
        self.settings = self.config.interaction_generation
        self.distractor = distractor
        self.clock = clock
        self._sleep = sleep
        self._client = client
        self._owns_client = client is None
        self._endpoint: AsyncExitStack | None = None  # the simulator and transport we opened
        self._opening = anyio.Lock()
        self._runner: ConversationRunner | None = None
        self._sequence = count(1)
        self._instance = uuid.uuid4().hex[:6]  # ids stay unique across generators
        self._batches = count(1)
        self.is_simulated = False
        self.last_batch: BatchReport | None = None

    @property
    def client(self) -> RunClient:
        """The transport (built on first use when none was given).

        Raises:
            ConfigError: no key and no base URL, and the generator was not awaited yet
                (the embedded simulator starts on `async with` or the first call).
        """
        if self._client is None:
            from asyncgen.engine.session import needs_simulator

            if needs_simulator(self.config):
                raise ConfigError(
                    "no API key and no base URL: the embedded simulator starts on "
                    "`async with InteractionGenerator(...)` or the first generate call"
                )
            self._client = _build_transport(self.config, _api_key(self.config))
        return self._client

    @property
    def runner(self) -> ConversationRunner:
        """The one-conversation runner (assistant, user model, distractor) on the client."""
        if self._runner is None:
            parts = build_parts(self.config, self.client, self.distractor, self.clock)
            self._runner = ConversationRunner(parts, self.client, self._sleep)
        return self._runner

    @property
    def parts(self) -> Parts:
        """Assistant, user model and distractor, bound to the one client."""
        return self.runner.parts

    @property
    def assistant(self) -> AssistantModel:
        """The assistant model (spec: AssistantModel)."""
        return self.parts.assistant

    @property
    def user_model(self) -> UserFeedbackModel:
        """The simulated user (spec: UserFeedbackModel)."""
        return self.parts.user_model

    async def _open_client(self) -> None:
        """With no client given: the configured endpoint, or (no key and no base URL) the
        embedded simulator, started once, announced in one line and stopped by `aclose`,
        as the CLI does."""
        if self._client is not None:
            return
        async with self._opening:
            if self._client is not None:
                return
            from asyncgen.engine.session import needs_simulator, open_endpoint, open_transport

            # the key may come from `.env` files: read them off the loop
            if not await offload.to_thread(needs_simulator, self.config):
                api_key = await offload.to_thread(_api_key, self.config)
                self._client = _build_transport(self.config, api_key)
                return
            from rich.console import Console

            self.config = self.config.model_copy(deep=True)  # the caller's stays as given
            stack = AsyncExitStack()
            endpoint = await stack.enter_async_context(
                open_endpoint(self.config, Console(stderr=True))
            )
            self._client = await stack.enter_async_context(open_transport(self.config, endpoint))
            self._endpoint, self.is_simulated = stack, endpoint.is_simulated

    async def _ready(self) -> ConversationRunner:
        """The client open and the runner built (its prompt files read off the loop)."""
        await self._open_client()
        if self._runner is None:
            await offload.to_thread(lambda: self.runner)
        return self.runner

    async def aclose(self) -> None:
        """Close the transport (and the simulator) if this generator opened them."""
        if self._owns_client and self._client is not None:
            if self.distractor is not None:
                self.distractor.release_client(self._client)
            if self._endpoint is not None:
                stack, self._endpoint = self._endpoint, None
                await stack.aclose()
            else:
                closer = getattr(self._client, "aclose", None)
                if closer is not None:
                    await closer()
            self._client, self._runner, self.is_simulated = None, None, False

    async def __aenter__(self) -> InteractionGenerator:
        """Open the client now (the simulator, with no key), so every part is usable."""
        await self._ready()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def generate_interaction(
        self,
        persona_id: str,
        persona_features: dict[str, str],
        initial_query: str,
        system_prompt: str | None = None,
        original_query: str | None = None,
        target_turns: int = 3,
        query_id: str | None = None,
    ) -> Interaction | None:
        """Generate one multi-turn interaction, or None after every retry failed.

        Args:
            persona_id: persona identifier.
            persona_features: the persona's features.
            initial_query: the query after style transfer (the first user message).
            system_prompt: optional personalised assistant system prompt.
            original_query: the query before style transfer.
            target_turns: target turns, clamped to [min_turns, max_turns].
            query_id: query identifier for tracking.

        Returns:
            The interaction, or None (the reason is logged).
        """
        task = self.task(
            persona_id,
            persona_features,
            initial_query,
            system_prompt=system_prompt,
            original_query=original_query,
            target_turns=target_turns,
            query_id=query_id,
        )
        outcome = await self.run_task(task)
        if outcome.interaction is None:
            log.warning("interaction for %s failed: %s", persona_id, outcome.reason)
        return outcome.interaction

    def task(
        self, persona_id: str, features: dict[str, str], query: str, **kw: Any
    ) -> ConversationTask:
        """A task with a fresh id and seed (deterministic in the run seed and call order)."""
        number = next(self._sequence)
        stamp = self.clock().strftime("%Y%m%d_%H%M%S")
        kw.setdefault(
            "interaction_id", f"interaction_{persona_id}_{stamp}_{self._instance}_{number:04d}"
        )
        kw.setdefault("seed", f"{self.config.engine.seed}:call:{number}")
        return ConversationTask(persona_id, dict(features), query, **kw)

    async def run_task(self, task: ConversationTask) -> TaskOutcome:
        """Run a task with the spec's retries (`max_retries`, `retry_delay`)."""
        runner = await self._ready()
        return await runner.run(task)

    async def generate_interactions_batch(
        self,
        personas_with_queries: Sequence[dict[str, Any]],
        show_progress: bool = True,
        max_workers: int | None = None,
        storage: InteractionStorage | None = None,
    ) -> list[Interaction]:
        """Generate interactions for persona-query pairs as one run of the engine.

        The tasks are the run's plan; a failed conversation is replaced inside its item
        by a new query for the same persona (`max_supplement_rounds`). With `storage` the
        run is a new subdirectory of its folder (records.jsonl, failures, summary), which
        the storage indexes; without, a temporary directory.

        Args:
            personas_with_queries: `[{persona_id, persona_features, queries: [{adapted_query,
                original_query, (query_id, target_turns)}], (system_prompt)}]`.
            show_progress: show the run's progress.
            max_workers: conversations in flight at once (None:
                `interaction_generation.max_workers`).
            storage: an `InteractionStorage` whose folder receives the run.

        Returns:
            The interactions that succeeded, in task order; `last_batch` holds the report.

        Raises:
            StoreError: the run directory cannot be written.
        """
        from asyncgen.interaction.batch import run_batch

        await self._ready()
        report = await run_batch(
            self,
            personas_with_queries,
            show_progress=show_progress,
            max_workers=max_workers or self.settings.max_workers,
            storage=storage,
        )
        self.last_batch = report
        return report.interactions

    def run_name(self) -> str:
        """A fresh run-directory name for a batch: time (so names sort as batches ran),
        this generator's token, a count."""
        stamp = self.clock().strftime("%Y%m%d_%H%M%S_%f")
        return f"batch_{stamp}_{self._instance}_{next(self._batches):03d}"


def _api_key(config: Any) -> str | None:
    """`config.llm`'s key, from its environment variable or `.env` files (file reads)."""
    from asyncgen.config import resolve_api_key

    return resolve_api_key(config.llm)


def _build_transport(config: Any, api_key: str | None) -> RunClient:
    """A transport from `config.llm` with its key (`_api_key`, read beforehand)."""
    from asyncgen.llm import Transport

    transport: RunClient = Transport.from_settings(
        config.llm,
        api_key=api_key,
        base_url=config.llm.base_url,
    )
    return transport
