"""Which findings a run stores for later runs' recurrence counts: one per occurrence, bounded, order-free.

The occurrence count is a union-find over affected ids, so one finding per cluster and set of ids (per input
when it has none) is all a later run needs. At most ``limit`` are kept: those whose earliest evidence key
(timestamp, input, line) is smallest, whatever order findings arrive in. That holds while streaming: an
occurrence once evicted had a key at least the current largest kept one, so a later finding of it re-enters
exactly when its own key is smaller than that. Worker logs' bulk path asks ``wants`` first, so it builds a
Finding only for the few records that will be kept.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from .cluster import EvidenceKey, evidence_key
from .models import AFFECTED_KEYS, Finding

OccurrenceKey = tuple[str, ...]


def occurrence_key(finding: Finding) -> OccurrenceKey:
    """What the occurrence count sees of a finding: its cluster and its ids (its input when it has none)."""
    pairs = finding.affected_pairs()
    if pairs:
        return (finding.cluster_id, *(f"{name}={value}" for name, value in pairs))
    return (finding.cluster_id, "", finding.ref.rpartition(":")[0] or finding.ref)


def pairs_occurrence_key(cluster_id: str, pairs: list[tuple[int, str]]) -> OccurrenceKey:
    """``occurrence_key`` of a finding known by its (affected-list index, id) pairs, in list order."""
    return (cluster_id, *(f"{AFFECTED_KEYS[index]}={value}" for index, value in pairs))


class _Largest:
    """Heap entry that puts the largest evidence key first (``heapq`` is a min-heap)."""

    __slots__ = ("key", "occurrence")

    def __init__(self, key: EvidenceKey, occurrence: OccurrenceKey) -> None:
        self.key, self.occurrence = key, occurrence

    def __lt__(self, other: _Largest) -> bool:
        return other.key < self.key


class OccurrenceKeeper:
    """The earliest finding of each occurrence, for the ``limit`` occurrences with the smallest keys."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: dict[OccurrenceKey, tuple[EvidenceKey, Finding | Callable[[], Finding]]] = {}
        self._largest: list[_Largest] = []  # may hold stale entries, skipped when met

    def may_want(self, key: EvidenceKey) -> bool:
        """False when no finding with this evidence key can be kept, whatever its occurrence: a cheap first
        test (a kept occurrence's key is never above the largest kept key)."""
        return len(self._kept) < self.limit or (self.limit > 0 and key < self._top().key)

    def bound(self) -> EvidenceKey | None:
        """The evidence key every kept finding's key must be below; None while there is room for any."""
        return None if len(self._kept) < self.limit or self.limit <= 0 else self._top().key

    def wants(self, occurrence: OccurrenceKey, key: EvidenceKey) -> bool:
        """Whether a finding with these keys would be kept (so it is worth building)."""
        known = self._kept.get(occurrence)
        return key < known[0] if known is not None else self.may_want(key)

    def keep(self, finding: Finding) -> None:
        self.keep_built(occurrence_key(finding), evidence_key(finding.timestamp, finding.ref), finding)

    def keep_built(self, occurrence: OccurrenceKey, key: EvidenceKey, finding: Finding | Callable[[], Finding]) -> None:
        """``keep`` of a finding known by its keys; it may be given as a function that builds it, called only
        if it is still kept when ``findings()`` is asked (most records a stream offers are evicted later)."""
        if not self.wants(occurrence, key):
            return
        self._kept[occurrence] = (key, finding)
        heapq.heappush(self._largest, _Largest(key, occurrence))
        if len(self._kept) > self.limit:
            del self._kept[heapq.heappop(self._largest).occurrence]
            self._top()
        if len(self._largest) > 4 * self.limit + 64:  # stale entries from improved occurrences
            self._largest = [_Largest(key, occ) for occ, (key, _) in self._kept.items()]
            heapq.heapify(self._largest)

    def findings(self) -> list[Finding]:
        """The kept findings, by occurrence key (each built once, if it was kept as a function)."""
        kept = []
        for occurrence in sorted(self._kept):
            key, finding = self._kept[occurrence]
            if not isinstance(finding, Finding):
                finding = finding()
                self._kept[occurrence] = (key, finding)  # the builder (and the line it holds) goes now
            kept.append(finding)
        return kept

    def _top(self) -> _Largest:
        """The live entry with the largest key (stale ones are dropped on the way)."""
        while (top := self._largest[0]).occurrence not in self._kept or self._kept[top.occurrence][0] != top.key:
            heapq.heappop(self._largest)
        return top
