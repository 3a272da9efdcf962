"""The dialogue pipeline: MultiWOZ-seeded, persona-grounded service dialogues.

`DialogueGenerator` is the report's class (asyncio-native); `DialoguePipeline` plugs it
into the run engine. Base dialogues load from a local MultiWOZ v2.2 copy or the packaged
sample; item *i* of the plan is a pure function of (config, seed, i).
"""

from asyncgen.config.dialogue import (
    ASSISTANT_EMOTION_LIST,
    CORE_SERVICES,
    GENERAL_CATEGORIES,
    LOGICAL_COMBINATIONS,
    PREDEFINED_REGIONS,
    RESOLUTION_STATUSES,
    SERVICE_CATEGORIES,
    SERVICE_WEIGHTS,
    USER_EMOTION_LIST,
    travel_time_slots,
)
from asyncgen.dialogue.audit import RunAudit, audit_records, audit_run
from asyncgen.dialogue.generator import DialogueGenerator
from asyncgen.dialogue.mix import StratifiedMix, balanced_order, round_robin
from asyncgen.dialogue.multiwoz import (
    BaseDialogue,
    BaseTurn,
    MultiWOZDataset,
    anonymize,
    extract_dialogue,
    generate_base_conversation,
    load_multiwoz,
)
from asyncgen.dialogue.parse import (
    DialogueFormatError,
    DialogueTurn,
    assign_selected_emotions,
    format_dialogue,
    process_generated_dialogue,
)
from asyncgen.dialogue.pipeline import DialoguePipeline
from asyncgen.dialogue.plan import DialoguePlanner
from asyncgen.dialogue.space import ScenarioSpace
from asyncgen.dialogue.store import export_run
from asyncgen.dialogue.synthetic import synthesize_multiwoz, write_multiwoz

__all__ = [
    "ASSISTANT_EMOTION_LIST",
    "BaseDialogue",
    "BaseTurn",
    "CORE_SERVICES",
    "DialogueFormatError",
    "DialogueGenerator",
    "DialoguePipeline",
    "DialoguePlanner",
    "DialogueTurn",
    "GENERAL_CATEGORIES",
    "LOGICAL_COMBINATIONS",
    "MultiWOZDataset",
    "PREDEFINED_REGIONS",
    "RESOLUTION_STATUSES",
    "RunAudit",
    "SERVICE_CATEGORIES",
    "SERVICE_WEIGHTS",
    "ScenarioSpace",
    "StratifiedMix",
    "USER_EMOTION_LIST",
    "anonymize",
    "assign_selected_emotions",
    "audit_records",
    "audit_run",
    "balanced_order",
    "export_run",
    "extract_dialogue",
    "format_dialogue",
    "generate_base_conversation",
    "load_multiwoz",
    "process_generated_dialogue",
    "round_robin",
    "synthesize_multiwoz",
    "travel_time_slots",
    "write_multiwoz",
]
