"""Uniqueness: exact SHA-256 hashes and semantic near-duplicates (embeddings + FAISS).

The engine builds a gate with `create_gate(config, run_dir)`; pipelines build the text
they are compared by with `record_text`; the dialogue pipeline keeps base-conversation
hashes in a `HashSet`; the report embeds with `load_embedder`.
"""

from asyncgen.dedup.embedders import (
    CALIBRATION,
    Embedder,
    HashingEmbedder,
    MiniLMEmbedder,
    StaticEmbedder,
    effective_threshold,
    load_embedder,
)
from asyncgen.dedup.export import export_embeddings, export_hashes
from asyncgen.dedup.gate import SemanticGate, create_gate, settings_for, text_digest
from asyncgen.dedup.hashes import HashSet, normalize_text, sha256_text
from asyncgen.dedup.index import VectorIndex
from asyncgen.dedup.text import describe_text_mode, record_text

__all__ = [
    "CALIBRATION",
    "Embedder",
    "HashSet",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "SemanticGate",
    "StaticEmbedder",
    "VectorIndex",
    "create_gate",
    "describe_text_mode",
    "effective_threshold",
    "export_embeddings",
    "export_hashes",
    "load_embedder",
    "normalize_text",
    "record_text",
    "settings_for",
    "sha256_text",
    "text_digest",
]
