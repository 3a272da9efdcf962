"""`--max-cost` / `--max-tokens` in batch mode: a round is never submitted past them.

Spending is the run's: batch answers (at batch prices), online ones (the deadline
fallback, streamed requests) and earlier sessions' (`carry`). Each request reserves its
projected cost at batch prices when it joins a round, and keeps it until it settles; one
that would take spending plus what requests in rounds hold past the budget is refused.
"""

from __future__ import annotations

from asyncgen.config.llm import LLMSettings
from asyncgen.errors import BudgetExceededError
from asyncgen.llm.usage import UsageMeter

Reservation = tuple[float, int]  # USD, tokens


class RoundBudget:
    """The budget over batch and online spending, and what requests in rounds hold."""

    def __init__(self, settings: LLMSettings, batch: UsageMeter, online: UsageMeter) -> None:
        self.settings = settings
        self.batch = batch
        self.online = online
        self.held_cost = 0.0
        self.held_tokens = 0
        self.refused = False

    def spent_cost(self) -> float:
        """USD spent: this session's batch and online answers, and earlier sessions'."""
        return self.batch.cost_usd + self.online.cost_usd + self.batch.carried_cost

    def spent_tokens(self) -> int:
        """Tokens spent, counted as `spent_cost` counts dollars."""
        batch, online = self.batch, self.online
        return (
            batch.tokens_in + batch.tokens_out + batch.carried_tokens
            + online.tokens_in + online.tokens_out
        )  # fmt: skip

    @property
    def exhausted(self) -> bool:
        """A budget is spent, or a request was refused (no new item should start)."""
        s = self.settings
        if self.refused:
            return True
        if s.max_cost is not None and self.spent_cost() >= s.max_cost:
            return True
        return s.max_tokens is not None and self.spent_tokens() >= s.max_tokens

    def admit(self, model: str, kind: str, size: int, max_tokens: int | None) -> Reservation | None:
        """Hold a request's projected cost at batch prices (its prompt from the body's
        `size`, its answer from `max_tokens` or the configured estimate).

        Returns:
            The reservation to `release` when the request settles; None without a budget.

        Raises:
            BudgetExceededError: the round with this request would pass the budget.
        """
        s = self.settings
        if s.max_cost is None and s.max_tokens is None:
            return None
        completion = max_tokens or s.limits.completion_estimate
        cost, tokens = self.batch.projected_request(model, kind, size // 4, completion)
        over_cost = s.max_cost is not None and (
            self.spent_cost() + self.held_cost + cost > s.max_cost
        )
        over_tokens = s.max_tokens is not None and (
            self.spent_tokens() + self.held_tokens + tokens > s.max_tokens
        )
        if self.refused or over_cost or over_tokens:
            self.refused = True
            if s.max_cost is not None and (over_cost or not over_tokens):
                raise BudgetExceededError(
                    f"budget: --max-cost ${s.max_cost:g} would be passed by this batch round "
                    f"(spent ${self.spent_cost():.6f}, ${self.held_cost:.6f} held for requests "
                    f"in rounds, next request ~${cost:.6f} at batch prices)"
                )
            raise BudgetExceededError(
                f"budget: --max-tokens {s.max_tokens} would be passed by this batch round "
                f"(spent {self.spent_tokens()}, {self.held_tokens} held for requests "
                f"in rounds, next request ~{tokens})"
            )
        self.held_cost += cost
        self.held_tokens += tokens
        return cost, tokens

    def release(self, reservation: Reservation) -> None:
        """A request that held `reservation` settled (its real cost is charged)."""
        cost, tokens = reservation
        self.held_cost = max(0.0, self.held_cost - cost)
        self.held_tokens = max(0, self.held_tokens - tokens)
