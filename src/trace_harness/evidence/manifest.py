"""aiops ``trace-evidence-manifest/v2``: durable, redacted, bounded worker events grouped by run.

Writing: per run (keyed by task id, else issue id), ``affected_by_class`` collects every event's ids under
the event's own class *before* the 64 KiB event cap drops anything, so dropped events' ids survive. Which
events are kept is decided by the fixed key (timestamp, ref). Each run group also fits 256 KiB: events go
first, then the longest id lists, with ``omitted`` counts.

Reading: events are re-clustered by their stored class (never re-parsed from the redacted excerpt) for
evidence only; affected ids come from the per-class summaries, so kept + omitted stays exact.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..bounds import (
    MAX_CLUSTER_BYTES,
    MAX_EVIDENCE_EXCERPT_BYTES,
    MAX_RUN_EVIDENCE_BYTES,
    bounded_metadata,
    encoded_bytes,
    truncate,
)
from ..cluster import ClusterAccumulator, ClusterSeed, EvidenceKey, evidence_key
from ..cluster_emit import mask_many
from ..errors import InputFormatError
from ..models import AFFECTED_KEYS, Finding, InputRef
from ..redact import mask
from ..taxonomy import WORKER_CLASSES
from .base import ReaderOptions
from .worker_log import SOURCE, iso_converter

SCHEMA = "trace-evidence-manifest/v2"
_MASK_BATCH = 256  # findings masked together
MAX_MANIFEST_READ_BYTES = 512 * 1024 * 1024  # a manifest is bounded per run; refuse absurd files outright


class _RunGroup:
    """One run's events (a bounded max-heap by key, each kept as its JSON text only) and its per-class ids."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.by_class: dict[str, tuple[set[str], ...]] = {}
        self.heap: list[tuple[_Desc, int]] = []
        self.used = 0
        self.events = 0
        self.cut: tuple[EvidenceKey, str] | None = None  # the smallest event ever evicted

    def add(self, key: EvidenceKey, entry: dict[str, Any]) -> None:
        """Keep the longest (key, text)-ordered prefix within 64 KiB, whatever the arrival order."""
        text = _compact(entry)  # the text is the event: a dict per kept event costs ~8x its JSON in memory
        order = (key, text)
        if self.cut is not None and order > self.cut:
            return
        size = len(text.encode())
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


class ManifestBuilder:
    """Streams worker findings into run groups; ``manifest()`` returns the finished JSON-ready dict.
    Findings are masked in batches (a few ``mask`` calls per few hundred findings)."""

    def __init__(self) -> None:
        self._runs: dict[str, _RunGroup] = {}
        self._pending: list[Finding] = []

    def add(self, finding: Finding) -> None:
        self._pending.append(finding)
        if len(self._pending) >= _MASK_BATCH:
            self._flush()

    def _flush(self) -> None:
        findings, self._pending = self._pending, []
        texts: list[str] = []
        for finding in findings:
            texts.append((finding.run or finding.issue or "unknown").strip())
            texts += [value.strip() for value in _id_values(finding) if value.strip()]
            texts += [finding.ref, finding.kind, finding.excerpt, *finding.metadata.values()]
        masked = iter(mask_many(texts))
        for finding in findings:
            self._add_masked(finding, masked)

    def _add_masked(self, finding: Finding, masked: Iterator[str]) -> None:
        """Fold one finding whose texts come masked, in ``_flush`` order, from ``masked``."""
        run_id = next(masked)
        group = self._runs.setdefault(run_id, _RunGroup(run_id))
        group.events += 1
        pairs = [(index, next(masked)) for index, value in enumerate(_id_values(finding)) if value.strip()]
        ids = group.by_class.setdefault(finding.cluster_id, tuple(set() for _ in AFFECTED_KEYS))
        affected: dict[str, list[str]] = {}
        for index, value in pairs:
            ids[index].add(value)
            affected.setdefault(AFFECTED_KEYS[index], []).append(value)
        ref, kind, excerpt = next(masked), next(masked), next(masked)
        entry = {
            "source": finding.source,
            "ref": ref,
            "kind": kind,
            "excerpt": truncate(excerpt, MAX_EVIDENCE_EXCERPT_BYTES),
            "metadata": bounded_metadata({name: next(masked) for name in finding.metadata}),
            "affected": affected,
            "class": finding.cluster_id,
        }
        group.add(evidence_key(finding.timestamp, finding.ref), entry)

    def manifest(self, inputs: Iterable[InputRef], generated_at: str) -> dict[str, Any]:
        """The whole manifest as one dict (every kept event at once: for small inputs and tests)."""
        self._flush()
        runs = [_finish_run(self._runs[run]) for run in sorted(self._runs)]
        return {**self._head(inputs, generated_at), "runs": runs}

    def json_pieces(self, inputs: Iterable[InputRef], generated_at: str) -> Iterator[str]:
        """``manifest_json(self.manifest(…))`` in pieces, one run at a time, so a large manifest is written
        without ever holding its parsed events at once; each run is released once written."""
        self._flush()
        head = manifest_json({**self._head(inputs, generated_at), "runs": []})
        yield head[: -len("[]}\n")] + "["
        for index, run in enumerate(sorted(self._runs)):
            yield ("," if index else "") + _run_json(self._runs.pop(run))
        yield "]}\n"

    @staticmethod
    def _head(inputs: Iterable[InputRef], generated_at: str) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA,
            "generated_at": generated_at,
            "bounds": {"max_run_evidence_bytes": MAX_RUN_EVIDENCE_BYTES, "max_cluster_bytes": MAX_CLUSTER_BYTES},
            "inputs": [ref.model_dump(mode="json") for ref in inputs],
        }


def _run_json(group: _RunGroup) -> str:
    """``_compact(_finish_run(group))``, assembled from the kept events' texts when the run fits its bound
    as it is (the usual case: no event is parsed back); a run to trim takes ``_finish_run``."""
    texts = [item[0].key[1] for item in sorted(group.heap, key=lambda item: item[0].key)]
    dropped = group.events - len(texts)
    head = f'{{"run":{_compact(group.run)},"affected_by_class":{_compact(_id_summary(group))},"events":['
    text = head + ",".join(texts) + "]" + (f',"dropped_events":{dropped}' if dropped else "") + "}"
    return text if len(text.encode()) <= MAX_CLUSTER_BYTES else _compact(_finish_run(group))


def _id_summary(group: _RunGroup) -> dict[str, dict[str, list[str]]]:
    return {
        cluster: {name: sorted(ids[index]) for index, name in enumerate(AFFECTED_KEYS)}
        for cluster, ids in sorted(group.by_class.items())
    }


def _id_values(finding: Finding) -> tuple[str, ...]:
    """A finding's ids in ``AFFECTED_KEYS`` order."""
    return (finding.issue, finding.identifier, finding.pull_request, finding.run, finding.session)


def _finish_run(group: _RunGroup) -> dict[str, Any]:
    kept = sorted(group.heap, key=lambda item: item[0].key)
    events = [json.loads(item[0].key[1]) for item in kept]
    run: dict[str, Any] = {"run": group.run, "affected_by_class": _id_summary(group), "events": events}
    run["dropped_events"] = group.events - len(events)
    _fit_run(run)
    if not run["dropped_events"]:
        run.pop("dropped_events")
    return run


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # one encoder: dumps builds one per call


def _compact(value: Any) -> str:
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


def manifest_json(manifest: dict[str, Any]) -> str:
    """Compact JSON in the field order written (``bounds.compact_json`` would sort the keys)."""
    return _compact(manifest) + "\n"


def load_manifest(path: Path) -> dict[str, Any]:
    """A parsed v2 manifest; any other JSON (e.g. a report) is an InputFormatError, never an empty manifest."""
    where = mask(str(path))
    if path.stat().st_size > MAX_MANIFEST_READ_BYTES:
        raise InputFormatError(f"{where}: too large for an evidence manifest")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{where}: not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA:
        found = data.get("schema_version") if isinstance(data, dict) else type(data).__name__
        raise InputFormatError(f"{where}: not a {SCHEMA} evidence manifest (found {mask(str(found))!r})")
    if not isinstance(data.get("runs", []), list):
        raise InputFormatError(f"{where}: evidence manifest 'runs' must be a list")
    return data


def fold_manifest(data: dict[str, Any], accumulator: ClusterAccumulator, options: ReaderOptions) -> None:
    """Events for evidence only; each run's ``affected_by_class`` is the one source of affected ids."""
    to_iso = iso_converter(options.worker_log_tz)
    for run in data.get("runs", []):
        if not isinstance(run, dict):
            continue
        for event in run.get("events", []) or []:
            finding = _event_finding(event, to_iso.from_text)
            if finding is not None:
                accumulator.add(finding, record_affected=False)
        summary = run.get("affected_by_class")
        for cluster_id, affected in (summary if isinstance(summary, dict) else {}).items():
            if cluster_id in WORKER_CLASSES and isinstance(affected, dict):
                omitted = affected.get("omitted")
                accumulator.add_affected(
                    ClusterSeed.worker(cluster_id), _id_lists(affected), omitted if isinstance(omitted, dict) else {}
                )


def _id_lists(affected: dict[str, Any]) -> dict[str, list[str]]:
    return {name: [str(v) for v in values] for name in AFFECTED_KEYS if isinstance(values := affected.get(name), list)}


def _event_finding(event: Any, to_iso: Any) -> Finding | None:
    """A stored event as a finding of its stored class; an unknown class is skipped, never guessed."""
    if not isinstance(event, dict) or event.get("class") not in WORKER_CLASSES:
        return None
    seed = ClusterSeed.worker(event["class"])
    affected: dict[str, Any] = event["affected"] if isinstance(event.get("affected"), dict) else {}
    raw_metadata: dict[str, Any] = event["metadata"] if isinstance(event.get("metadata"), dict) else {}
    metadata = {str(key): str(value) for key, value in raw_metadata.items()}

    def first(name: str) -> str:
        values = affected.get(name)
        return str(values[0]) if isinstance(values, list) and values else ""

    return Finding(
        cluster_id=seed.cluster_id,
        failure_class=seed.failure_class,
        title=seed.title,
        symptom_class=seed.symptom_class,
        signature=seed.signature,
        source=str(event.get("source") or SOURCE),
        ref=str(event.get("ref", "")),
        kind=str(event.get("kind", "")),
        excerpt=str(event.get("excerpt", "")),
        metadata=metadata,
        timestamp=to_iso(metadata.get("timestamp", "")),
        issue=first("issues"),
        identifier=first("issue_identifiers"),
        run=first("runs"),
        session=first("sessions"),
        pull_request=first("pull_requests"),
    )
