"""Budgets that cannot be silently void: a cost budget needs a price for every model in use.

`--max-cost` is enforced from the transport's usage meter, which prices tokens with
`llm.prices`; a model missing from the table costs $0.00 there, so the budget would never
trip. Such a run is refused before anything is written, with the way to give a price.
"""

from __future__ import annotations

from asyncgen.config import RunConfig
from asyncgen.config.llm import Price
from asyncgen.errors import ConfigError
from asyncgen.llm.usage import UsageMeter


def models_in_use(config: RunConfig) -> list[str]:
    """Every model the configured pipeline may call, in a stable order."""
    models = [config.llm.model]
    pipeline = config.engine.pipeline
    if pipeline == "interaction":
        gen = config.interaction_generation
        models += [gen.assistant_model.model, gen.user_model.model]
        models += [entry.model for entry in gen.assistant_model.model_pool]
        if config.distractor.model:
            models.append(config.distractor.model)
    elif pipeline == "dialogue" and config.dialogue.model:
        models.append(config.dialogue.model)
    if config.quality.judge.enabled and config.quality.judge.model:
        models.append(config.quality.judge.model)
    return list(dict.fromkeys(models))


def apply_prices(config: RunConfig, price_in: float | None, price_out: float | None) -> None:
    """`--price-in/--price-out` (USD per million tokens): the price of every model in use.

    Raises:
        ConfigError: only one of the two was given, or a value is negative.
    """
    if price_in is None and price_out is None:
        return
    if price_in is None or price_out is None:
        raise ConfigError("give both --price-in and --price-out (USD per million tokens)")
    if price_in < 0 or price_out < 0:
        raise ConfigError("--price-in and --price-out must be 0 or more (USD per million tokens)")
    for model in models_in_use(config):
        config.llm.prices[model] = Price(input=price_in, output=price_out)


def check_budget_prices(config: RunConfig) -> None:
    """Refuse a cost budget that some model in use has no price for.

    Raises:
        ConfigError: `llm.max_cost` is set and a model in use is missing from `llm.prices`.
    """
    if config.llm.max_cost is None:
        return
    meter = UsageMeter(config.llm.prices)
    missing = [m for m in models_in_use(config) if meter.price_of(m) is None]
    if not missing:
        return
    names = ", ".join(repr(m) for m in missing)
    raise ConfigError(
        f"--max-cost {config.llm.max_cost:g} cannot be enforced: no price for model {names}; "
        "give one with --price-in X --price-out Y (USD per million tokens) or in the config "
        f"under llm.prices: {{{missing[0]}: {{input: X, output: Y}}}}"
    )
