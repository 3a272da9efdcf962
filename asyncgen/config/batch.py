"""Settings for batch mode (`llm.mode: batch`) and for the simulator's Batch API.

OpenAI's documented limits are the defaults: 50,000 requests and 200 MB per input
file, a 24 h completion window; the enqueued-token limit depends on the account tier,
so it is unset (unknown) unless configured.
"""

import re
from datetime import UTC, datetime, timedelta

from pydantic import Field

from asyncgen.config.base import Settings
from asyncgen.errors import ConfigError


class BatchSettings(Settings):
    """How batch mode gathers rounds, talks to the Batch API and falls back online."""

    completion_window: str = "24h"
    max_requests: int = Field(default=50_000, gt=0)
    max_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    enqueued_token_limit: int | None = Field(default=None, gt=0)
    max_live: int = Field(default=10_000, gt=0)
    max_gather_seconds: float = Field(default=60.0, gt=0)
    idle_flush_seconds: float = Field(default=2.0, gt=0)
    poll_initial: float = Field(default=5.0, gt=0)
    poll_max: float = Field(default=60.0, gt=0)
    poll_share: float = Field(default=0.05, gt=0, le=1)
    max_retries: int = Field(default=3, ge=0)
    deadline: str | None = None
    price_share: float = Field(default=0.5, gt=0, le=1)


class SimBatchSettings(Settings):
    """The simulator's Batch API: how long batches take, how they fail, its queue limit."""

    round_time: float = Field(default=60.0, ge=0)
    round_time_sigma: float = Field(default=0.0, ge=0)
    validating_seconds: float = Field(default=0.0, ge=0)
    expiry_rate: float = Field(default=0.0, ge=0, le=1)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    enqueued_token_limit: int | None = Field(default=None, gt=0)
    max_requests: int = Field(default=50_000, gt=0)


_DURATION = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$"
)
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


def parse_deadline(text: str, now: datetime | None = None) -> datetime:
    """`8h`, `90m`, `1h30m`, `45s` from now, a clock time `23:00` (next occurrence, UTC),
    or an ISO timestamp; returns an aware UTC datetime.

    Raises:
        ConfigError: the text is none of these.
    """
    now = now or datetime.now(UTC)
    match = _DURATION.match(text)
    if match and any(match.groups()):
        hours, minutes, seconds = (float(g or 0) for g in match.groups())
        return now + timedelta(hours=hours, minutes=minutes, seconds=seconds)
    clock = _CLOCK.match(text)
    if clock:
        hour, minute, second = int(clock[1]), int(clock[2]), int(clock[3] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ConfigError(f"--deadline {text!r}: not a clock time")
        at = now.replace(hour=hour, minute=minute, second=second, microsecond=0)
        return at if at > now else at + timedelta(days=1)
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--deadline {text!r}: give a duration (8h, 90m, 1h30m), a clock time (23:00) "
            "or an ISO timestamp"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def deadline_setting(text: str | None) -> str | None:
    """`--deadline` as the absolute ISO time stored in `llm.batch.deadline` (None: unset).

    A relative deadline is fixed when the command starts, so a resumed run keeps the
    original deadline instead of starting a new 8 hours.

    Raises:
        ConfigError: the text is not a duration, a clock time or a timestamp.
    """
    if text is None:
        return None
    return parse_deadline(text).isoformat(timespec="seconds")
