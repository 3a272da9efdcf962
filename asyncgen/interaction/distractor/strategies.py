"""Surface-noise strategies: each proposes one seeded edit of a text, or None if it cannot."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from asyncgen.interaction.distractor.edits import Edit

Strategy = Callable[[str, random.Random], Edit | None]

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_ROW_SHIFT = (0.0, 0.25, 0.75)
PUNCTUATION = ".,!?;:'\""
FILLERS = ("um", "like", "basically", "actually", "so", "you know", "kinda", "tbh", "just")
MISSPELLINGS = {
    "receive": "recieve",
    "separate": "seperate",
    "definitely": "definately",
    "necessary": "neccessary",
    "occurred": "occured",
    "until": "untill",
    "which": "wich",
    "because": "becuase",
    "their": "thier",
    "weird": "wierd",
    "believe": "beleive",
    "tomorrow": "tommorow",
    "environment": "enviroment",
    "address": "adress",
    "beginning": "begining",
    "different": "diffrent",
    "government": "goverment",
    "probably": "probly",
    "really": "realy",
    "library": "libary",
    "across": "accross",
    "argument": "arguement",
    "calendar": "calender",
    "embarrass": "embarass",
    "existence": "existance",
    "grammar": "grammer",
    "independent": "independant",
    "recommend": "reccomend",
    "restaurant": "restaraunt",
    "schedule": "schedual",
    "successful": "succesful",
    "the": "teh",
    "with": "wiht",
    "would": "woudl",
    "could": "coudl",
    "should": "shoudl",
    "write": "wrtie",
    "what": "waht",
    "function": "fucntion",
    "example": "exmaple",
    "please": "plese",
    "thanks": "thnaks",
    "code": "cod",
    "data": "dta",
    "python": "pyhton",
    "question": "quesiton",
    "explain": "explian",
    "help": "hlep",
    "need": "nead",
    "want": "wnat",
}
_WORD = re.compile(r"[A-Za-z]+")


def _neighbours() -> dict[str, str]:
    """Keys adjacent on a QWERTY keyboard, by letter."""
    where = {
        ch: (row, col + _ROW_SHIFT[row])
        for row, keys in enumerate(_ROWS)
        for col, ch in enumerate(keys)
    }
    return {
        ch: "".join(
            o for o, (r2, x2) in where.items() if o != ch and abs(r - r2) <= 1 and abs(x - x2) <= 1
        )
        for ch, (r, x) in where.items()
    }


NEIGHBOURS = _neighbours()


def _letters_in_words(text: str, min_len: int) -> list[int]:
    """Positions of letters inside words of at least `min_len` letters."""
    return [
        i
        for m in _WORD.finditer(text)
        if len(m.group()) >= min_len
        for i in range(m.start(), m.end())
    ]


def _pick(spots: list[int], rng: random.Random) -> int | None:
    """One of `spots` at random, or None when the text offers none (no draw is spent)."""
    return rng.choice(spots) if spots else None


def keyboard_typo(text: str, rng: random.Random) -> Edit | None:
    """Hit a neighbouring key instead of the intended letter."""
    spots = [i for i, ch in enumerate(text) if ch.lower() in NEIGHBOURS]
    i = _pick(spots, rng)
    if i is None:
        return None
    wrong = rng.choice(NEIGHBOURS[text[i].lower()])
    return Edit("keyboard_typo", i, text[i], wrong.upper() if text[i].isupper() else wrong)


def omission(text: str, rng: random.Random) -> Edit | None:
    """Drop one letter of a word of three or more letters."""
    spots = _letters_in_words(text, 3)
    i = _pick(spots, rng)
    return None if i is None else Edit("omission", i, text[i], "")


def doubling(text: str, rng: random.Random) -> Edit | None:
    """Type one letter twice."""
    spots = [i for i, ch in enumerate(text) if ch.isalpha()]
    i = _pick(spots, rng)
    return None if i is None else Edit("doubling", i, text[i], text[i] * 2)


def transposition(text: str, rng: random.Random) -> Edit | None:
    """Swap two adjacent, different letters."""
    spots = [
        i
        for i in range(len(text) - 1)
        if text[i].isalpha() and text[i + 1].isalpha() and text[i] != text[i + 1]
    ]
    i = _pick(spots, rng)
    return None if i is None else Edit("transposition", i, text[i : i + 2], text[i + 1] + text[i])


def space_split(text: str, rng: random.Random) -> Edit | None:
    """Put a stray space inside a word of four or more letters."""
    spots = [
        i
        for m in _WORD.finditer(text)
        if len(m.group()) >= 4
        for i in range(m.start() + 1, m.end() - 1)
    ]
    i = _pick(spots, rng)
    return None if i is None else Edit("space_split", i, "", " ")


def space_merge(text: str, rng: random.Random) -> Edit | None:
    """Miss the space between two words."""
    spots = [
        i
        for i in range(1, len(text) - 1)
        if text[i] == " " and not text[i - 1].isspace() and text[i + 1].isalnum()
    ]
    i = _pick(spots, rng)
    return None if i is None else Edit("space_merge", i, " ", "")


def punctuation_drop(text: str, rng: random.Random) -> Edit | None:
    """Leave out one punctuation mark."""
    spots = [i for i, ch in enumerate(text) if ch in PUNCTUATION]
    i = _pick(spots, rng)
    return None if i is None else Edit("punctuation_drop", i, text[i], "")


def case_drop(text: str, rng: random.Random) -> Edit | None:
    """Type a capital letter in lower case."""
    spots = [i for i, ch in enumerate(text) if ch.isupper()]
    i = _pick(spots, rng)
    return None if i is None else Edit("case_drop", i, text[i], text[i].lower())


def misspelling(text: str, rng: random.Random) -> Edit | None:
    """Replace a word with its common misspelling."""
    found = [m for m in _WORD.finditer(text) if m.group().lower() in MISSPELLINGS]
    if not found:
        return None
    m = rng.choice(found)
    wrong = MISSPELLINGS[m.group().lower()]
    if m.group()[0].isupper():
        wrong = wrong[0].upper() + wrong[1:]
    return Edit("misspelling", m.start(), m.group(), wrong)


def filler_word(text: str, rng: random.Random, fillers: tuple[str, ...] = FILLERS) -> Edit | None:
    """Insert a filler word before a word."""
    starts = [m.start() for m in _WORD.finditer(text)]
    if not starts:
        return None
    return Edit("filler_word", rng.choice(starts), "", f"{rng.choice(fillers)} ")


STRATEGIES: dict[str, Strategy] = {
    "keyboard_typo": keyboard_typo,
    "omission": omission,
    "doubling": doubling,
    "transposition": transposition,
    "space_split": space_split,
    "space_merge": space_merge,
    "punctuation_drop": punctuation_drop,
    "case_drop": case_drop,
    "misspelling": misspelling,
    "filler_word": filler_word,
}
