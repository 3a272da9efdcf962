"""Tokens and dollars per model, and the budgets that stop new work."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from asyncgen.config.llm import Price
from asyncgen.errors import BudgetExceededError


@dataclass
class ModelUsage:
    """What one model consumed."""

    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True)
class Charge:
    """One attempt as the provider bills it: the run's ledger appends one line per charge.

    `outcome` is "ok" or the failure cause; `final` marks a request's last attempt (so
    requests = final charges); a failed attempt whose answer arrived (empty, truncated,
    wrong format) is billed like a success, one that never got an answer carries 0 tokens.
    `estimated` marks token counts guessed because the body was unreadable. `ref` names
    where a batch answer came from (its part), so a resumed run can count what the
    ledger already holds for that part.
    """

    model: str
    kind: str
    outcome: str
    final: bool
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    cost_usd: float = 0.0
    estimated: bool = False
    ref: str = ""


ChargeListener = Callable[[Charge], None]


class UsageMeter:
    """Adds up usage from every response and says when a budget is spent."""

    def __init__(
        self,
        prices: dict[str, Price],
        *,
        max_cost: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self._prices = prices
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.by_model: defaultdict[str, ModelUsage] = defaultdict(ModelUsage)
        self.unpriced: set[str] = set()
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost_usd = 0.0
        self.listeners: list[ChargeListener] = []
        self.carried_cost = 0.0
        self.carried_tokens = 0
        self.reserved_cost = 0.0
        self.reserved_tokens = 0
        self.reserved_requests = 0
        self.refused = False
        self._per_kind: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])

    def price_of(self, model: str) -> Price | None:
        """The price entry for `model`, also matching ``provider/model`` names by their tail."""
        price = self._prices.get(model)
        if price is None and "/" in model:
            price = self._prices.get(model.rsplit("/", 1)[1])
        return price

    def add(
        self,
        model: str,
        tokens_in: int,
        tokens_out: int,
        *,
        cached: int = 0,
        kind: str = "",
        outcome: str = "ok",
        final: bool = True,
        estimated: bool = False,
        ref: str = "",
    ) -> float:
        """Record one billed response's usage; returns its cost in USD (0 for unpriced models).

        Listeners (the run's ledger) hear of it at once.
        """
        price = self.price_of(model)
        cost = 0.0
        if price is None:
            self.unpriced.add(model)
        else:
            cost = (tokens_in * price.input + tokens_out * price.output) / 1_000_000
        entry = self.by_model[model]
        entry.requests += 1
        entry.tokens_in += tokens_in
        entry.tokens_out += tokens_out
        entry.cost_usd += cost
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost_usd += cost
        seen = self._per_kind[kind]  # requests, tokens, USD: a kind's typical request
        seen[0] += 1
        seen[1] += tokens_in + tokens_out
        seen[2] += cost
        if self.listeners:
            self.notify(
                Charge(
                    model, kind, outcome, final, tokens_in, tokens_out, cached, cost, estimated, ref
                )
            )
        return cost

    def notify(self, charge: Charge) -> None:
        """Tell the listeners of an attempt (`add` calls it; unbilled failures come direct)."""
        for listener in self.listeners:
            listener(charge)

    def carry(self, cost_usd: float, tokens: int) -> None:
        """What earlier sessions of the run spent (from its ledger): budgets are the run's,
        so a killed and resumed run cannot spend its budget once per session."""
        self.carried_cost = cost_usd
        self.carried_tokens = tokens

    @property
    def budget_exhausted(self) -> bool:
        """True once `max_cost` dollars or `max_tokens` tokens (in + out) are spent, earlier
        sessions' spend (`carry`) included, or once `admit` refused a request."""
        if self.refused:
            return True
        spent = self.cost_usd + self.carried_cost
        if self.max_cost is not None and spent >= self.max_cost:
            return True
        tokens = self.tokens_in + self.tokens_out + self.carried_tokens
        return self.max_tokens is not None and tokens >= self.max_tokens

    @property
    def has_budget(self) -> bool:
        """A cost or token budget applies (otherwise `admit` is never needed)."""
        return self.max_cost is not None or self.max_tokens is not None

    def projected_request(
        self, model: str, kind: str, prompt_tokens: int, completion_tokens: int
    ) -> tuple[float, int]:
        """USD and tokens one request of `kind` will likely cost: the kind's average so far,
        else the given size (prompt + the answer's cap) at `model`'s price."""
        seen = self._per_kind.get(kind)
        if seen and seen[0]:
            return seen[2] / seen[0], round(seen[1] / seen[0])
        price = self.price_of(model)
        cost = 0.0
        if price is not None:
            cost = (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000
        return cost, prompt_tokens + completion_tokens

    def fits(self, cost: float, tokens: int) -> bool:
        """Spent + reserved (requests in flight) + this request stays within the budget."""
        if self.refused:
            return False
        spent = self.cost_usd + self.carried_cost + self.reserved_cost
        if self.max_cost is not None and spent + cost > self.max_cost:
            return False
        used = self.tokens_in + self.tokens_out + self.carried_tokens + self.reserved_tokens
        return self.max_tokens is None or used + tokens <= self.max_tokens

    @property
    def in_flight(self) -> bool:
        """Some admitted request has not settled yet."""
        return self.reserved_requests > 0

    def reserve(self, cost: float, tokens: int) -> None:
        """Count an admitted request's projected spend until it settles."""
        self.reserved_requests += 1
        self.reserved_cost += cost
        self.reserved_tokens += tokens

    def refuse(self, cost: float, tokens: int) -> BudgetExceededError:
        """The error for a request that would pass the budget; no new request starts after it."""
        self.refused = True
        if self.max_cost is not None and self.cost_usd + self.carried_cost + cost > self.max_cost:
            spent = self.cost_usd + self.carried_cost
            return BudgetExceededError(
                f"budget: --max-cost ${self.max_cost:g} would be passed "
                f"(spent ${spent:.6f}, next request ~${cost:.6f})"
            )
        used = self.tokens_in + self.tokens_out + self.carried_tokens
        return BudgetExceededError(
            f"budget: --max-tokens {self.max_tokens} would be passed "
            f"(spent {used} tokens, next request ~{tokens})"
        )

    def settle(self, cost: float, tokens: int) -> None:
        """A request admitted with this reservation ended (its real usage went to `add`)."""
        self.reserved_requests -= 1
        if not self.reserved_requests:  # no float residue left behind
            self.reserved_cost, self.reserved_tokens = 0.0, 0
        else:
            self.reserved_cost = max(0.0, self.reserved_cost - cost)
            self.reserved_tokens = max(0, self.reserved_tokens - tokens)

    def projected_cost(self, done: int, target: int) -> float:
        """Cost of `target` units if each costs what the `done` ones did on average."""
        if done <= 0:
            return self.cost_usd
        return self.cost_usd * max(target, done) / done

    def snapshot(self) -> dict[str, object]:
        """Per-model usage for metrics and summaries."""
        return {
            model: {
                "requests": u.requests,
                "tokens_in": u.tokens_in,
                "tokens_out": u.tokens_out,
                "cost_usd": round(u.cost_usd, 6),
            }
            for model, u in sorted(self.by_model.items())
        }
