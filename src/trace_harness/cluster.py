"""Folding findings into bounded, redacted cluster state, independent of the order findings arrive in.

* Affected ids (issues, identifiers, PRs, runs, sessions) are kept for every finding, even when its
  evidence is not; they are masked once per distinct value, at the moment they are kept.
* Evidence is chosen by a fixed key, (timestamp, input path, line): each cluster keeps a max-heap of the
  smallest keys whose entries fit the cluster byte bound. A finding whose key is larger than a full heap's
  largest is never turned into an entry. At the end, the per-run bound (64 KiB) is applied in key order,
  and each input that lost all its entries gets its earliest one back when it fits.
* Independent occurrences: connected components over the findings' affected ids (findings that share an id are
  one occurrence), plus the largest per-list count of ids known only as an ``omitted`` count.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .bounds import (
    MAX_CLUSTER_BYTES,
    MAX_EVIDENCE_EXCERPT_BYTES,
    MAX_RUN_EVIDENCE_BYTES,
    compact_json,
    truncate,
)
from .cluster_emit import AFFECTED_BUDGET as AFFECTED_BUDGET
from .cluster_emit import cluster_texts, masked_entries, masked_ids
from .cluster_emit import mask_many as mask_many
from .components import IdComponents
from .models import AFFECTED_KEYS, Affected, Cluster, Finding
from .redact import mask
from .taxonomy import WORKER_CLASSES, FailureClass, Severity

EVIDENCE_OMITTED_KEY = "evidence"
MAX_EARLIER_IDS = 64  # per cluster: one per earlier fingerprint version, unless a version merged clusters
RAW_EXCERPT_CAP = 64 * 1024  # raw excerpts are cut here before masking; emitted ones are cut to 4 KiB


class AttributeTracker(Protocol):
    """Flaky and systemic detection (``attributes.AttributeTracker``), seen here only through this shape."""

    def observe(self, finding: Finding) -> None: ...

    def flaky(self, cluster_id: str) -> bool: ...

    def systemic(self, cluster_id: str) -> bool: ...


def wants_worker_findings(tracker: object) -> bool:
    """Whether ``tracker`` must see every worker finding: only one that says it needs none is spared them."""
    return tracker is not None and bool(getattr(tracker, "wants_worker_findings", True))


EvidenceKey = tuple[str, str, int, str]
_UNSEEN: EvidenceKey = ("\uffff", "", 0, "")  # the seed key of a cluster no finding has named yet


def evidence_key(timestamp: str, ref: str) -> EvidenceKey:
    """(timestamp, input path, line number, ref): lines order numerically, ties stay deterministic."""
    path, _, line = ref.rpartition(":")
    if path and line.isdigit():
        return (timestamp, path, int(line), ref)
    return (timestamp, ref, -1, ref)


class _Candidate:
    """An evidence entry waiting in a cluster heap; ordered so the heap top is the largest key."""

    __slots__ = ("entry", "key", "rank", "run", "size", "text")

    def __init__(self, key: EvidenceKey, run: str, text: str, entry: dict[str, Any]) -> None:
        self.key, self.run, self.entry = key, run, entry
        self.text = text  # the entry's compact JSON: its size, and the tie-break when two entries share a key
        self.size = len(text.encode())
        self.rank = (key, text)  # heap comparisons run often: built once, not per comparison

    def order(self) -> tuple[EvidenceKey, str]:
        return self.rank

    def __lt__(self, other: _Candidate) -> bool:
        return self.rank > other.rank

    def __reduce__(self) -> tuple[type[_Candidate], tuple[Any, ...]]:
        return (_Candidate, (self.key, self.run, self.text, self.entry))  # a plain call: fast to unpickle


@dataclass(frozen=True, slots=True)
class ClusterSeed:
    """What names a cluster: its id, class and texts, taken from its earliest finding."""

    cluster_id: str
    failure_class: FailureClass
    title: str
    symptom_class: str
    signature: str = ""

    @classmethod
    def worker(cls, cluster_id: str) -> ClusterSeed:
        failure_class, title, symptom = WORKER_CLASSES[cluster_id]
        return cls(cluster_id, failure_class, title, symptom, cluster_id)


class _ClusterState:
    """Mutable, bounded state of one cluster while findings stream in."""

    def __init__(self, seed: ClusterSeed, seed_key: EvidenceKey) -> None:
        self.seed, self.seed_key = seed, seed_key
        self.severity = Severity.NORMAL
        self.omitted: dict[str, int] = {}
        self.components = IdComponents(len(AFFECTED_KEYS))  # the affected ids themselves, and their components
        self.unlisted: tuple[set[str], ...] = tuple(set() for _ in AFFECTED_KEYS)  # joined, never recorded
        self.heap: list[_Candidate] = []
        self.heap_bytes = 0
        self.cut: tuple[EvidenceKey, str] | None = None  # the smallest entry ever evicted
        self.first_by_input: dict[str, _Candidate] = {}
        self.findings = 0
        self.tokenless_inputs: set[str] = set()
        self.first_seen = ""
        self.last_seen = ""
        self.earlier_ids: set[str] = set()  # the cluster's ids under earlier fingerprint versions

    def may_keep(self, key: EvidenceKey) -> bool:
        """Whether an entry of ``key`` could be kept: its input's earliest so far, or not past a full heap."""
        first = self.first_by_input.get(key[1])
        return first is None or key <= first.key or not self.heap_full_below(key)

    def heap_full_below(self, key: EvidenceKey) -> bool:
        """True when ``key`` cannot be kept (so no entry needs building): past the cut, or past a full heap."""
        if self.cut is not None and key > self.cut[0]:
            return True
        return self.heap_bytes >= MAX_CLUSTER_BYTES and key > self.heap[0].key

    def push(self, candidate: _Candidate) -> None:
        """Keep exactly the longest key-ordered prefix that fits; anything past the first eviction stays out."""
        order = candidate.order()
        if self.cut is not None and order > self.cut:
            return
        heapq.heappush(self.heap, candidate)
        self.heap_bytes += candidate.size + 1
        while self.heap_bytes > MAX_CLUSTER_BYTES:
            evicted = heapq.heappop(self.heap)
            self.heap_bytes -= evicted.size + 1
            self.cut = evicted.order()

    def absorb(self, other: _ClusterState) -> None:
        """Fold in another state of the same cluster (e.g. from a forked scan); the result is order-free."""
        if (other.seed_key, _seed_order(other.seed)) < (self.seed_key, _seed_order(self.seed)):
            self.seed, self.seed_key = other.seed, other.seed_key
        if other.severity is Severity.SEVERE:
            self.severity = Severity.SEVERE
        self.unlisted = tuple(
            {value for value in mine | theirs if not self.listed(index, value) and not other.listed(index, value)}
            for index, (mine, theirs) in enumerate(zip(self.unlisted, other.unlisted, strict=True))
        )
        for name, count in other.omitted.items():
            self.omitted[name] = self.omitted.get(name, 0) + count
        self.components.absorb(other.components)
        self._absorb_evidence(other)
        self.findings += other.findings
        self.tokenless_inputs |= other.tokenless_inputs
        self.earlier_ids |= other.earlier_ids
        self.first_seen = min(filter(None, (self.first_seen, other.first_seen)), default="")
        self.last_seen = max(self.last_seen, other.last_seen)

    def _absorb_evidence(self, other: _ClusterState) -> None:
        """Both heaps hold key-ordered prefixes; re-pushing them in order below the lower cut keeps the
        longest prefix of their union that fits, which is what one state fed everything would keep."""
        candidates = sorted(self.heap + other.heap, key=_Candidate.order)
        cuts = [cut for cut in (self.cut, other.cut) if cut is not None]
        self.heap, self.heap_bytes, self.cut = [], 0, min(cuts, default=None)
        for candidate in candidates:
            self.push(candidate)
        for path, first in other.first_by_input.items():
            mine = self.first_by_input.get(path)
            if mine is None or first.order() < mine.order():
                self.first_by_input[path] = first

    def record(self, pairs: list[tuple[int, str]], *, listed: bool = True) -> None:
        """Join one finding's ids; ``listed=False`` keeps ids not yet known out of the affected lists."""
        if not listed:
            unknown = [(index, value) for index, value in pairs if value not in self.components.label_of[index]]
            self.components.join(pairs)
            for index, value in unknown:
                self.unlisted[index].add(value)
            return
        self.components.join(pairs)
        if any(self.unlisted):
            for index, value in pairs:
                self.unlisted[index].discard(value)

    def listed(self, index: int, value: str) -> bool:
        return value in self.components.label_of[index] and value not in self.unlisted[index]

    def ids(self) -> tuple[Collection[str], ...]:
        """The affected id lists (raw)."""
        pairs = zip(self.components.ids(), self.unlisted, strict=True)
        return tuple([value for value in ids if value not in hidden] if hidden else ids for ids, hidden in pairs)


class ClusterAccumulator:
    """Folds findings into clusters; ``clusters()`` returns the finished, redacted, bounded models."""

    def __init__(self, tracker: AttributeTracker | None = None) -> None:
        self._clusters: dict[str, _ClusterState] = {}
        self._deferred: dict[str, list[tuple[int, Callable[[], None]]]] = {}  # (findings, settle) per cluster
        self._tracker = tracker

    def add(self, finding: Finding, *, record_affected: bool = True) -> None:
        key = evidence_key(finding.timestamp, finding.ref)
        state = self._state(finding, key)
        state.findings += 1
        if finding.severity is Severity.SEVERE:
            state.severity = Severity.SEVERE
        if finding.earlier_ids and len(state.earlier_ids) < MAX_EARLIER_IDS:
            state.earlier_ids.update(finding.earlier_ids)
        self._observe_time(state, finding.timestamp)
        pairs = _id_pairs(finding)
        self._record_ids(state, pairs, finding.ref, record_affected)
        self._offer_evidence(state, finding, key, pairs)
        if self._tracker is not None:
            self._tracker.observe(finding)

    def add_affected(
        self, seed: ClusterSeed, affected: Mapping[str, Iterable[str]], omitted: Mapping[str, int]
    ) -> None:
        """Fold ids known only from a summary (e.g. a manifest's ``affected_by_class``) into a cluster."""
        state = self._clusters.get(seed.cluster_id)
        if state is None:
            state = self._clusters[seed.cluster_id] = _ClusterState(seed, _UNSEEN)
        for index, name in enumerate(AFFECTED_KEYS):
            for value in affected.get(name, ()):
                if text := str(value).strip():
                    state.components.add_unjoined(index, text)
                    state.unlisted[index].discard(text)
            if (count := int(omitted.get(name, 0) or 0)) > 0:
                state.omitted[name] = state.omitted.get(name, 0) + count

    def fold_stored(
        self, cluster_id: str, key: EvidenceKey, pairs: list[tuple[int, str]], build: Callable[[], Finding]
    ) -> None:
        """``add(build(), record_affected=False)`` of a stored worker event (a manifest's), whose Finding is
        built only if its entry may be kept: most stored events only count."""
        if wants_worker_findings(self._tracker):
            self.add(build(), record_affected=False)  # e.g. `run`'s recorder, which stores findings
            return
        state = self._clusters.get(cluster_id)
        if state is None or key <= state.seed_key:
            state = self._seeded_state(ClusterSeed.worker(cluster_id), key)
        state.findings += 1
        self._observe_time(state, key[0])
        self._record_ids(state, pairs, key[3], False)
        if state.may_keep(key):
            self._offer_evidence(state, build(), key, pairs)

    def fold_worker(self, cluster_id: str, timestamp: str, key: EvidenceKey, pairs: list[tuple[int, str]]) -> bool:
        """``add`` of a worker finding known by its fields only (no tracker); True when its entry may be kept.

        The caller then builds the Finding and passes it to ``offer_worker_entry``: most records never need one.
        """
        state = self._clusters.get(cluster_id)
        if state is None or key <= state.seed_key:
            state = self._seeded_state(ClusterSeed.worker(cluster_id), key)
        state.findings += 1
        if timestamp < state.first_seen or not state.first_seen:
            state.first_seen = timestamp
        if timestamp > state.last_seen:
            state.last_seen = timestamp
        if any(state.unlisted):
            state.record(pairs)
        else:  # the usual case, one call less
            state.components.join(pairs)
        first = state.first_by_input.get(key[1])
        if first is None or key <= first.key:
            return True
        cut = state.cut  # heap_full_below, inline: this runs once per finding
        if cut is not None and key > cut[0]:
            return False
        return state.heap_bytes < MAX_CLUSTER_BYTES or key <= state.heap[0].key

    def fold_worker_rows(
        self, cluster_id: str, count: int, first: str, last: str, hubs: list[str], spokes: list[tuple[int, list[str]]]
    ) -> None:
        """``fold_worker`` of many findings at once, by their ids' columns: ``hubs`` (issues, all present) and
        ``(list index, column)`` spokes ("" when absent). Their entries come later, through ``offer_in_order``."""
        state = self._clusters.get(cluster_id) or self._seeded_state(ClusterSeed.worker(cluster_id), _UNSEEN)
        state.findings += count
        self._observe_time(state, first)
        self._observe_time(state, last)
        if not any(state.unlisted):
            state.components.join_star(hubs, spokes)
            return
        for row, hub in enumerate(hubs):  # ids known only from a manifest become listed: the exact per-finding path
            state.record([(0, hub), *((index, column[row]) for index, column in spokes if column[row])])

    def fold_worker_components(
        self, cluster_id: str, count: int, first: str, last: str, components: IdComponents
    ) -> None:
        """``fold_worker_rows`` of rows whose ids were joined elsewhere (the native scanner), merged like a
        forked scan's state."""
        state = _ClusterState(ClusterSeed.worker(cluster_id), _UNSEEN)
        state.findings, state.components = count, components
        self._observe_time(state, first)
        self._observe_time(state, last)
        earlier = self._clusters.get(cluster_id)
        self._clusters[cluster_id] = state
        if earlier is not None:  # absorbing costs what the absorbed holds: the few findings folded here so far
            state.absorb(earlier)

    def offer_in_order(self, finding: Finding, key: EvidenceKey, pairs: list[tuple[int, str]]) -> bool:
        """Offer the entry of a finding already counted, in increasing key order per input; False once the
        cluster can keep no later entry (so the caller stops building them)."""
        state = self._seeded_state(ClusterSeed.worker(finding.cluster_id), key)  # the earliest names the cluster
        self._offer_evidence(state, finding, key, pairs)
        return state.cut is None or key < state.cut[0]

    def offer_worker_entry(self, finding: Finding, key: EvidenceKey, pairs: list[tuple[int, str]]) -> None:
        """The evidence half of ``add`` for a finding already counted by ``fold_worker``."""
        self._offer_evidence(self._clusters[finding.cluster_id], finding, key, pairs)

    def defer(self, cluster_id: str, findings: int, settle: Callable[[], None]) -> None:
        """Have ``settle`` fold a part of a cluster in (through this accumulator) only when the cluster is
        finished or exported: a forked finisher then does that work on the other core."""
        self._deferred.setdefault(cluster_id, []).append((findings, settle))

    def finishing_weights(self) -> dict[str, int]:
        """What finishing each cluster costs, roughly: its findings, up to about what its bound keeps."""
        weights = {cluster_id: state.findings for cluster_id, state in self._clusters.items()}
        for cluster_id, parts in self._deferred.items():
            weights[cluster_id] = weights.get(cluster_id, 0) + sum(findings for findings, _ in parts)
        return {cluster_id: min(weight, MAX_CLUSTER_BYTES // 256) for cluster_id, weight in weights.items()}

    def state(self) -> dict[str, _ClusterState]:
        """The raw per-cluster state (picklable), for ``merge`` into another accumulator."""
        for cluster_id in list(self._deferred):
            self._settle(cluster_id)
        return self._clusters

    def merge(self, states: Mapping[str, _ClusterState]) -> None:
        """Fold another accumulator's ``state()`` in, as if this one had seen its findings too."""
        for cluster_id in sorted(states):
            mine = self._clusters.get(cluster_id)
            if mine is None:
                self._clusters[cluster_id] = states[cluster_id]
            else:
                mine.absorb(states[cluster_id])

    def cluster_ids(self) -> list[str]:
        return sorted(self._clusters.keys() | self._deferred.keys())

    def finish(self, cluster_id: str) -> Cluster:
        """One finished, redacted, bounded cluster; clusters finish independently (in any process)."""
        self._settle(cluster_id)
        return self._finish(self._clusters[cluster_id])

    def clusters(self) -> list[Cluster]:
        return [self.finish(cluster_id) for cluster_id in self.cluster_ids()]

    def _settle(self, cluster_id: str) -> None:
        for _, settle in self._deferred.pop(cluster_id, ()):
            settle()

    def id_aliases(self) -> dict[str, str]:
        """`{earlier id: cluster id}`; an earlier id that a new version split goes to the smallest new id."""
        aliases: dict[str, str] = {}
        for cluster_id in sorted(self._clusters, reverse=True):
            aliases.update(dict.fromkeys(self._clusters[cluster_id].earlier_ids, cluster_id))
        return dict(sorted(aliases.items()))

    def _state(self, finding: Finding, key: EvidenceKey) -> _ClusterState:
        state = self._clusters.get(finding.cluster_id)
        if state is not None and key > state.seed_key:
            return state
        seed = ClusterSeed(
            finding.cluster_id, finding.failure_class, finding.title, finding.symptom_class, finding.signature
        )
        return self._seeded_state(seed, key)

    def _seeded_state(self, seed: ClusterSeed, key: EvidenceKey) -> _ClusterState:
        """The seed's cluster state; the earliest finding names the cluster, whatever the arrival order."""
        state = self._clusters.get(seed.cluster_id)
        if state is None:
            state = self._clusters[seed.cluster_id] = _ClusterState(seed, key)
        elif key < state.seed_key or (key == state.seed_key and _seed_order(seed) < _seed_order(state.seed)):
            state.seed, state.seed_key = seed, key
        return state

    @staticmethod
    def _observe_time(state: _ClusterState, timestamp: str) -> None:
        if not timestamp:
            return
        if not state.first_seen or timestamp < state.first_seen:
            state.first_seen = timestamp
        if timestamp > state.last_seen:
            state.last_seen = timestamp

    @staticmethod
    def _record_ids(state: _ClusterState, pairs: list[tuple[int, str]], ref: str, record: bool) -> None:
        if pairs:
            state.record(pairs, listed=record)
        else:  # a finding with no ids at all counts once per input it came from
            state.tokenless_inputs.add(ref.rpartition(":")[0] or ref)

    def _offer_evidence(
        self, state: _ClusterState, finding: Finding, key: EvidenceKey, pairs: list[tuple[int, str]]
    ) -> None:
        if not state.may_keep(key):
            return
        candidate = self._candidate(finding, key, pairs)
        first = state.first_by_input.get(key[1])
        if first is None or candidate.order() < first.order():
            state.first_by_input[key[1]] = candidate
        state.push(candidate)

    def _candidate(self, finding: Finding, key: EvidenceKey, pairs: list[tuple[int, str]]) -> _Candidate:
        """A raw (in-memory only) entry; it is masked in one batch if it survives to the report."""
        affected: dict[str, list[str]] = {}
        for index, value in pairs:
            affected.setdefault(AFFECTED_KEYS[index], []).append(value)
        entry: dict[str, Any] = {
            "source": finding.source,
            "ref": finding.ref,
            "kind": finding.kind,
            "excerpt": finding.excerpt[:RAW_EXCERPT_CAP],
            "metadata": dict(finding.metadata),
            "affected": affected,
        }
        sized = {**entry, "excerpt": truncate(entry["excerpt"], MAX_EVIDENCE_EXCERPT_BYTES)}
        return _Candidate(key, finding.run or finding.issue or "unknown", compact_json(sized), entry)

    def _finish(self, state: _ClusterState) -> Cluster:
        kept = _select_evidence(state)
        omitted = dict(state.omitted)
        dropped = state.findings - len(kept)
        if dropped > 0:
            omitted[EVIDENCE_OMITTED_KEY] = omitted.get(EVIDENCE_OMITTED_KEY, 0) + dropped
        affected = Affected(**masked_ids(state.ids(), omitted), omitted=omitted)
        seed = state.seed
        flaky = self._tracker is not None and self._tracker.flaky(seed.cluster_id)
        systemic = self._tracker is not None and self._tracker.systemic(seed.cluster_id)
        occurrences = state.components.count() + len(state.tokenless_inputs) + trimmed_id_count(state.omitted)
        return Cluster(
            id=seed.cluster_id,
            title=mask(seed.title),
            symptom_class=mask(seed.symptom_class),
            affected=affected,
            evidence=masked_entries([candidate.entry for candidate in kept]),
            **cluster_texts(seed.cluster_id, seed.failure_class),
            failure_class=FailureClass.FLAKY_TEST if flaky else seed.failure_class,
            severity=state.severity,
            occurrences=occurrences,
            first_seen=state.first_seen,
            last_seen=state.last_seen,
            flaky=flaky,
            systemic=systemic,
            signature=mask(seed.signature),
        )


def _id_pairs(finding: Finding) -> list[tuple[int, str]]:
    """(list index, raw id) pairs; raw ids stay in memory only and are masked when emitted."""
    values = (finding.issue, finding.identifier, finding.pull_request, finding.run, finding.session)
    return [(index, value.strip()) for index, value in enumerate(values) if value and not value.isspace()]


def _select_evidence(state: _ClusterState) -> list[_Candidate]:
    """Key order, per-run byte bound, then each input's earliest entry back if the cluster bound allows."""
    run_bytes: dict[str, int] = {}
    kept: list[_Candidate] = []
    for candidate in sorted(state.heap, key=_Candidate.order):
        used = run_bytes.get(candidate.run, 0)
        if used + candidate.size <= MAX_RUN_EVIDENCE_BYTES:
            run_bytes[candidate.run] = used + candidate.size
            kept.append(candidate)
    total = sum(candidate.size + 1 for candidate in kept)
    inputs = {candidate.key[1] for candidate in kept}
    for path in sorted(state.first_by_input):
        first = state.first_by_input[path]
        if path not in inputs and total + first.size + 1 <= MAX_CLUSTER_BYTES:
            kept.append(first)
            total += first.size + 1
    return sorted(kept, key=_Candidate.order)


def _seed_order(seed: ClusterSeed) -> tuple[str, ...]:
    return (seed.failure_class.value, seed.title, seed.symptom_class, seed.signature)


def trimmed_id_count(omitted: Mapping[str, int]) -> int:
    """Ids dropped by a byte cap survive only as counts; the largest list count is the recurrence floor."""
    return max((int(omitted.get(name, 0)) for name in AFFECTED_KEYS), default=0)
