"""JSONL event reader: one JSON object per line, from agents, workers and ops tooling.

A record is a finding when
  * its event name (`event`, `kind` or `type`) is in ``options.events`` with a class (a name mapped to
    None is explicitly not a finding, whatever else the record says),
  * or its `level` is error/fatal,
  * or it is an agent-transcript error: `is_error: true` on a result record, or `isApiErrorMessage`.
Other agent records (Claude Code's `type` is a message type: user, assistant, system) are not findings.
Lines are streamed with a length cap; unparsable, non-object and over-long lines are counted into one
EvidenceProblem per file, never raised.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

from ..bounds import MAX_EVIDENCE_EXCERPT_BYTES, truncate
from ..classify import Diagnosis, diagnose_event, diagnose_line
from ..models import EvidenceProblem, Finding
from ..redact import mask
from .base import Item, ReaderOptions

MAX_LINE_BYTES = 1024 * 1024
_NAME_KEYS = ("event", "kind", "type")
_ERROR_LEVELS = frozenset({"error", "fatal", "critical"})
_TIME_KEYS = ("timestamp", "ts", "time")
_AFFECTED_KEYS = {
    "issue": ("issue", "issue_id"),
    "identifier": ("issue_identifier",),
    "run": ("task_id", "run_id"),
    "session": ("session_id", "sessionId"),
    "pull_request": ("pr", "pull_request", "pr_number"),
    "job": ("job",),
    "workflow": ("workflow",),
    "commit": ("commit", "sha", "head_sha"),
}


def read_jsonl(stream: BinaryIO, display_path: str, options: ReaderOptions) -> Iterator[Item]:
    """Yield a Finding per failure record, then at most one EvidenceProblem counting bad lines."""
    bad_lines, first_bad = 0, 0
    for line_no, record in _records(stream):
        if record is None:
            bad_lines += 1
            first_bad = first_bad or line_no
            continue
        finding = _finding(record, f"{display_path}:{line_no}", options)
        if finding is not None:
            yield finding
    if bad_lines:
        detail = f"{bad_lines} unreadable line(s); first at line {first_bad}"
        yield EvidenceProblem(path=display_path, reason="jsonl-bad-lines", detail=detail)


def _records(stream: BinaryIO) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, object or None when unreadable); blank lines are skipped."""
    line_no = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
        line_no += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            _skip_rest_of_line(stream)
            yield line_no, None
        elif raw.strip():
            yield line_no, _parse(raw)


def _skip_rest_of_line(stream: BinaryIO) -> None:
    while (chunk := stream.readline(MAX_LINE_BYTES)) and not chunk.endswith(b"\n"):
        pass


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _finding(record: dict[str, Any], ref: str, options: ReaderOptions) -> Finding | None:
    name = _event_name(record)
    diagnosis = _diagnose(record, name, options)
    if diagnosis is None:
        return None
    # Mask before cutting: a cut through a token would leave a prefix too short to be recognised.
    excerpt = truncate(mask(json.dumps(record, ensure_ascii=False, default=str)), MAX_EVIDENCE_EXCERPT_BYTES)
    fields = {field: _first_value(record, keys) for field, keys in _AFFECTED_KEYS.items()}
    return Finding(
        cluster_id=diagnosis.cluster_id,
        earlier_ids=diagnosis.earlier_ids,
        failure_class=diagnosis.failure_class,
        title=diagnosis.title,
        symptom_class=name or "error record",
        signature=diagnosis.signature,
        source="jsonl",
        ref=ref,
        kind=name or "error",
        excerpt=excerpt,
        metadata=_metadata(record, name),
        timestamp=_timestamp(record),
        severity=diagnosis.severity,
        **fields,
    )


def _diagnose(record: dict[str, Any], name: str, options: ReaderOptions) -> Diagnosis | None:
    if name in options.events:
        family = options.events[name]
        return None if family is None else diagnose_event(name, family, _message(record))
    if _is_error_record(record):
        return diagnose_line(_message(record) or name or "error record")
    return None


def _is_error_record(record: dict[str, Any]) -> bool:
    level = str(record.get("level", "")).lower()
    transcript_error = record.get("is_error") is True and record.get("type") in (None, "result")
    return level in _ERROR_LEVELS or transcript_error or record.get("isApiErrorMessage") is True


def _event_name(record: Mapping[str, Any]) -> str:
    return next((value for key in _NAME_KEYS if isinstance(value := record.get(key), str) and value), "")


def _message(record: Mapping[str, Any]) -> str:
    """The human-readable error text of a record, from the usual field names."""
    for key in ("message", "msg", "error", "result", "subtype"):
        value = record.get(key)
        if isinstance(value, Mapping):
            value = value.get("message") or value.get("type")
        if isinstance(value, str) and value.strip():
            return value.strip().splitlines()[0]
    return ""


def _first_value(record: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return ""


def _metadata(record: Mapping[str, Any], name: str) -> dict[str, str]:
    metadata = {"event": name, "level": str(record.get("level", "")), "message": _message(record)}
    return {key: truncate(mask(value), 1024) for key, value in metadata.items() if value}


def _timestamp(record: Mapping[str, Any]) -> str:
    """ISO-8601 UTC (`…Z`) from an ISO string or epoch seconds/milliseconds; empty when absent or bad."""
    value = next((record[key] for key in _TIME_KEYS if key in record), None)
    try:
        moment = _to_datetime(value)
    except (ValueError, OverflowError, OSError):
        return ""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else ""


def _to_datetime(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds vs seconds
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None
