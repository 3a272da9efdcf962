"""The assistant side of a conversation: one pool model per conversation, real history.

Model locking. The spec's `lock_model()`/`unlock_model()` stored the locked client in a
`threading.local`. Under asyncio many conversations share one thread, so that would leak
a model between them. Here the lock is an explicit `ModelHandle`:

- `handle = assistant.lock_model(rng)` returns the handle; pass it to `respond(...,
  handle=handle)`. This is what the generator does: nothing is shared between tasks.
- For spec-style code that calls `lock_model()` and then `respond()` without a handle,
  the handle is also kept in a `ContextVar`, which asyncio copies per task, so two
  conversations running as separate tasks never see each other's lock.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Sequence
from itertools import count

from asyncgen.config import AssistantModelSettings, PoolEntry, SamplingLists
from asyncgen.interaction.records import Message
from asyncgen.llm.types import ChatClient, ChatRequest, ChatResult, ModelHandle
from asyncgen.prompts import load_prompt

_instances = count()


class AssistantModel:
    """Answers user turns with the locked model of a weighted pool."""

    def __init__(
        self,
        settings: AssistantModelSettings,
        client: ChatClient,
        *,
        sampling: SamplingLists | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Bind the assistant settings to the one transport.

        Args:
            settings: provider/model or `model_pool`, temperature, token cap.
            client: the transport every call goes through.
            sampling: value lists drawn once per conversation (top_p, penalties).
            rng: used when `lock_model` is called without one.
        """
        self.settings = settings
        self.client = client
        self.sampling = sampling
        self._rng = rng or random.Random(0)
        self._locked: contextvars.ContextVar[ModelHandle | None] = contextvars.ContextVar(
            f"asyncgen_assistant_lock_{next(_instances)}", default=None
        )
        self._system_prompt = load_prompt("assistant_system").render()

    @property
    def pool(self) -> list[PoolEntry]:
        """The weighted pool; a single entry when none is configured."""
        if self.settings.model_pool:
            return list(self.settings.model_pool)
        return [PoolEntry(provider=self.settings.provider, model=self.settings.model)]

    def choose(self, rng: random.Random) -> ModelHandle:
        """Draw one pool model (and its sampling values) for a conversation."""
        lock = getattr(self.client, "lock_model", None)
        if callable(lock):
            handle = lock(rng, self.pool, self.sampling)
            if isinstance(handle, ModelHandle):
                return handle
        entry = rng.choices(self.pool, weights=[e.weight for e in self.pool])[0]
        return ModelHandle(entry.provider, entry.model, entry.base_url, entry.api_key_env)

    def lock_model(self, rng: random.Random | None = None) -> ModelHandle:
        """Lock a model for the current conversation (task-local) and return its handle."""
        handle = self.choose(rng or self._rng)
        self._locked.set(handle)
        return handle

    def unlock_model(self) -> None:
        """Release the current task's lock."""
        self._locked.set(None)

    @property
    def locked(self) -> ModelHandle | None:
        """The handle locked in the current task, if any."""
        return self._locked.get()

    async def respond(
        self,
        user_query: str,
        conversation_history: Sequence[Message],
        *,
        handle: ModelHandle | None = None,
        system_prompt: str | None = None,
    ) -> str:
        """The assistant's answer to `user_query` after `conversation_history`.

        Raises:
            LLMError: the transport could not get a usable answer.
        """
        result = await self.reply(
            user_query, conversation_history, handle=handle, system_prompt=system_prompt
        )
        return result.content

    async def reply(
        self,
        user_query: str,
        conversation_history: Sequence[Message],
        *,
        handle: ModelHandle | None = None,
        system_prompt: str | None = None,
    ) -> ChatResult:
        """Like `respond`, with the full result (model, tokens, latency)."""
        chosen = handle or self.locked or self.choose(self._rng)
        request = ChatRequest(
            messages=self.messages(user_query, conversation_history, system_prompt),
            kind="assistant",
            max_tokens=self.settings.max_completion_tokens,
            temperature=self.settings.temperature,
        )
        return await self.client.chat(request, chosen)

    def messages(
        self,
        user_query: str,
        conversation_history: Sequence[Message],
        system_prompt: str | None = None,
    ) -> list[dict[str, str]]:
        """System prompt, the history as real chat messages, then the new user turn."""
        chat = [{"role": "system", "content": system_prompt or self._system_prompt}]
        chat += [{"role": m.role, "content": m.content} for m in conversation_history]
        chat.append({"role": "user", "content": user_query})
        return chat
