"""One run of a v2 manifest while it is written: its kept events (the longest key-ordered prefix within
64 KiB, whatever the arrival order), its per-class ids, and its bounded JSON (256 KiB: events go first, then
the longest id lists, with ``omitted`` counts)."""

from __future__ import annotations

import heapq
import json
from typing import Any

from ..bounds import MAX_CLUSTER_BYTES, MAX_RUN_EVIDENCE_BYTES, encoded_bytes
from ..cluster import EvidenceKey
from ..models import AFFECTED_KEYS

IdPairs = list[tuple[int, str]]  # (index in AFFECTED_KEYS, masked id)


class RunGroup:
    """One run's events (a bounded max-heap by key, each kept as its JSON text only) and its per-class ids."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.by_class: dict[str, tuple[set[str], ...]] = {}
        self.heap: list[tuple[_Desc, int]] = []
        self.used = 0
        self.events = 0
        self.cut: tuple[EvidenceKey, str] | None = None  # the smallest event ever evicted

    def fold(self, cluster: str, pairs: IdPairs, key: EvidenceKey, text: str | None, size: int) -> None:
        """One event: its ids under its class, and its JSON ``text`` (``size`` bytes) as a candidate; ``None``
        when the event is known to fall past the run's 64 KiB prefix."""
        self.events += 1
        ids = self.by_class.get(cluster)
        if ids is None:
            ids = self.by_class[cluster] = tuple(set() for _ in AFFECTED_KEYS)
        for index, value in pairs:
            ids[index].add(value)
        if text is not None:
            self.add(key, text, size)

    def add(self, key: EvidenceKey, text: str, size: int) -> None:
        """Keep the longest (key, text)-ordered prefix within 64 KiB, whatever the arrival order. An event is
        kept as its JSON text only: a dict per kept event costs ~8x its JSON in memory."""
        order = (key, text)
        if self.cut is not None and order > self.cut:
            return
        heapq.heappush(self.heap, (_Desc(order), size))
        self.used += size
        while self.used > MAX_RUN_EVIDENCE_BYTES and self.heap:
            evicted = heapq.heappop(self.heap)
            self.used -= evicted[1]
            self.cut = evicted[0].key


class _Desc:
    """Reverses a key's order so ``heapq`` (a min-heap) pops the largest key first."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[EvidenceKey, str]) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return self.key > other.key


def run_json(group: RunGroup) -> str:
    """``compact(finish_run(group))``, assembled from the kept events' texts when the run fits its bound
    as it is (the usual case: no event is parsed back); a run to trim takes ``finish_run``."""
    texts = [item[0].key[1] for item in sorted(group.heap, key=lambda item: item[0].key)]
    dropped = group.events - len(texts)
    head = f'{{"run":{compact(group.run)},"affected_by_class":{compact(_id_summary(group))},"events":['
    text = head + ",".join(texts) + "]" + (f',"dropped_events":{dropped}' if dropped else "") + "}"
    return text if len(text.encode()) <= MAX_CLUSTER_BYTES else compact(finish_run(group))


def _id_summary(group: RunGroup) -> dict[str, dict[str, list[str]]]:
    return {
        cluster: {name: sorted(ids[index]) for index, name in enumerate(AFFECTED_KEYS)}
        for cluster, ids in sorted(group.by_class.items())
    }


def finish_run(group: RunGroup) -> dict[str, Any]:
    kept = sorted(group.heap, key=lambda item: item[0].key)
    events = [json.loads(item[0].key[1]) for item in kept]
    run: dict[str, Any] = {"run": group.run, "affected_by_class": _id_summary(group), "events": events}
    run["dropped_events"] = group.events - len(events)
    _fit_run(run)
    if not run["dropped_events"]:
        run.pop("dropped_events")
    return run


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # one encoder: dumps builds one per call


def compact(value: Any) -> str:
    """Compact JSON in the fields' written order (what the manifest holds, byte for byte)."""
    return _COMPACT.encode(value)


def _fit_run(run: dict[str, Any]) -> None:
    """Keep the group within 256 KiB: drop the largest-key events, then shorten the longest id lists."""
    while len(run["events"]) > 1 and encoded_bytes(run) > MAX_CLUSTER_BYTES:
        run["events"].pop()
        run["dropped_events"] += 1
    lists = [(cluster, name) for cluster in run["affected_by_class"] for name in AFFECTED_KEYS]
    lists.sort(key=lambda item: -len(run["affected_by_class"][item[0]][item[1]]))
    for cluster, name in lists:
        if encoded_bytes(run) <= MAX_CLUSTER_BYTES:
            return
        _shorten(run, run["affected_by_class"][cluster], name)


def _shorten(run: dict[str, Any], affected: dict[str, Any], name: str) -> None:
    values = affected[name]
    low, high, best = 0, len(values), 0
    while low <= high:
        middle = (low + high) // 2
        _set_kept(affected, name, values, middle)
        if encoded_bytes(run) <= MAX_CLUSTER_BYTES:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    _set_kept(affected, name, values, best)


def _set_kept(affected: dict[str, Any], name: str, values: list[str], keep: int) -> None:
    affected[name] = values[:keep]
    omitted = affected.setdefault("omitted", {})
    omitted[name] = len(values) - keep
    if not omitted[name]:
        omitted.pop(name)
    if not omitted:
        affected.pop("omitted")
