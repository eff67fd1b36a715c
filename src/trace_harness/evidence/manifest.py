"""aiops ``trace-evidence-manifest/v2``: durable, redacted, bounded worker events grouped by run.

Writing: per run (keyed by task id, else issue id), ``affected_by_class`` collects every event's ids under
the event's own class *before* the 64 KiB event cap drops anything, so dropped events' ids survive. Which
events are kept is decided by the fixed key (timestamp, ref). Each run group also fits 256 KiB: events go
first, then the longest id lists, with ``omitted`` counts.

Reading: the file is streamed one run at a time (ijson), so memory does not grow with the manifest. Events are
re-clustered by their stored class (never re-parsed from the redacted excerpt) for evidence only; affected
ids come from the per-class summaries, so kept + omitted stays exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, BinaryIO

import ijson

from ..bounds import MAX_CLUSTER_BYTES, MAX_EVIDENCE_EXCERPT_BYTES, MAX_RUN_EVIDENCE_BYTES, bounded_metadata, truncate
from ..cluster import ClusterAccumulator, ClusterSeed, evidence_key
from ..cluster_emit import mask_many
from ..errors import InputFormatError
from ..models import AFFECTED_KEYS, Finding, InputRef
from ..redact import mask
from ..taxonomy import WORKER_CLASSES
from .base import ReaderOptions
from .manifest_group import RunGroup, compact, run_json
from .manifest_spool import RunSpool
from .worker_log import SOURCE, iso_converter

SCHEMA = "trace-evidence-manifest/v2"
_MASK_BATCH = 256  # findings masked together
MAX_MANIFEST_RUN_BYTES = 16 * 1024 * 1024  # read per run at most: writers bound a run to 256 KiB
_JSON_TYPES = {
    "start_map": "dict", "start_array": "list", "string": "str", "boolean": "bool", "null": "None",
    "number": "number", "integer": "number", "double": "number",
}  # fmt: skip
_AFFECTED_INDEX = {name: index for index, name in enumerate(AFFECTED_KEYS)}
_AFTER_RUNS = object()  # the head ended at `runs` before any `schema_version`


class ManifestBuilder:
    """Streams worker findings into run groups; ``json_pieces`` writes the manifest run by run.

    Findings are masked in batches (a few ``mask`` calls per few hundred findings). With ``buckets`` > 1 the
    events are spooled to that many files in a temporary folder (``manifest_spool``), so memory does not grow
    with the manifest; use the builder as a context manager then, so the folder always goes."""

    def __init__(self, buckets: int = 1) -> None:
        self._runs: dict[str, RunGroup] = {}
        self._pending: list[Finding] = []
        self._folder = TemporaryDirectory(prefix="trace-harness-manifest-") if buckets > 1 else None
        self._spool = RunSpool(Path(self._folder.name), buckets) if self._folder is not None else None

    def __enter__(self) -> ManifestBuilder:
        return self

    def __exit__(self, *_: object) -> None:
        if self._spool is not None and self._folder is not None:
            self._spool.close()
            self._folder.cleanup()

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
        pairs = [(index, next(masked)) for index, value in enumerate(_id_values(finding)) if value.strip()]
        affected: dict[str, list[str]] = {}
        for index, value in pairs:
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
        text = compact(entry)
        key, size = evidence_key(finding.timestamp, finding.ref), len(text.encode())
        if self._spool is not None:
            self._spool.add(run_id, finding.cluster_id, pairs, key, text, size)
            return
        group = self._runs.get(run_id)
        if group is None:
            group = self._runs[run_id] = RunGroup(run_id)
        group.fold(finding.cluster_id, pairs, key, text, size)

    def manifest(self, inputs: Iterable[InputRef], generated_at: str) -> dict[str, Any]:
        """The whole manifest as one dict (every kept event at once: for small inputs and tests)."""
        loaded: dict[str, Any] = json.loads("".join(self.json_pieces(inputs, generated_at)))
        return loaded

    def json_pieces(self, inputs: Iterable[InputRef], generated_at: str) -> Iterator[str]:
        """``manifest_json`` of the manifest in pieces, one run at a time, so a large manifest is written
        without ever holding its parsed events at once; each run is released once written."""
        self._flush()
        head = manifest_json({**self._head(inputs, generated_at), "runs": []})
        yield head[: -len("[]}\n")] + "["
        for index, text in enumerate(self._runs_json()):
            yield ("," if index else "") + text
        yield "]}\n"

    def _runs_json(self) -> Iterator[str]:
        if self._spool is not None:
            yield from self._spool.runs_json()
            return
        for run in sorted(self._runs):
            yield run_json(self._runs.pop(run))

    @staticmethod
    def _head(inputs: Iterable[InputRef], generated_at: str) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA,
            "generated_at": generated_at,
            "bounds": {"max_run_evidence_bytes": MAX_RUN_EVIDENCE_BYTES, "max_cluster_bytes": MAX_CLUSTER_BYTES},
            "inputs": [ref.model_dump(mode="json") for ref in inputs],
        }


def _id_values(finding: Finding) -> tuple[str, ...]:
    """A finding's ids in ``AFFECTED_KEYS`` order."""
    return (finding.issue, finding.identifier, finding.pull_request, finding.run, finding.session)


def manifest_json(manifest: dict[str, Any]) -> str:
    """Compact JSON in the field order written (``bounds.compact_json`` would sort the keys)."""
    return compact(manifest) + "\n"


def manifest_runs(path: Path) -> Iterator[Any]:
    """The runs of a v2 manifest, parsed one at a time, so memory holds one run whatever the file's size.
    The schema is checked before the first run: any other JSON (e.g. a report) is an InputFormatError, never
    an empty manifest; so is a run over ``MAX_MANIFEST_RUN_BYTES`` or JSON that breaks off."""
    where = mask(str(path))
    try:
        with path.open("rb") as raw:
            _check_head(raw, where)
            raw.seek(0)
            stream = _RunBoundedStream(raw, where)
            for run in ijson.items(stream, "runs.item", use_float=True):
                stream.mark()
                yield run
    except ijson.JSONError as exc:
        raise InputFormatError(f"{where}: not JSON ({_first_line(exc)})") from None


def _check_head(raw: BinaryIO, where: str) -> None:
    """Read up to the start of ``runs`` (the whole file only when ``schema_version`` comes after it)."""
    events = ijson.parse(raw)
    found: Any = _JSON_TYPES.get(next(events, ("", "", None))[1], "nothing")
    if found == "dict":
        found = _head_schema(events, where)
        if found is _AFTER_RUNS:  # key-sorted writers put `runs` first: one fast pass finds the version
            raw.seek(0)
            found = next(ijson.items(raw, "schema_version"), None)
    if found != SCHEMA:
        raise InputFormatError(f"{where}: not a {SCHEMA} evidence manifest (found {mask(str(found))!r})")


def _head_schema(events: Iterator[tuple[str, str, Any]], where: str) -> Any:
    """The top-level ``schema_version``'s value (its JSON type name when not a string), ``None`` when absent,
    or ``_AFTER_RUNS`` when ``runs`` comes first."""
    schema: Any = None
    for prefix, event, value in events:
        if prefix == "schema_version" and event in _JSON_TYPES:
            schema = value if event == "string" else _JSON_TYPES[event]
        elif prefix == "runs" and event in _JSON_TYPES:
            if event != "start_array":
                raise InputFormatError(f"{where}: evidence manifest 'runs' must be a list")
            return schema if schema is not None else _AFTER_RUNS
    return schema


class _RunBoundedStream:
    """The file as ijson reads it, refusing to read more than ``MAX_MANIFEST_RUN_BYTES`` for one run: both
    writers bound a run to 256 KiB, so a larger one is not a manifest and must not fill memory."""

    def __init__(self, raw: BinaryIO, where: str) -> None:
        self.raw, self.where = raw, where
        self.read_bytes = self.marked = 0

    def read(self, size: int = -1) -> bytes:
        if self.read_bytes - self.marked > MAX_MANIFEST_RUN_BYTES:
            raise InputFormatError(f"{self.where}: a run over {MAX_MANIFEST_RUN_BYTES} bytes; not an evidence manifest")
        data = self.raw.read(size)
        self.read_bytes += len(data)
        return data

    def mark(self) -> None:
        """A run ended within what was read so far."""
        self.marked = self.read_bytes


def _first_line(exc: Exception) -> str:
    """The parser's message, first line only (yajl's next lines quote the file), redacted and bounded."""
    detail = exc.args[0] if exc.args else ""
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    lines = text.strip().splitlines()
    return mask(lines[0] if lines else type(exc).__name__)[:200]


def fold_manifest(runs: Iterable[Any], accumulator: ClusterAccumulator, options: ReaderOptions) -> None:
    """Events for evidence only; each run's ``affected_by_class`` is the one source of affected ids."""
    to_iso = iso_converter(options.worker_log_tz).from_text
    for run in runs:
        if not isinstance(run, dict):
            continue
        events = run.get("events")
        for event in events if isinstance(events, list) else ():
            if isinstance(event, dict) and event.get("class") in WORKER_CLASSES:
                _fold_event(event, accumulator, to_iso)
        summary = run.get("affected_by_class")
        for cluster_id, affected in (summary if isinstance(summary, dict) else {}).items():
            if cluster_id in WORKER_CLASSES and isinstance(affected, dict):
                seed = ClusterSeed.worker(cluster_id)
                accumulator.add_affected(seed, _id_lists(affected), _omitted_counts(affected.get("omitted")))


def _fold_event(event: dict[str, Any], accumulator: ClusterAccumulator, to_iso: Callable[[str], str]) -> None:
    """A stored event, counted under its stored class (never guessed); its Finding is built only if kept."""
    metadata: Any = event.get("metadata")
    stamp = metadata.get("timestamp", "") if isinstance(metadata, dict) else ""
    key = evidence_key(to_iso(str(stamp)), str(event.get("ref", "")))
    ids = _event_ids(event.get("affected"))
    pairs = [(index, value.strip()) for index, value in enumerate(ids) if value and not value.isspace()]
    accumulator.fold_stored(event["class"], key, pairs, partial(_event_finding, event, key[0], ids))


def _event_ids(affected: Any) -> list[str]:
    """The event's first id of each affected list, in ``AFFECTED_KEYS`` order ("" when absent)."""
    ids = [""] * len(AFFECTED_KEYS)
    for name, values in affected.items() if isinstance(affected, dict) else ():
        index = _AFFECTED_INDEX.get(name)
        if index is not None and isinstance(values, list) and values:
            ids[index] = values[0] if isinstance(values[0], str) else str(values[0])
    return ids


def _omitted_counts(omitted: Any) -> dict[str, int]:
    """The summary's ``omitted`` counts that are counts (a hand-edited manifest may hold anything)."""
    if not isinstance(omitted, dict):
        return {}
    return {name: count for name, count in omitted.items() if type(count) is int and count > 0}


def _id_lists(affected: dict[str, Any]) -> dict[str, list[str]]:
    return {name: [str(v) for v in values] for name in AFFECTED_KEYS if isinstance(values := affected.get(name), list)}


def _event_finding(event: dict[str, Any], timestamp: str, ids: list[str]) -> Finding:
    seed = ClusterSeed.worker(event["class"])
    raw: Any = event.get("metadata")
    metadata = {str(name): str(value) for name, value in raw.items()} if isinstance(raw, dict) else {}
    issue, identifier, pull_request, run, session = ids
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
        timestamp=timestamp,
        issue=issue,
        identifier=identifier,
        run=run,
        session=session,
        pull_request=pull_request,
    )
