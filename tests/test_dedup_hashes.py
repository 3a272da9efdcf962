"""Exact hashes and the spec's hash file; the text a record is compared by."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from asyncgen.config.dedup import DedupSettings
from asyncgen.dedup import HashSet, record_text, sha256_text
from asyncgen.errors import StoreError

DIALOGUE = {
    "turns": [
        {"turn_number": 1, "user_utterance": "Book a taxi", "assistant_response": "Where to?"},
        {"turn_number": 2, "user_utterance": "The station", "assistant_response": "Done."},
        {"turn_number": 3, "user_utterance": "Thanks", "assistant_response": "Bye."},
    ]
}
INTERACTION = {
    "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "How do I bake bread?"},
        {"role": "assistant", "content": "Mix flour and water."},
        {"role": "user", "content": "How long?"},
        {"role": "assistant", "content": "An hour."},
    ]
}


def test_sha256_text_matches_hashlib() -> None:
    """sha256_text is the plain SHA-256 hex digest of the UTF-8 text."""
    assert sha256_text("héllo") == hashlib.sha256("héllo".encode()).hexdigest()


def test_hash_set_round_trips_as_json_list(tmp_path: Path) -> None:
    """A saved HashSet is a JSON list of hex digests that loads back with the same members."""
    path = tmp_path / "dialogue_hashes.json"
    hashes = HashSet.load(path)
    assert len(hashes) == 0
    assert hashes.add_text("base one") and not hashes.add_text("base one")
    hashes.add_text("base two")
    hashes.save()
    on_disk = json.loads(path.read_text())
    assert on_disk == [sha256_text("base one"), sha256_text("base two")]
    again = HashSet.load(path)
    assert again.contains_text("base two") and not again.contains_text("base three")


def test_hash_set_rejects_a_file_that_is_not_a_list(tmp_path: Path) -> None:
    """A corrupt hash file is a StoreError naming the file, not a silent empty set."""
    path = tmp_path / "h.json"
    path.write_text('{"a": 1}')
    with pytest.raises(StoreError, match="h.json"):
        HashSet.load(path)


def test_dialogue_text_modes() -> None:
    """Whole dialogue, user turns only and first-k turns embed different text."""
    whole = record_text(DIALOGUE, DedupSettings(embed="dialogue"))
    users = record_text(DIALOGUE, DedupSettings(embed="user_turns"))
    first = record_text(DIALOGUE, DedupSettings(embed="first_k_turns", first_k=1))
    assert whole == (
        "User: Book a taxi\nAssistant: Where to?\nUser: The station\nAssistant: Done.\n"
        "User: Thanks\nAssistant: Bye."
    )
    assert users == "User: Book a taxi\nUser: The station\nUser: Thanks"
    assert first == "User: Book a taxi\nAssistant: Where to?"


def test_interaction_text_skips_system_and_counts_turns() -> None:
    """Interaction records embed user/assistant messages; a turn starts at each user message."""
    assert record_text(INTERACTION, DedupSettings(embed="first_k_turns", first_k=1)) == (
        "User: How do I bake bread?\nAssistant: Mix flour and water."
    )
    assert record_text(INTERACTION, DedupSettings(embed="user_turns")) == (
        "User: How do I bake bread?\nUser: How long?"
    )


def test_record_text_caps_length_and_skips_unknown_records() -> None:
    """Text is cut to max_chars; a record with no conversation is not checked (None)."""
    assert len(record_text(DIALOGUE, DedupSettings(max_chars=10)) or "") == 10
    assert record_text({"something": "else"}) is None
    assert record_text({"turns": []}) is None
