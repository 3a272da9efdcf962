"""Generic prose for prompt kinds the simulator does not know."""

from __future__ import annotations

from asyncgen.sim.responders import GENERIC_KIND, SimRequest, responder

_OPENERS = ("Sure.", "Certainly.", "Here is what I would suggest.", "Good question.")


@responder(GENERIC_KIND)
def generic(request: SimRequest) -> str:
    """A few plausible sentences that echo the last user message."""
    topic = " ".join(request.last_user.split()[:12]) or "your request"
    opener = request.rng.choice(_OPENERS)
    return f"{opener} Regarding {topic}: here are the main points to consider."
