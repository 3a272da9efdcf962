"""The limits a 429's body states for the server that refused (when its headers state none).

A LiteLLM proxy's router refuses with no limit header of its own (the `x-ratelimit-*` it
passes on are the upstream's) and only ``llm_provider-retry-after: 60`` (a constant), but
its message names the limits it enforces and their use, per deployment of the group::

    litellm.RateLimitError: No deployments available for selected model. Passed
    model=sim-model. Deployments={'3b4b…': {'current_tpm': 64, 'tpm_limit': inf,
    'current_rpm': 4, 'rpm_limit': 5}}

That message comes from its usage-based routing (v2), which counts each deployment's
requests and tokens per UTC minute (cache keys ``<id>:<model>:rpm:%H-%M``) and skips a
deployment once ``current_rpm + 1 >= rpm_limit``: a deployment admits ``rpm_limit - 1``
requests a minute (the refusal above came at 4 of 5), a group the sum over its
deployments, and a spent minute opens again when the UTC minute turns. So a refusal
reads as a fixed window: the requests left, and the turn of the minute as its reset. A
deployment without a limit (``inf``) leaves the group without one in that dimension.
These are the proxy's own figures: the server asyncgen talks to.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from asyncgen.llm.headers import RateLimitInfo

MINUTE = 60.0
TURN_SLACK = 2.0  # seconds after our minute turned in which a refusal may be the proxy's
# previous minute (its clock a little behind ours): ask again soon, not a minute later
SLACK_RESET = 0.5  # seconds to the next try within that slack

_GROUP = re.compile(r"No deployments available.*?Deployments=", re.S)
_ENTRY = re.compile(r"\{([^{}]*)\}")
_FIELD = re.compile(r"'(current_rpm|rpm_limit|current_tpm|tpm_limit)'\s*:\s*([^,}\s]+)")


def refusal_message(body: Any) -> str:
    """The whole message of an error body (``{"error": {"message": …}}``, or text)."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or "")
        return str(error or "")
    return body if isinstance(body, str) else ""


def limits_in_refusal(body: Any, sent_at: float | None = None) -> RateLimitInfo | None:
    """What a LiteLLM router's 429 states: its per-minute request limit, the requests left
    in the minute and the seconds from `sent_at` to the minute's turn (a fixed window);
    its token limit. None when the body is not such a refusal or states no limit.

    Args:
        body: the refusal's parsed body (a dict) or its text.
        sent_at: wall-clock time the refused request left (default: now).
    """
    message = refusal_message(body)
    found = _GROUP.search(message)
    if found is None:
        return None
    entries = [
        {name: _number(value) for name, value in _FIELD.findall(entry.group(1))}
        for entry in _ENTRY.finditer(message, found.end())
    ]
    entries = [e for e in entries if "rpm_limit" in e or "tpm_limit" in e]
    requests = _group_limit([e.get("rpm_limit", math.inf) for e in entries], per_deployment=-1)
    tokens = _group_limit([e.get("tpm_limit", math.inf) for e in entries], per_deployment=0)
    if requests is None:
        return None if tokens is None else RateLimitInfo(limit_tokens=tokens)
    left = sum(
        max(0, int(e["rpm_limit"]) - 1 - int(_finite(e.get("current_rpm")))) for e in entries
    )
    return RateLimitInfo(
        limit_requests=requests,
        remaining_requests=left,
        reset_requests=to_minute_turn(time.time() if sent_at is None else sent_at),
        fixed_window_requests=True,
        limit_tokens=tokens,
    )


def to_minute_turn(wall: float) -> float:
    """Seconds from `wall` to the next turn of the UTC minute; just after one, a short
    retry instead (the proxy's clock may not have turned yet: a whole minute is too long)."""
    into = wall % MINUTE
    return SLACK_RESET if into < TURN_SLACK else MINUTE - into


def _number(text: str) -> float:
    """A figure as written (``600``, ``inf``); ``None`` or unreadable: nan."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _finite(value: float | None) -> float:
    return 0.0 if value is None or not math.isfinite(value) else value


def _group_limit(limits: list[float], per_deployment: int) -> int | None:
    """What a group admits: each deployment's limit (+ `per_deployment`), summed; None when
    there is no deployment or one is unlimited (or unreadable)."""
    if not limits or not all(math.isfinite(value) for value in limits):
        return None
    total = sum(max(0, int(value) + per_deployment) for value in limits)
    return total if total >= 1 else None
