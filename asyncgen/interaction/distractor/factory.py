"""`create_distractor_model`: the spec's factory, from a config dict or RunConfig."""

from __future__ import annotations

from asyncgen.config import ConfigLike, as_run_config
from asyncgen.interaction.distractor.semantic import SemanticDistractorModel
from asyncgen.interaction.distractor.surface import DistractorModel
from asyncgen.llm.types import ChatClient, ModelHandle


def create_distractor_model(
    config: ConfigLike,
    use_semantic: bool | None = None,
    *,
    client: ChatClient | None = None,
    seed: int | None = None,
) -> DistractorModel | SemanticDistractorModel | None:
    """The configured distractor, or None when `distractor.enabled` is false.

    Args:
        config: a RunConfig, a spec-style dict, or a YAML path.
        use_semantic: overrides `distractor.use_semantic`.
        client: the transport for the semantic distractor (else bound by the generator).
        seed: seeds habits and fallbacks; `engine.seed` when None.

    Raises:
        ConfigError: the config is invalid.
    """
    cfg = as_run_config(config)
    settings = cfg.distractor
    if not settings.enabled:
        return None
    chosen_seed = cfg.engine.seed if seed is None else seed
    semantic = settings.use_semantic if use_semantic is None else use_semantic
    if not semantic:
        return DistractorModel(settings, seed=chosen_seed)
    user = cfg.interaction_generation.user_model
    handle = ModelHandle(provider=user.provider, model=settings.model or user.model)
    return SemanticDistractorModel(
        settings,
        client,
        handle=handle,
        seed=chosen_seed,
        max_retries=cfg.interaction_generation.max_retries,
    )
