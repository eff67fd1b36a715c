"""Our durable evidence manifest, `trace-harness-manifest/v1`, for evidence other than aiops worker events.

It holds redacted, bounded findings (signature, class, refs, affected ids), so a later run can count
recurrence across the window without the raw logs, which CI deletes. Findings are kept per run up to
the 64 KiB evidence bound, chosen by the fixed key (timestamp, ref); the rest are counted as omitted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from ..bounds import MAX_EVIDENCE_EXCERPT_BYTES, MAX_RUN_EVIDENCE_BYTES, bounded_metadata, encoded_bytes, truncate
from ..cluster_emit import mask_many
from ..errors import InputFormatError
from ..models import EvidenceProblem, Finding, InputRef
from ..redact import mask
from ..taxonomy import FailureClass, Severity
from .base import Item, ReaderOptions

SCHEMA = "trace-harness-manifest/v1"
MAX_MANIFEST_BYTES = 8 * 1024 * 1024  # refuse to parse anything larger: a manifest is bounded by construction
_TEXT_FIELDS = ("cluster_id", "title", "symptom_class", "signature", "source", "ref", "kind", "timestamp")
_RECORD_BATCH = 128  # findings masked together: few mask calls, and few texts held twice at once
_ID_FIELDS = ("issue", "identifier", "run", "session", "pull_request", "job", "workflow", "commit")


def finding_records(findings: list[Finding]) -> list[dict[str, Any]]:
    """The findings as stored: every text redacted (in batched ``mask`` calls) and bounded."""
    records: list[dict[str, Any]] = []
    for start in range(0, len(findings), _RECORD_BATCH):
        batch = findings[start : start + _RECORD_BATCH]
        texts: list[str] = []
        for finding in batch:
            texts += [getattr(finding, key) for key in _TEXT_FIELDS]
            texts += [value for key in _ID_FIELDS if (value := getattr(finding, key))]
            texts += [finding.excerpt, *finding.metadata.values()]
        masked = iter(mask_many(texts))
        records += [_record(finding, masked) for finding in batch]
    return records


def _record(finding: Finding, masked: Iterator[str]) -> dict[str, Any]:
    """One finding's record from its texts' masked forms, taken in ``finding_records`` order."""
    # Masked before cut: a cut through a token leaves a prefix the masker no longer recognises.
    record: dict[str, Any] = {key: truncate(next(masked), 1024) for key in _TEXT_FIELDS}
    record.update({key: truncate(next(masked), 512) for key in _ID_FIELDS if getattr(finding, key)})
    record["failure_class"] = finding.failure_class.value
    record["severity"] = finding.severity.value
    record["excerpt"] = truncate(next(masked), MAX_EVIDENCE_EXCERPT_BYTES)
    record["metadata"] = bounded_metadata({key: next(masked) for key in finding.metadata})
    return record


def build_manifest(findings: Iterable[Finding], inputs: Iterable[InputRef], generated_at: str) -> dict[str, Any]:
    """Group findings by run, keep each run's smallest (timestamp, ref) records within 64 KiB."""
    findings = list(findings)
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for finding, record in zip(findings, finding_records(findings), strict=True):
        by_run[finding.run or finding.ref.rsplit(":", 1)[0]].append(record)
    runs = [_bounded_run(run, records) for run, records in sorted(by_run.items())]
    return {
        "schema_version": SCHEMA,
        "generated_at": generated_at,
        "inputs": [ref.model_dump() for ref in inputs],
        "bounds": {"max_run_evidence_bytes": MAX_RUN_EVIDENCE_BYTES},
        "runs": runs,
    }


def _bounded_run(run: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    kept, used = [], 0
    for record in sorted(records, key=lambda r: (r["timestamp"], r["ref"], r["cluster_id"])):
        size = encoded_bytes(record)
        if used + size <= MAX_RUN_EVIDENCE_BYTES:
            kept.append(record)
            used += size
    omitted = _omitted_by_cluster(records, kept)
    return {"run": mask(run), "findings": kept, "omitted": omitted}


def _omitted_by_cluster(records: list[dict[str, Any]], kept: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for record in records:
        counts[record["cluster_id"]] += 1
    for record in kept:
        counts[record["cluster_id"]] -= 1
    return {cluster: count for cluster, count in sorted(counts.items()) if count}


def manifest_json(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, separators=(",", ":"), ensure_ascii=False) + "\n"


def load_manifest(stream: BinaryIO, display_path: str) -> dict[str, Any]:
    """Parse and check the schema; a wrong artifact is an error, never an empty manifest."""
    raw = stream.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise InputFormatError(f"{mask(display_path)}: larger than {MAX_MANIFEST_BYTES} bytes; not a {SCHEMA}")
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise InputFormatError(f"{mask(display_path)}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA:
        raise InputFormatError(f"{mask(display_path)}: not a {SCHEMA} manifest")
    if not isinstance(data.get("runs"), list):
        raise InputFormatError(f"{mask(display_path)}: manifest 'runs' must be a list")
    return data


def read_th_manifest(stream: BinaryIO, display_path: str, options: ReaderOptions) -> Iterator[Item]:
    """Yield the stored findings; malformed records are counted problems."""
    del options
    data = load_manifest(stream, display_path)
    for run in data["runs"]:
        for record in list_or_empty(run.get("findings")) if isinstance(run, dict) else []:
            yield _finding_from_record(record, display_path)


def list_or_empty(value: Any) -> list[Any]:
    """``value`` when it is a list, else no items: a stored manifest may have been edited by hand."""
    return value if isinstance(value, list) else []


def _finding_from_record(record: Any, display_path: str) -> Item:
    try:
        texts: dict[str, Any] = {key: str(record.get(key, "")) for key in (*_TEXT_FIELDS, *_ID_FIELDS, "excerpt")}
        metadata = {str(k): str(v) for k, v in dict(record.get("metadata", {})).items()}
        return Finding(
            failure_class=FailureClass(record["failure_class"]),
            severity=Severity(record.get("severity", "normal")),
            metadata=metadata,
            **texts,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        return EvidenceProblem(path=mask(display_path), reason="malformed manifest finding", detail=mask(str(exc)))
