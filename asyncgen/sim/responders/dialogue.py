"""Simulator responders for the dialogue prompt kinds: scenarios and tagged dialogues.

Both read the machine-readable parameters line of the prompt, so a simulated dialogue
honours the requested turn range, per-turn emotion arc and resolution. At
`request.malformed_rate` the dialogue responder returns one of several realistic format
defects, so the pipeline's validation and retries are exercised.
"""

from __future__ import annotations

import random
from typing import Any

from asyncgen.dialogue.prompting import read_params
from asyncgen.sim.responders import SimRequest, responder

NAMES = [
    "Amara",
    "Kenji",
    "Lucia",
    "Omar",
    "Priya",
    "Tomasz",
    "Mei",
    "Diego",
    "Noura",
    "Sven",
    "Adaeze",
    "Hiro",
    "Ines",
    "Rafael",
    "Yara",
    "Ivan",
    "Zanele",
    "Arjun",
    "Chloe",
    "Mateo",
]
THINGS: dict[str, list[str]] = {
    "restaurant": [
        "a table for {n}",
        "the tasting menu",
        "a window table",
        "the private room",
        "a late dinner booking",
        "a vegetarian set menu",
    ],
    "hotel": [
        "a double room",
        "a suite with a view",
        "an early check-in",
        "a twin room",
        "a late checkout",
        "a quiet room away from the lift",
    ],
    "train": [
        "a seat on the {t} train",
        "two return tickets",
        "a first-class upgrade",
        "a reserved window seat",
        "an open return",
        "a sleeper berth",
    ],
    "attraction": [
        "entry tickets for {n}",
        "the guided tour at {t}",
        "a family pass",
        "the evening light show",
        "skip-the-line tickets",
        "an audio guide",
    ],
    "taxi": [
        "a pickup at {t}",
        "a larger car for {n}",
        "an airport transfer",
        "a ride to the station",
        "a wheelchair-accessible car",
        "a quote for the fare",
    ],
    "hospital": [
        "an appointment at {t}",
        "the cardiology clinic",
        "a copy of my records",
        "the visiting hours",
        "a follow-up with the specialist",
        "the out-of-hours desk",
    ],
    "bus": [
        "the {t} coach",
        "a seat near the front",
        "the night bus route",
        "a weekly pass",
        "the airport express bus",
        "a stop close to the centre",
    ],
    "flight": [
        "a seat on the {t} flight",
        "an extra checked bag",
        "a special meal",
        "a window seat",
        "a change to my return date",
        "lounge access",
    ],
}
USER_TONE: dict[str, list[str]] = {
    "Frustrated": ["This is the third time I'm asking.", "I'm running out of patience here."],
    "Angry": ["This is completely unacceptable.", "I'm really angry about how this went."],
    "Confused": ["I'm not sure I understand how this works.", "Sorry, I'm a bit lost."],
    "Worried": ["I'm worried this won't be sorted in time.", "I'm nervous about this."],
    "Disappointed": ["Honestly I expected better.", "That's disappointing to hear."],
    "Happy": ["Great news so far!", "I'm in a really good mood today."],
    "Anxious": ["I keep thinking something will go wrong.", "Sorry, I'm a bit anxious."],
    "Impatient": ["Can we be quick, please?", "I don't have much time."],
    "Skeptical": ["Are you sure that's right?", "I'm not convinced that will work."],
    "Desperate": ["I really need this to work out.", "Please, I have no other option."],
    "Overwhelmed": ["There's just so much to organise.", "It's all a bit too much today."],
    "Hopeful": ["I hope you can help with this.", "Fingers crossed this works."],
    "Satisfied": ["That sounds good to me.", "Okay, that works."],
    "Stressed": ["I'm under a lot of pressure right now.", "Everything is happening at once."],
    "Suspicious": ["Why wasn't I told about this before?", "That charge looks odd to me."],
    "Tired": ["It's been a very long day.", "I'm exhausted, let's keep it simple."],
    "Excited": ["I can't wait for this trip!", "This is going to be amazing."],
    "Indifferent": ["Whatever is easiest.", "I don't mind either way."],
    "Grateful": ["Thank you so much for your help.", "I really appreciate this."],
    "Demanding": ["I need this done properly.", "I expect this to be fixed today."],
}
ASSISTANT_TONE: dict[str, list[str]] = {
    "Professional": ["Certainly.", "Of course."],
    "Informative": ["Here are the details.", "Good to know:"],
    "Reassuring": ["Don't worry, we'll sort this out.", "You're in good hands."],
    "Diplomatic": ["I understand your point of view.", "I see why that is frustrating."],
    "Patient": ["Take your time.", "No rush at all."],
    "Efficient": ["Done.", "Right away."],
    "Accommodating": ["Happy to adjust that for you.", "I can make that work."],
    "Solution-focused": ["Here's what we can do.", "Let's find a way."],
    "Methodical": ["Let me go through this step by step.", "First things first."],
    "Proactive": ["I've also checked the alternatives.", "I went ahead and looked further."],
    "Analytical": ["Comparing the options,", "Looking at the numbers,"],
    "Composed": ["Let's look at this calmly.", "Understood."],
    "Detail-oriented": ["To be precise,", "Just to confirm every detail,"],
    "Responsive": ["Thanks for letting me know.", "Got it."],
    "Thorough": ["I've checked everything on file.", "I've gone over the whole booking."],
    "Systematic": ["Step one is done.", "Following the usual process,"],
    "Precise": ["Exactly,", "To the minute,"],
    "Objective": ["Based on the policy,", "Factually,"],
    "Resourceful": ["There's another way around this.", "I found a workaround."],
    "Knowledgeable": ["From experience,", "As it happens,"],
}
CLOSINGS = {
    "Resolved": [
        "Everything is confirmed, reference {ref}. Is there anything else?",
        "All sorted: your reference is {ref}. Have a lovely day.",
    ],
    "Failed": [
        "I'm sorry, I can't arrange that: nothing is available that meets your needs.",
        "Unfortunately this isn't possible; you could try again tomorrow morning.",
    ],
    "Escalated": [
        "I'm passing this to a senior agent, who will call you within the hour (case {ref}).",
        "I've escalated this to our specialist team under case {ref}; they'll email you today.",
    ],
}
USER_CLOSINGS = {
    "Resolved": ["Perfect, that's everything, thanks.", "Great, thank you for sorting it."],
    "Failed": ["So there's really nothing you can do?", "That's a shame, I'll look elsewhere."],
    "Escalated": ["Okay, I'll wait for their call.", "Fine, please make sure someone follows up."],
}
DEFECTS = ("unclosed", "no_intent", "preamble", "too_few", "too_many", "empty_user")


def _arc(emotions: list[str], index: int, total: int) -> str:
    if not emotions:
        return "Composed"
    return emotions[min(index * len(emotions) // max(total, 1), len(emotions) - 1)]


def _fill(text: str, rng: random.Random) -> str:
    time = f"{rng.randint(5, 22):02d}:{rng.choice(['00', '15', '30', '45', '10', '50'])}"
    return text.format(n=rng.randint(2, 8), t=time)


@responder("dialogue_scenario")
def scenario(request: SimRequest) -> str:
    """Two or three lines that name the category, services, region and time."""
    params = read_params(request.system)
    rng = request.rng
    services = params.get("services") or ["hotel"]
    region = params.get("region", "the city")
    when = f"{params.get('time', '09:00')} ({params.get('time_slot', 'Morning')})"
    need = _fill(rng.choice(THINGS.get(services[0], THINGS["hotel"])), rng)
    twist = rng.choice(
        [
            "a delayed connection",
            "a tight budget",
            "a forgotten document",
            "a child travelling along",
            "a language barrier",
            "a public holiday",
            "heavy rain",
            "a double charge on the card",
            "a strike on the metro",
        ]
    )
    return (
        f"In {region} at {when}, {rng.choice(NAMES)} needs {need} "
        f"({params.get('category', 'general_inquiry').replace('_', ' ')}) across "
        f"{', '.join(services)}.\nThe difficulty is {twist}, and the plan must still fit "
        f"the rest of the day in {region}."
    )


@responder("dialogue_generation")
def dialogue(request: SimRequest) -> str:
    """A tagged dialogue within the turn range, following emotions and resolution."""
    params = read_params(request.system)
    rng = request.rng
    low = int(params.get("min_turns", 3))
    high = max(int(params.get("max_turns", 6)), low)
    count = rng.randint(low, high)
    defect = rng.choice(DEFECTS) if rng.random() < request.malformed_rate else None
    if defect == "too_few" and low <= 1:
        defect = "too_many"
    if defect == "too_few":
        count = low - 1
    elif defect == "too_many":
        count = high + 1
    turns = [_turn(params, i, count, rng) for i in range(count)]
    return _render(turns, defect, rng)


USER_LINES = [
    "I'm in {region} and I need {thing} for the {service} part of my plans.",
    "Could you help me with {thing}? It's for the {service} side of things.",
    "About the {service}: is {thing} possible around {time}?",
    "My {service} plans near {landmark} still need {thing}.",
    "What are my options for {thing} close to {landmark}?",
    "One more thing for the {service}: {thing}, if that can be done by {time}.",
    "Someone told me {thing} is hard to get in {region}. Is that true?",
]
REPLY_LINES = [
    "for {service} in {region} I can offer {thing} at {price} {cur}, {status}.",
    "{thing} is {status}; the price would be {price} {cur}.",
    "I've found {thing} close to {landmark}, {status}.",
    "there are {k} options for {thing}; the best one costs {price} {cur}.",
    "to confirm the details: {thing} at {time}, {price} {cur}, {status}.",
    "{thing} near {landmark} works at {time}; it comes to {price} {cur}.",
]
LANDMARKS = [
    "the main station",
    "the old market",
    "the cathedral",
    "the airport",
    "the harbour",
    "the university",
    "the city museum",
    "the central park",
    "the river crossing",
]
VERBS = ["request", "ask", "change", "confirm", "check", "compare", "book", "cancel", "update"]


def _join(lead: str, sentence: str) -> str:
    """The tone or style phrase, then the sentence, capitalised after a full stop."""
    if lead.endswith((".", "!", "?", ":")):
        sentence = sentence[:1].upper() + sentence[1:]
    return f"{lead} {sentence}"


def _slots(params: dict[str, Any], service: str, rng: random.Random) -> dict[str, Any]:
    return {
        "service": service,
        "region": (params.get("regions") or ["the city"])[0],
        "thing": _fill(rng.choice(THINGS.get(service, THINGS["hotel"])), rng),
        "landmark": rng.choice(LANDMARKS),
        "time": f"{rng.randint(5, 22):02d}:{rng.choice(['05', '20', '35', '50'])}",
        "price": rng.randint(10, 400),
        "cur": rng.choice(["EUR", "USD", "GBP", "in local currency"]),
        "status": rng.choice(["available now", "with free cancellation", "pending confirmation"]),
        "k": rng.randint(2, 9),
    }


def _turn(
    params: dict[str, Any], index: int, total: int, rng: random.Random
) -> tuple[str, str, str]:
    services = params.get("services") or ["hotel"]
    service = services[index % len(services)]
    status = params.get("resolution_status", "Resolved")
    user_mood = _arc(list(params.get("user_emotions") or []), index, total)
    helper_mood = _arc(list(params.get("assistant_emotions") or []), index, total)
    tone = rng.choice(USER_TONE.get(user_mood, ["Hello."]))
    style = rng.choice(ASSISTANT_TONE.get(helper_mood, ["Certainly."]))
    if index == total - 1:
        ref = f"{rng.choice(NAMES)[:2].upper()}{rng.randint(1000, 9999)}"
        user = rng.choice(USER_CLOSINGS.get(status, USER_CLOSINGS["Resolved"]))
        closing = rng.choice(CLOSINGS.get(status, CLOSINGS["Resolved"])).format(ref=ref)
        return _join(tone, user), f"close_{service}", _join(style, closing)
    slots = _slots(params, service, rng)
    user = _join(tone, rng.choice(USER_LINES).format(**slots))
    reply = _join(style, rng.choice(REPLY_LINES).format(**slots))
    return user, f"{rng.choice(VERBS)}_{service}", reply


def _render(turns: list[tuple[str, str, str]], defect: str | None, rng: random.Random) -> str:
    blocks = [
        f"<User>{u}</User>\n<Intent>{i}</Intent>\n<Assistant>{a}</Assistant>" for u, i, a in turns
    ]
    if defect and blocks:
        spot = rng.randrange(len(blocks))
        if defect == "unclosed":
            blocks[spot] = blocks[spot].replace("</Assistant>", "", 1)
        elif defect == "no_intent":
            u, _, a = turns[spot]
            blocks[spot] = f"<User>{u}</User>\n<Assistant>{a}</Assistant>"
        elif defect == "empty_user":
            blocks[spot] = blocks[spot].split("</User>", 1)[1].join(["<User> </User>", ""])
        elif defect == "preamble":
            return "Sure! Here is the dialogue you asked for:\n\n" + "\n\n".join(blocks)
    return "\n\n".join(blocks)
