"""The public surface of asyncgen.dialogue and asyncgen.personas, pinned."""

from __future__ import annotations

import asyncgen.dialogue
import asyncgen.personas
from asyncgen.engine.registry import pipeline_class


def test_dialogue_public_api_is_pinned() -> None:
    """Every exported name resolves; the report's class and the plug-in are among them."""
    exported = set(asyncgen.dialogue.__all__)
    assert {"DialogueGenerator", "DialoguePipeline", "extract_dialogue",
            "generate_base_conversation", "assign_selected_emotions",
            "process_generated_dialogue", "load_multiwoz"} <= exported  # fmt: skip
    assert sorted(asyncgen.dialogue.__all__) == list(asyncgen.dialogue.__all__)
    for name in exported:
        assert getattr(asyncgen.dialogue, name) is not None


def test_personas_public_api_is_pinned() -> None:
    """FinePersonas loading and selection are importable from asyncgen.personas."""
    assert {"PersonaBank", "load_personas", "safe_eval"} <= set(asyncgen.personas.__all__)
    bank = asyncgen.personas.load_personas()
    assert hasattr(bank, "cluster_dict") and hasattr(bank, "summary_dict")


def test_engine_registry_finds_the_dialogue_pipeline() -> None:
    """`--pipeline dialogue` resolves to DialoguePipeline and implements the contract."""
    cls = pipeline_class("dialogue")
    assert cls is asyncgen.dialogue.DialoguePipeline
    for method in ("prepare", "plan_fingerprint", "plan_item", "run_item", "restore",
                   "index_entry", "dedup_text", "aclose"):  # fmt: skip
        assert callable(getattr(cls, method))
    assert cls.name == "dialogue" and cls.records_file == "records.jsonl"
