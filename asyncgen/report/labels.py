"""Plain words for the keys the report counts, so no page shows `valid_first_parse`."""

from __future__ import annotations

import functools

LABELS: dict[str, str] = {
    # dimensions
    "services": "Services",
    "service_count": "Services per dialogue",
    "scenario_category": "Scenario category",
    "resolution_status": "Resolution",
    "model": "Model",
    "persona": "Persona",
    "persona_cluster": "Persona cluster",
    "num_turns": "Turns per conversation",
    "regions": "Region",
    "time_slot": "Time of day",
    "user_emotions": "User emotion",
    "assistant_emotions": "Assistant emotion",
    "noise_layer": "Noise layer",
    "noise_strategy": "Noise strategy",
    "end_reason": "Why the conversation ended",
    # reasons
    "duplicate": "Near-duplicate",
    "invalid_format": "Invalid format",
    "low_quality": "Judged low quality",
    "duplicate_base_dialogue": "Base dialogue already used",
    "base_dataset_exhausted": "Base dataset exhausted",
    "malformed_user_feedback": "Malformed user-model answer",
    "llm_refused": "Request refused by the endpoint",
    "timeout": "Timed out",
    # noise
    "surface_noise": "Surface noise",
    "incomplete_information": "Incomplete information",
    "semantic_ambiguity": "Semantic ambiguity",
    "rule_based": "Rule-based",
    # prompt kinds (spend by stage)
    "dialogue_scenario": "Scenario writing",
    "dialogue_generation": "Dialogue writing",
    "assistant": "Assistant turns",
    "user_feedback": "User-model turns",
    "query_generation": "Query writing",
    "style_transfer": "Query style transfer",
    "intent_extraction": "Intent extraction",
    "semantic_noise": "Semantic noise",
    "judge": "Judge",
    # judge criteria
    "persona_adherence": "Persona adherence",
    "naturalness": "Naturalness",
    "task_success": "Task success",
    "goal_completion": "Goal completion",
    # end reasons
    "satisfied": "User satisfied",
    "no_follow_up": "User had no follow-up",
    "target_reached": "Planned turns reached",
    "forced_follow_up": "Follow-up forced (below minimum turns)",
}


@functools.lru_cache(maxsize=4096)
def label(key: str) -> str:
    """The plain-language name of a key: a known label, else the key in words."""
    if key in LABELS:
        return LABELS[key]
    if key.startswith("persona."):
        return "Persona: " + label(key.removeprefix("persona.")).lower()
    if key.endswith("_llm_error"):
        return f"Model call failed ({key.removesuffix('_llm_error').replace('_', ' ')})"
    if key.startswith("llm_error"):
        return "Model call failed"
    words = key.replace("_", " ").replace(".", " ").strip()
    return words[:1].upper() + words[1:] if words else key
