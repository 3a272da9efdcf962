"""The one name for JSON that has no schema of its own here.

A record line, a request body as the user wrote it, a provider's answer, a counter
snapshot bound for summary.json: parsed or about to be serialised, shaped by someone else.
Anything asyncgen itself shapes gets a dataclass instead; this alias marks the places that
stay open on purpose, so `dict[str, Any]` elsewhere is a type still to be written.
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]
"""A JSON object: keys are strings, values whatever JSON holds."""
