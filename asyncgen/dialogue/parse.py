"""Strict validation and parsing of `<User>`/`<Intent>`/`<Assistant>` dialogues, and emotions."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, TypeVar

from asyncgen.errors import LLMResponseError

TURN_RE = re.compile(
    r"<User>(?P<user>.*?)</User>\s*<Intent>(?P<intent>.*?)</Intent>\s*"
    r"(?:<State>(?P<state>.*?)</State>\s*)?"
    r"<Assistant>(?P<assistant>.*?)</Assistant>",
    re.DOTALL,
)
TAG_RE = re.compile(r"</?(User|Intent|State|Assistant)>", re.IGNORECASE)
FENCE_RE = re.compile(r"^```[a-zA-Z]*\s*\n(?P<body>.*)\n```\s*$", re.DOTALL)
MAX_INTENT_CHARS = 80


class DialogueFormatError(LLMResponseError):
    """A generated dialogue breaks the `<User>`/`<Intent>`/`<Assistant>` format or turn range."""


@dataclass
class DialogueTurn:
    """One parsed turn: the user's message, its intent, the assistant's reply, and emotions."""

    turn_number: int
    user_utterance: str
    intent: str
    assistant_response: str
    user_emotion: str | None = None
    assistant_emotion: str | None = None
    state: dict[str, dict[str, str]] | None = None  # after the user's message (grounding)

    def to_dict(self) -> dict[str, object]:
        """The record form of the turn (`state` only when the dialogue is grounded)."""
        # By hand: `dataclasses.asdict` deep-copies every field, and at 10,000 records a
        # round it was the largest CPU cost of turning answers into records.
        data: dict[str, object] = {
            "turn_number": self.turn_number,
            "user_utterance": self.user_utterance,
            "intent": self.intent,
            "assistant_response": self.assistant_response,
            "user_emotion": self.user_emotion,
            "assistant_emotion": self.assistant_emotion,
        }
        if self.state is not None:
            data["state"] = {service: dict(slots) for service, slots in self.state.items()}
        return data


def process_generated_dialogue(text: str, min_turns: int, max_turns: int) -> list[DialogueTurn]:
    """Validate a generated dialogue and split it into turns.

    Valid means: nothing but tagged turns (an enclosing code fence is tolerated), each
    turn `<User>…</User><Intent>…</Intent><Assistant>…</Assistant>` with non-empty,
    tag-free fields and a one-line intent, and between `min_turns` and `max_turns` turns.

    Raises:
        DialogueFormatError: the text breaks the format; `raw` holds the text.
    """
    body = _strip_fence(text.strip())
    turns = _plain_turns(body) or _matched_turns(body, text)
    if not min_turns <= len(turns) <= max_turns:
        raise _invalid(f"{len(turns)} turns, outside the requested {min_turns}-{max_turns}", text)
    return turns


def _matched_turns(body: str, text: str) -> list[DialogueTurn]:
    """Every turn by `TURN_RE`; the first break of the format raises (the exact message)."""
    matches = list(TURN_RE.finditer(body))
    if not matches:
        raise _invalid("no <User>/<Intent>/<Assistant> turn found", text)
    turns: list[DialogueTurn] = []
    cursor = 0
    for match in matches:
        _check_gap(body[cursor : match.start()], text)
        turns.append(_turn(len(turns) + 1, match, text))
        cursor = match.end()
    _check_gap(body[cursor:], text)
    return turns


def _plain_turns(body: str) -> list[DialogueTurn] | None:
    """The turns of a plain well-formed body by string search, or None to let `TURN_RE`
    decide (a `<State>`, a `<` in a field, text outside the tags, anything unusual).

    The same turns `_matched_turns` gives wherever it answers: the body is cut after each
    `</Assistant>`, and each piece must be whitespace, `<User>`, the user's words,
    `</User>`, whitespace, `<Intent>`, the intent, `</Intent>`, whitespace, `<Assistant>`
    and the reply, with no `<` in a field: each tag is then the first of its kind after
    the one before, which is where the regex's lazy groups end. 57 -> 32 us a dialogue
    (no backtracking scan; fields already single-spaced are kept as they are); the last
    round's resolve parses every dialogue of a batch at once.
    """
    turns: list[DialogueTurn] = []
    *pieces, tail = body.split("</Assistant>")
    if tail and not tail.isspace():
        return None
    for piece in pieces:
        gap, found, rest = piece.partition("<User>")
        if not found or (gap and not gap.isspace()):
            return None
        raw_user, found, rest = rest.partition("</User>")
        if not found:
            return None
        gap, found, rest = rest.partition("<Intent>")
        if not found or (gap and not gap.isspace()):
            return None
        raw_intent, found, rest = rest.partition("</Intent>")
        if not found:
            return None
        gap, found, raw_reply = rest.partition("<Assistant>")
        if not found or (gap and not gap.isspace()):
            return None
        user = _single_spaced(raw_user)
        intent = _single_spaced(raw_intent)
        reply = _single_spaced(raw_reply)
        if not (user and intent and reply) or "<" in user or "<" in intent or "<" in reply:
            return None
        if len(intent) > MAX_INTENT_CHARS or "\n" in raw_intent:
            return None
        turns.append(DialogueTurn(len(turns) + 1, user, intent, reply))
    return turns or None


def _single_spaced(raw: str) -> str:
    """`" ".join(raw.split())`, without the split when `raw` is already so (printable
    means no whitespace but the ASCII space, so its words are single-spaced then)."""
    if raw and raw.isprintable() and raw[0] != " " and raw[-1] != " " and "  " not in raw:
        return raw
    return " ".join(raw.split())


def _strip_fence(body: str) -> str:
    fenced = FENCE_RE.match(body)
    return fenced.group("body").strip() if fenced else body


def _check_gap(gap: str, text: str) -> None:
    if gap.strip():
        raise _invalid(f"text outside the turn tags: {gap.strip()[:60]!r}", text)


def _turn(number: int, match: re.Match[str], text: str) -> DialogueTurn:
    # Once per turn of every answer (about 100,000 a 10,000-dialogue run): plain locals,
    # and the tag regex only for a field that holds a "<" at all.
    raw_user, raw_intent, raw_assistant = match.group("user", "intent", "assistant")
    user = _field(number, "User", raw_user, text)
    intent = _field(number, "Intent", raw_intent, text)
    assistant = _field(number, "Assistant", raw_assistant, text)
    if len(intent) > MAX_INTENT_CHARS or "\n" in raw_intent.strip():
        raise _invalid(f"turn {number}: <Intent> is not a short label", text)
    turn = DialogueTurn(number, user, intent, assistant)
    if match.group("state") is not None:
        turn.state = _state(number, match.group("state"), text)
    return turn


def _field(number: int, tag: str, raw: str, text: str) -> str:
    """A turn's field with its whitespace collapsed; empty or tag-holding fields are invalid."""
    value = _single_spaced(raw)
    if not value:
        raise _invalid(f"turn {number}: empty <{tag}>", text)
    if "<" in value and TAG_RE.search(value):
        raise _invalid(f"turn {number}: a tag inside <{tag}>", text)
    return value


def _state(number: int, raw: str, text: str) -> dict[str, dict[str, str]]:
    """A `<State>` body: JSON service → slot → value (values as strings)."""
    try:
        data = json.loads(raw.strip() or "{}")
    except json.JSONDecodeError:
        raise _invalid(f"turn {number}: <State> is not JSON", text) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise _invalid(f"turn {number}: <State> is not service -> slot -> value", text)
    return {
        str(service): {str(slot): str(value) for slot, value in slots.items()}
        for service, slots in data.items()
    }


def _invalid(reason: str, text: str) -> DialogueFormatError:
    return DialogueFormatError(f"invalid dialogue format: {reason}", raw=text)


def emotion_for_turn(emotions: list[str], turn_index: int, total_turns: int) -> str:
    """The emotion of turn `turn_index` when `emotions` form an arc over `total_turns`.

    The dialogue's emotions are taken in order, each over an equal share of the turns:
    two user emotions ["Frustrated", "Grateful"] over 6 turns give 3 + 3.
    """
    if not emotions:
        raise ValueError("a dialogue needs at least one emotion per speaker")
    return emotions[min(turn_index * len(emotions) // max(total_turns, 1), len(emotions) - 1)]


T = TypeVar("T", "DialogueTurn", dict[str, Any])


def assign_selected_emotions(
    turns: list[T], user_emotions: list[str], assistant_emotions: list[str]
) -> list[T]:
    """Give every turn its speakers' emotions from the dialogue's assigned arcs.

    The report's placeholder returned the turns unchanged; here each turn carries the
    user's and the assistant's emotion for its position, the same arc the prompt asked
    the model to follow. `DialogueTurn`s get both emotions; the report's turn dicts
    (`{"speaker": "USER" | "ASSISTANT", ...}`) get an `emotion` for their speaker, the
    arc running over that speaker's turns.
    """
    total = len(turns)
    if user_emotions and assistant_emotions and all(isinstance(t, DialogueTurn) for t in turns):
        # the pipeline's case, once per dialogue in a round's last step: `emotion_for_turn`'s
        # arithmetic inline
        users, assistants = len(user_emotions), len(assistant_emotions)
        span = max(total, 1)
        for index, turn in enumerate(turns):
            assert isinstance(turn, DialogueTurn)
            turn.user_emotion = user_emotions[min(index * users // span, users - 1)]
            turn.assistant_emotion = assistant_emotions[
                min(index * assistants // span, assistants - 1)
            ]
        return turns
    spoken = Counter(str(t.get("speaker", "")).upper() for t in turns if isinstance(t, dict))
    seen: Counter[str] = Counter()
    for index, turn in enumerate(turns):
        if isinstance(turn, DialogueTurn):
            turn.user_emotion = emotion_for_turn(user_emotions, index, total)
            turn.assistant_emotion = emotion_for_turn(assistant_emotions, index, total)
            continue
        speaker = str(turn.get("speaker", "")).upper()
        arc = user_emotions if speaker == "USER" else assistant_emotions
        turn["emotion"] = emotion_for_turn(arc, seen[speaker], spoken[speaker])
        seen[speaker] += 1
    return turns


def format_dialogue(turns: list[DialogueTurn]) -> str:
    """The dialogue as "USER:/ASSISTANT:" lines (for embeddings and reading)."""
    lines = []
    for turn in turns:
        lines.append(f"USER: {turn.user_utterance}")
        lines.append(f"ASSISTANT: {turn.assistant_response}")
    return "\n".join(lines)
