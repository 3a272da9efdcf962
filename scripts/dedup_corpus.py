"""Synthetic customer-service dialogues and graded near-copies, for dedup calibration."""

from __future__ import annotations

import random

DOMAINS = {
    "hotel": (
        [
            "book a room at the {place} hotel",
            "find a cheap guesthouse near the {place}",
            "change my reservation at the {place} lodge",
            "ask whether the {place} inn has parking",
        ],
        [
            "I have {n} nights booked from {day}",
            "there are {n} of us arriving on {day}",
            "we need free wifi and breakfast",
            "is there a room with a view of the {place}",
        ],
    ),
    "restaurant": (
        [
            "reserve a table at the {place} bistro",
            "find an {food} restaurant in the centre",
            "cancel my dinner booking at {place}",
            "get a table for {n} people at {time}",
        ],
        [
            "we would like {food} food, nothing too expensive",
            "can we sit outside on {day}",
            "one of us is allergic to nuts",
            "is the {place} kitchen open after {time}",
        ],
    ),
    "train": (
        [
            "buy a ticket from {place} to {city}",
            "find the next train to {city}",
            "refund my ticket to {city}",
            "check the platform for the {time} to {city}",
        ],
        [
            "I must arrive before {time} on {day}",
            "we are {n} adults and one child",
            "my train was delayed by {n} minutes",
            "do you have a railcard discount",
        ],
    ),
    "taxi": (
        [
            "order a taxi to the {place}",
            "book a cab from {city} station at {time}",
            "complain about a driver who never came",
            "get a car to the airport on {day}",
        ],
        [
            "I will be waiting outside the {place}",
            "we have {n} large suitcases",
            "please send a car that takes card payment",
            "the pickup should be at {time}",
        ],
    ),
    "bank": (
        [
            "report a lost card",
            "dispute a charge of {n} pounds",
            "open a savings account",
            "raise my daily transfer limit",
        ],
        [
            "the payment went to a shop in {city}",
            "I noticed it on {day} morning",
            "my account number ends in {n}",
            "can you block the card right away",
        ],
    ),
    "hospital": (
        [
            "book an appointment with the {food} clinic",
            "find the emergency ward at {place}",
            "move my scan to {day}",
            "ask about visiting hours at {place} hospital",
        ],
        [
            "my doctor referred me last {day}",
            "I can only come after {time}",
            "my mother is {n} years old and uses a wheelchair",
            "is there parking near the ward",
        ],
    ),
}
FILL = {
    "place": [
        "river",
        "castle",
        "market",
        "museum",
        "cathedral",
        "harbour",
        "park",
        "bridge",
        "university",
        "old town",
        "gallery",
        "theatre",
        "stadium",
        "garden",
    ],
    "city": ["Cambridge", "London", "Leeds", "Norwich", "Ely", "Bristol", "York", "Oxford"],
    "food": ["italian", "indian", "thai", "chinese", "french", "korean", "greek", "vegan"],
    "day": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    "time": ["8:15", "9:30", "11:00", "12:45", "14:20", "17:05", "19:30", "21:10"],
}
REPLIES = [
    "Certainly, I can help with that. {fact}",
    "Let me check that for you. {fact}",
    "I am sorry about the trouble. {fact}",
    "Of course. {fact} Is there anything else?",
    "Thanks for waiting. {fact}",
    "I understand. {fact} Shall I go ahead?",
]
FACTS = [
    "The {place} has availability on {day} at {time}.",
    "Your reference number is {ref}.",
    "That comes to {n} pounds in total.",
    "The {city} service leaves at {time}.",
    "I have noted that you need it by {day}.",
    "I found {n} options near the {place}.",
    "The booking is confirmed for {n} people.",
    "There is a small fee of {n} pounds.",
]
CLOSERS = [
    "Thank you, that is all.",
    "Great, thanks for your help.",
    "Perfect, goodbye.",
    "No, that will be everything.",
    "Could you send me a confirmation email?",
]
SYNONYMS = {
    "book": "reserve",
    "find": "look for",
    "cheap": "inexpensive",
    "help": "assist",
    "check": "look up",
    "need": "require",
    "Certainly": "Sure",
    "total": "all",
    "options": "choices",
    "trouble": "inconvenience",
    "Thanks": "Thank you",
}


def _fill(template: str, rng: random.Random) -> str:
    """Replace {slots} with random values."""
    values = {key: rng.choice(options) for key, options in FILL.items()}
    values["n"] = str(rng.randint(2, 9))
    values["ref"] = "".join(rng.choice("ABCDEFGHJK0123456789") for _ in range(8))
    return template.format(**values)


def make_dialogue(rng: random.Random, turns: int | None = None) -> list[tuple[str, str]]:
    """A random (user, assistant) turn list in one or two domains."""
    domains = rng.sample(sorted(DOMAINS), rng.choice([1, 1, 2]))
    turns = turns or rng.randint(3, 7)
    out: list[tuple[str, str]] = []
    for t in range(turns):
        goals, details = DOMAINS[domains[t % len(domains)]]
        if t == 0 or (t == 1 and len(domains) == 2):
            user = f"Hi, I need to {_fill(rng.choice(goals), rng)}."
        elif t == turns - 1:
            user = rng.choice(CLOSERS)
        else:
            user = _fill(rng.choice(details), rng).capitalize() + "."
        fact = _fill(rng.choice(FACTS), rng)
        out.append((user, _fill(rng.choice(REPLIES).replace("{fact}", fact), rng)))
    return out


def render(turns: list[tuple[str, str]]) -> str:
    """The text the gate embeds for a dialogue (as asyncgen.dedup.record_text builds it)."""
    return "\n".join(f"User: {u}\nAssistant: {a}" for u, a in turns)


def edit(turns: list[tuple[str, str]], rng: random.Random, edits: int) -> list[tuple[str, str]]:
    """A near-copy: `edits` random changes (synonym, slot, dropped or swapped turn)."""
    out = list(turns)
    for _ in range(edits):
        op = rng.random()
        i = rng.randrange(len(out))
        user, reply = out[i]
        if op < 0.35:
            word = rng.choice(sorted(SYNONYMS))
            out[i] = (user.replace(word, SYNONYMS[word]), reply.replace(word, SYNONYMS[word]))
        elif op < 0.65:
            out[i] = (user, _fill(rng.choice(REPLIES).replace("{fact}", rng.choice(FACTS)), rng))
        elif op < 0.8 and len(out) > 2:
            del out[i]
        elif op < 0.9 and len(out) > 1:
            j = rng.randrange(len(out))
            out[i], out[j] = out[j], out[i]
        else:
            goals, _ = DOMAINS[rng.choice(sorted(DOMAINS))]
            out[i] = (f"Hi, I need to {_fill(rng.choice(goals), rng)}.", reply)
    return out


def corpus(seed: int, bases: int, variants: int) -> list[str]:
    """`bases` dialogues, each with `variants` near-copies of 1..6 edits."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(bases):
        base = make_dialogue(rng)
        texts.append(render(base))
        texts.extend(render(edit(base, rng, rng.randint(1, 6))) for _ in range(variants))
    return texts


def short_texts(seed: int, count: int) -> list[str]:
    """One-turn user requests (~15 words)."""
    rng = random.Random(seed)
    return [make_dialogue(rng, 1)[0][0] for _ in range(count)]


def long_texts(seed: int, count: int, words: int = 300) -> list[str]:
    """Dialogues of about `words` words."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        text = ""
        while len(text.split()) < words:
            text += "\n" + render(make_dialogue(rng))
        out.append(" ".join(text.split()[:words]))
    return out


def multiwoz_dialogues(path: str) -> list[list[tuple[str, str]]]:
    """(user, assistant) turns of each dialogue in a MultiWOZ v2.2 JSONL sample."""
    import json

    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            utterances = json.loads(line)["turns"]["utterance"]
            pairs = list(zip(utterances[::2], utterances[1::2], strict=False))
            if pairs:
                out.append(pairs)
    return out


def calibration_corpus(seed: int, multiwoz: str, synthetic: int, variants: int) -> list[str]:
    """Real-style MultiWOZ dialogues and templated ones, each with graded near-copies."""
    rng = random.Random(seed)
    bases = multiwoz_dialogues(multiwoz) + [make_dialogue(rng) for _ in range(synthetic)]
    texts: list[str] = []
    for base in bases:
        texts.append(render(base))
        texts.extend(render(edit(base, rng, rng.randint(1, 6))) for _ in range(variants))
    return texts


def long_corpus(seed: int, bases: int, variants: int, words: int = 300) -> list[str]:
    """Dialogues of about `words` words, each with graded near-copies."""
    rng = random.Random(seed)
    texts: list[str] = []
    for _ in range(bases):
        base: list[tuple[str, str]] = []
        while len(render(base).split()) < words:
            base.extend(make_dialogue(rng))
        texts.append(render(base))
        texts.extend(render(edit(base, rng, rng.randint(1, 8))) for _ in range(variants))
    return texts
