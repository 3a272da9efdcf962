"""What batch answers cost: batch prices for the ledger and budgets, online prices beside.

Batch answers are charged at the batch price per model (`batch_input`/`batch_output` in
`llm.prices`, else `llm.batch.price_share` of the online price) on the meter whose
listeners are the transport's (so the run's ledger hears batch and online charges in
one place). The same usage is also added up at online prices, for the saving shown in
progress and the summary.
"""

from __future__ import annotations

from typing import Any

from asyncgen.config.llm import LLMSettings, Price
from asyncgen.llm.usage import ChargeListener, UsageMeter


def batch_prices(settings: LLMSettings) -> dict[str, Price]:
    """The price table at batch prices: `batch_input/output`, else `price_share` of online."""
    share = settings.batch.price_share
    return {
        model: Price(
            input=p.batch_input if p.batch_input is not None else p.input * share,
            output=p.batch_output if p.batch_output is not None else p.output * share,
        )
        for model, p in settings.prices.items()
    }


class BatchCosts:
    """Usage at batch prices (heard by `listeners`) and the same usage at online prices."""

    def __init__(self, settings: LLMSettings, listeners: list[ChargeListener]) -> None:
        self.batch = UsageMeter(batch_prices(settings))
        self.batch.listeners = listeners  # the same list object: one place to listen
        self.at_online_prices = UsageMeter(settings.prices)

    def charge(
        self,
        model: str,
        tokens_in: int,
        tokens_out: int,
        *,
        kind: str,
        cached: int = 0,
        outcome: str = "ok",
        final: bool = True,
        ref: str = "",
    ) -> None:
        """One billed batch answer (`ref`: the part it came in, for the ledger)."""
        self.batch.add(
            model,
            tokens_in,
            tokens_out,
            cached=cached,
            kind=kind,
            outcome=outcome,
            final=final,
            ref=ref,
        )
        self.at_online_prices.add(model, tokens_in, tokens_out, cached=cached)

    def charge_body(
        self,
        model: str,
        body: Any,
        *,
        kind: str,
        outcome: str = "ok",
        final: bool = True,
        ref: str = "",
    ) -> bool:
        """Charge from a completion body's `usage` (0 tokens without one: the answer is
        still one billed request, so a part's ledger lines count its answers); False when
        it had none."""
        usage = body.get("usage") if isinstance(body, dict) else None
        if not isinstance(usage, dict):
            self.charge(model, 0, 0, kind=kind, outcome=outcome, final=final, ref=ref)
            return False
        self.charge(
            model,
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            kind=kind,
            outcome=outcome,
            final=final,
            ref=ref,
        )
        return True

    @property
    def saving_usd(self) -> float:
        """What the same answers would have cost online, less what they cost."""
        return self.at_online_prices.cost_usd - self.batch.cost_usd
