"""The wire-independent shapes every model call uses: request, result, model handle.

Pipelines depend on these and on the `ChatClient` protocol only, so a test can pass any
object with an async `chat` method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from asyncgen.jsontypes import JsonObject

if TYPE_CHECKING:
    import random

    from asyncgen.config.llm import PoolEntry, SamplingLists
    from asyncgen.llm.stats import StatsSnapshot
    from asyncgen.llm.usage import ChargeListener

Message = dict[str, str]
LiveCount = Callable[[], int]
"""How many items are running or about to start (the engine's worker pool)."""
Progress = Callable[[], tuple[int, int]]
"""The run's (done, target) records."""
LedgerCharges = Callable[[str], int]
"""How many of the run ledger's lines name a reference (a batch part's answers charged)."""
LedgerFlush = Callable[[], None]
"""Write the ledger's held lines now (batch answers' lines wait for the end of a loop turn)."""


@dataclass(frozen=True)
class ModelHandle:
    """One pool model and the sampling parameters drawn for one conversation.

    A conversation keeps its handle from first to last call (the spec's model locking),
    passed down explicitly so concurrent conversations never share state.
    """

    provider: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None


@dataclass
class ChatRequest:
    """One chat-completions call. `kind` names the prompt template that produced it."""

    messages: list[Message]
    kind: str = "generic"
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: JsonObject | None = None
    require_complete: bool = False
    stream: bool = False
    extra_body: JsonObject = field(default_factory=dict)
    metadata: JsonObject = field(default_factory=dict)
    body: JsonObject | None = None
    """When set, the request body exactly as it goes out (`model` aside): ``complete``
    sends each line as the user wrote it; the fields above then only inform the limiter."""


@dataclass
class ChatResult:
    """A usable answer and what it cost."""

    content: str
    model: str
    provider: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency: float
    attempts: int = 1
    request_id: str | None = None
    raw: JsonObject | None = None
    cached_tokens: int = 0
    usage_estimated: bool = False
    """True when the answer carried no `usage` and the token counts are asyncgen's estimate."""


class ChatClient(Protocol):
    """What a pipeline needs from the transport."""

    async def chat(self, request: ChatRequest, handle: ModelHandle | None = None) -> ChatResult:
        """Send one request through the limiter and retries; raise an `LLMError` when it fails."""
        ...


class UsageHook(Protocol):
    """Where the engine hooks the run's ledger into a client's usage accounting."""

    listeners: list[ChargeListener]
    """Called with every billed (or refused) attempt, in order."""

    def carry(self, cost_usd: float, tokens: int) -> None:
        """What earlier sessions of the run spent, so budgets are the run's."""
        ...


class StatsSource(Protocol):
    """A client's counters."""

    def snapshot(self) -> StatsSnapshot:
        """Every counter (requests, retries by cause, tokens, cost, limits, ...)."""
        ...


class RunClient(Protocol):
    """What the run engine needs of its client: `chat` for the pipelines, and the
    accounting around it. `Transport`, `BatchClient` and `ClusterClient` are one each;
    a client without accounting (tests, offline runs) gets the defaults of `ClientBase`."""

    async def chat(self, request: ChatRequest, handle: ModelHandle | None = None) -> ChatResult:
        """Send one request; raise an `LLMError` when it fails."""
        ...

    @property
    def usage(self) -> UsageHook:
        """Usage accounting: the ledger listens here, earlier spend is carried in."""
        ...

    @property
    def stats(self) -> StatsSource:
        """Counters for the progress line, metrics and the summary."""
        ...

    @property
    def budget_exhausted(self) -> bool:
        """True once `--max-cost`/`--max-tokens` is spent: start no new item."""
        ...

    def projected_cost(self, done: int, target: int) -> float | None:
        """USD for `target` items at the cost of the `done` ones so far; None: no estimate."""
        ...

    def attach_run(self, live: LiveCount, progress: Progress | None = None) -> None:
        """The engine's live item count and progress (batch mode flushes rounds by them)."""
        ...

    def link_ledger(self, charges: LedgerCharges, flush: LedgerFlush | None = None) -> None:
        """The run's ledger, so a resume never charges a batch part's answers twice (and
        a part is recorded charged only once its lines are written: `flush`)."""
        ...

    async def settle(self) -> None:
        """The run is about to close its ledger: finish every charge under way and start
        no new one until the next `link_ledger`, so no spend lands after the ledger shut."""
        ...

    def lock_model(
        self,
        rng: random.Random,
        pool: list[PoolEntry] | None = None,
        sampling: SamplingLists | None = None,
        *,
        draw_sampling: bool = True,
    ) -> ModelHandle | None:
        """One pool model (and sampling values) for a whole conversation; None: this
        client has no pool, the caller names its model itself."""
        ...


class _NoUsage:
    """Usage accounting of a client that bills nothing."""

    def __init__(self) -> None:
        self.listeners: list[ChargeListener] = []

    def carry(self, cost_usd: float, tokens: int) -> None:
        """Nothing is spent here, so there is no budget to carry."""


class _NoStats:
    """Counters of a client that counts nothing."""

    def snapshot(self) -> StatsSnapshot:
        """No counters."""
        return {}


class ClientBase:
    """`RunClient`'s accounting for a client that has none: nothing billed, nothing
    counted, no budget, no projection. A subclass adds `chat` (and overrides any part)."""

    @property
    def usage(self) -> UsageHook:
        """A fresh, empty listener list (no charge is ever made)."""
        return _NoUsage()

    @property
    def stats(self) -> StatsSource:
        """No counters."""
        return _NoStats()

    @property
    def budget_exhausted(self) -> bool:
        """Never: nothing is billed."""
        return False

    def projected_cost(self, done: int, target: int) -> float | None:
        """No estimate."""
        return None

    def attach_run(self, live: LiveCount, progress: Progress | None = None) -> None:
        """Nothing waits on the run's progress."""

    def link_ledger(self, charges: LedgerCharges, flush: LedgerFlush | None = None) -> None:
        """Nothing is charged here."""

    async def settle(self) -> None:
        """Nothing is charged here."""

    def lock_model(
        self,
        rng: random.Random,
        pool: list[PoolEntry] | None = None,
        sampling: SamplingLists | None = None,
        *,
        draw_sampling: bool = True,
    ) -> ModelHandle | None:
        """No pool: the caller uses its configured model."""
        return None
