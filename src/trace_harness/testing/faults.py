"""A seeded plan of transport faults for the fake GitHub: which request fails, and how.

Faults are chosen by request index (``at``), by method and path (``on``), or at random with a seeded
``rate``. The ``applied-*`` kinds apply a write to the fake's state and *then* lose the response,
which is what makes blind retries of non-idempotent writes file duplicates.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from enum import StrEnum


class Fault(StrEnum):
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    SECONDARY_RATE_LIMIT = "403-retry-after"  # 403 + Retry-After: secondary rate limit
    PRIMARY_RATE_LIMIT = "403-remaining-0"  # 403 + x-ratelimit-remaining: 0 + reset
    TOO_MANY = "429"  # 429 without Retry-After
    TOO_MANY_RETRY_AFTER = "429-retry-after"
    TIMEOUT = "timeout"  # requests.exceptions.ReadTimeout before the server acts
    RESET = "reset"  # connection reset before the server acts
    CONNECT_TIMEOUT = "connect-timeout"  # no connection was made: the request was never sent
    BAD_CREDENTIALS = "401"  # a revoked or wrong token
    GRAPHQL_RATE_LIMITED = "graphql-rate-limited"  # GraphQL's primary limit: HTTP 200, `errors`, reset headers
    APPLIED_BAD_GATEWAY = "applied-502"  # the write is applied, then a 502 is returned
    APPLIED_TIMEOUT = "applied-timeout"  # the write is applied, then the read times out

    @property
    def applies_first(self) -> bool:
        return self in (Fault.APPLIED_BAD_GATEWAY, Fault.APPLIED_TIMEOUT)


# What a careful client must outlast: every kind but a rejected token, which ends the run by design.
TRANSIENT_FAULTS = tuple(fault for fault in Fault if fault is not Fault.BAD_CREDENTIALS)


@dataclass
class _Rule:
    method: str
    path: re.Pattern[str]
    fault: Fault
    remaining: int


@dataclass
class FaultPlan:
    """Decides, for each request in order, whether it fails. ``rate`` faults draw from ``kinds``."""

    seed: int = 0
    rate: float = 0.0
    kinds: tuple[Fault, ...] = (Fault.BAD_GATEWAY, Fault.SECONDARY_RATE_LIMIT, Fault.TOO_MANY, Fault.TIMEOUT)
    retry_after: int = 7
    reset_in: int = 30
    by_index: dict[int, Fault] = field(default_factory=dict)
    rules: list[_Rule] = field(default_factory=list)
    injected: list[tuple[int, str, str, Fault]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def at(self, index: int, fault: Fault) -> FaultPlan:
        """Fail the request with this 0-based index (counting every request the fake sees)."""
        self.by_index[index] = fault
        return self

    def on(self, method: str, path_regex: str, fault: Fault, times: int = 1) -> FaultPlan:
        """Fail the next ``times`` requests whose method and path match."""
        self.rules.append(_Rule(method.upper(), re.compile(path_regex), fault, times))
        return self

    def choose(self, index: int, method: str, path: str) -> Fault | None:
        fault = self.by_index.pop(index, None) or self._rule_fault(method, path) or self._random_fault()
        if fault is not None:
            self.injected.append((index, method, path, fault))
        return fault

    def _rule_fault(self, method: str, path: str) -> Fault | None:
        for rule in self.rules:
            if rule.remaining > 0 and rule.method == method and rule.path.search(path):
                rule.remaining -= 1
                return rule.fault
        return None

    def _random_fault(self) -> Fault | None:
        if self.rate <= 0 or self._random.random() >= self.rate:
            return None
        return self._random.choice(self.kinds)
