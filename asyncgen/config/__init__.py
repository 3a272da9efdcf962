"""Every setting of asyncgen as pydantic models, loaded from YAML, environment and CLI.

Precedence, lowest first: the packaged `default.yaml`, a user YAML file, `ASYNCGEN_…`
environment variables (and a `.env` file), then CLI overrides.
"""

from __future__ import annotations

from asyncgen.config.bench import BenchSettings, ReportSettings
from asyncgen.config.dedup import DedupSettings
from asyncgen.config.dialogue import DialogueSettings
from asyncgen.config.engine import EngineSettings
from asyncgen.config.interaction import (
    AssistantModelSettings,
    DistractorSettings,
    InteractionGenerationSettings,
    PersonaSettings,
    UserModelSettings,
)
from asyncgen.config.llm import (
    PROVIDER_DEFAULTS,
    LimitSettings,
    LLMSettings,
    PoolEntry,
    Price,
    RetrySettings,
    SamplingLists,
    TimeoutSettings,
)
from asyncgen.config.loader import (
    DEFAULT_CONFIG_PATH,
    ConfigLike,
    as_run_config,
    load_config,
    redacted,
    resolve_api_key,
    validate_file,
)
from asyncgen.config.root import RunConfig
from asyncgen.config.sim import FaultRates, SimSettings
from asyncgen.config.training import SplitSettings, TrainingDataSettings

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "PROVIDER_DEFAULTS",
    "AssistantModelSettings",
    "BenchSettings",
    "ConfigLike",
    "DedupSettings",
    "DialogueSettings",
    "DistractorSettings",
    "EngineSettings",
    "FaultRates",
    "InteractionGenerationSettings",
    "LLMSettings",
    "LimitSettings",
    "PersonaSettings",
    "PoolEntry",
    "Price",
    "ReportSettings",
    "RetrySettings",
    "RunConfig",
    "SamplingLists",
    "SimSettings",
    "SplitSettings",
    "TimeoutSettings",
    "TrainingDataSettings",
    "UserModelSettings",
    "as_run_config",
    "load_config",
    "redacted",
    "resolve_api_key",
    "validate_file",
]
