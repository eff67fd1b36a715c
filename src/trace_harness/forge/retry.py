"""When and how long the GitHub adapter waits: rate-limit answers, backoff, and the write pacer.

Pure decisions over a status and headers, so they are tested without HTTP. GitHub signals rate limits
with 403 *or* 429: ``Retry-After`` wins, then an exhausted primary limit (``x-ratelimit-remaining: 0``)
waits for ``x-ratelimit-reset``; a secondary limit without either waits at least a minute (GitHub's
guidance), doubling on each further attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .base import Clock, Sleep


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 1.0  # first backoff after a 5xx or a connection failure
    max_delay: float = 30.0
    secondary_delay: float = 60.0  # a secondary rate limit that names no wait
    max_wait: float = 900.0  # a single wait beyond this is not worth blocking a run for: fail instead
    writes_per_minute: int = 80


def backoff(attempt: int, policy: RetryPolicy) -> float:
    """Exponential backoff for transient failures: 1, 2, 4, ... seconds, capped."""
    return min(policy.base_delay * 2.0**attempt, policy.max_delay)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


def _is_secondary(message: str) -> bool:
    lowered = message.lower()
    return "secondary rate limit" in lowered or "abuse" in lowered or lowered.endswith("try again later.")


def rate_limit_wait(
    status: int, headers: Mapping[str, str], message: str, now: datetime, attempt: int, policy: RetryPolicy
) -> float | None:
    """Seconds to wait before retrying if this answer is a rate limit; None when it is not one."""
    if status not in (403, 429):
        return None
    lowered = {key.lower(): value for key, value in headers.items()}
    retry_after = _retry_after(lowered)
    if retry_after is not None:
        return retry_after
    if lowered.get("x-ratelimit-remaining") == "0" and lowered.get("x-ratelimit-reset", "").isdigit():
        return max(int(lowered["x-ratelimit-reset"]) - now.timestamp(), 0.0) + 1.0
    if status == 429 or _is_secondary(message):
        return policy.secondary_delay * 2.0**attempt
    return None


class WritePacer:
    """Spaces writes evenly so a run never exceeds ``writes_per_minute`` (GitHub's content-creation limit)."""

    def __init__(self, clock: Clock, sleep: Sleep, writes_per_minute: int) -> None:
        self._clock = clock
        self._sleep = sleep
        self._interval = 60.0 / writes_per_minute
        self._last: datetime | None = None

    def wait(self) -> None:
        if self._last is not None:
            gap = self._interval - (self._clock() - self._last).total_seconds()
            if gap > 0:
                self._sleep(gap)
        self._last = self._clock()
