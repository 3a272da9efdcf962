"""One line for a stage that produced nothing: the commonest cause, how often, one example.

A stage whose every call failed used to raise with all its error messages joined (6–9 KB
on one line, or "()" when it had none). A person needs the cause that matters, its share,
and one example of what the model answered.
"""

from __future__ import annotations

import re
from collections import Counter

_ITEM_PREFIX = re.compile(r"^[\w.\-]+: ")
_EXAMPLE_CHARS = 160


def cause_of(error: str) -> str:
    """An error message without the item it is about (`persona_001: x` → `x`)."""
    return _ITEM_PREFIX.sub("", error, count=1).strip()


def commonest(errors: list[str]) -> tuple[str, int] | None:
    """The most frequent cause and its count, or None without errors."""
    if not errors:
        return None
    return Counter(cause_of(e) for e in errors).most_common(1)[0]


def failure_line(what: str, errors: list[str], attempted: int, example: str | None = None) -> str:
    """`no queries could be produced: 50 of 50 failed, most often (50×): …; e.g. answer "…"`.

    Args:
        what: what could not be produced ("no queries could be produced").
        errors: one message per failed item, optionally prefixed by the item's id.
        attempted: how many items were tried.
        example: one raw model answer that was refused, when there was one.
    """
    top = commonest(errors)
    if top is None:
        line = f"{what}: {attempted} attempted, no error was reported (see the run's log)"
    else:
        cause, count = top
        line = f"{what}: {len(errors)} of {attempted} failed; most often ({count}×): {cause[:300]}"
    if example:
        flat = " ".join(example.split())
        cut = flat[:_EXAMPLE_CHARS] + ("…" if len(flat) > _EXAMPLE_CHARS else "")
        line += f'; e.g. the model answered "{cut}"'
    return line
