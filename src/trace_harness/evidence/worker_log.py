"""Reader for aiops worker logs: Go `log` records of the form

    2026/06/18 09:00:00 event=<kind> task_id=… issue_id=… [issue_identifier=…] [session_id=…] msg="…" payload=map[…]

The prefix up to ` payload=` is one line of `key=value` pairs with a `%q`-quoted `msg`, so trusted fields
are read from it, but only before ` msg=` (the message is free text). The `payload=map[…]` region is Go's
unescaped `%v` rendering: values may span lines and contain `event=` text, so it is never parsed except for
the contiguous run of safe, space-free `key:value` scalars at the start of its first line. Continuation
lines are never parsed. Only the five failure kinds below produce findings; everything else is skipped by
a bytes-level regex before any decoding, which keeps ingest near the speed of a bare scan.

Text fields of the yielded findings are raw; the cluster accumulator redacts whatever it keeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from typing import BinaryIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError
from ..models import Finding
from ..taxonomy import WORKER_CLASSES
from .base import Item, ReaderOptions
from .lines import cap_lines

SOURCE = "worker_log"
CHUNK_BYTES = 1024 * 1024  # small enough that a chunk, its text and its rows stay in cache and memory
MAX_LINE_BYTES = 64 * 1024  # a longer line keeps its first 64 KiB: fields, excerpts and metadata need far less
FAILURE_KINDS = ("runner_timeout", "turn_input_required", "unsupported_tool_call", "malformed", "runner_end")
CLUSTER_BY_KIND = {
    "runner_timeout": "runner-timeout",
    "turn_input_required": "input-required",
    "unsupported_tool_call": "tool-unsupported",
    "malformed": "malformed-protocol",
}
RUNNER_FAILURE = "runner-failure"
PR_KEYS = ("pr", "pr_number", "pr_url", "pull_request", "pull_request_url")
# Worker-generated, space-free scalars. Agent-chosen values such as `tool` are absent on purpose: Go prints
# them unquoted, so a value with spaces could smuggle fake `key:value` chunks into the scan.
SAFE_PAYLOAD_KEYS = frozenset(
    (
        "elapsed_ms", "timeout_ms", "duration_ms", "output_bytes", "output_dropped", "model", "method",
        "task_id", "issue_id", "issue_identifier", "session_id", *PR_KEYS, "exit_code", "ok",
    )
)  # fmt: skip
OPAQUE_PAYLOAD_KEYS = ("arguments", "arguments_raw", "error", "output_head", "output_tail", "params", "raw")

# A failure record start, matched on raw bytes so non-failure lines never reach Python code.
_FAILURE_START_RE = re.compile(
    rb"^(\d{4})/(\d\d)/(\d\d)[^\S\n]+(\d\d:\d\d:\d\d)(\.\d+)?[^\S\n]+event=(\"?)("
    + b"|".join(kind.encode() for kind in FAILURE_KINDS)
    + rb")\6(?=[^\S\n]|$)",
    re.MULTILINE,
)
_FIELD_RE = re.compile(
    r"\b(event|task_id|issue_id|issue_identifier|session_id|pr|pr_number|pr_url|pull_request|pull_request_url)="
    r"(\"[^\"]*\"|\S+)"
)
_GO_PARTS_RE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})\s+(\d{2}:\d{2}:\d{2})")
_GO_TIMESTAMP_RE = re.compile(r"^\d{4}/\d{2}/\d{2}\s+\d{2}:\d{2}:\d{2}(?:\.\d+)?\b")


def read_worker_log(stream: BinaryIO, display_path: str, options: ReaderOptions) -> Iterator[Item]:
    """Yield one Finding per failure record of a whole worker log."""
    yield from read_worker_log_lines(stream, display_path, options, first_line=1, limit=None)


def read_worker_log_lines(
    stream: BinaryIO, display_path: str, options: ReaderOptions, first_line: int, limit: int | None
) -> Iterator[Finding]:
    """Yield findings from the stream's current position; ``limit`` bytes at most (used to split a file)."""
    to_iso = iso_converter(options.worker_log_tz)
    line_no = first_line
    for buffer in _line_aligned_chunks(stream, limit):
        cursor = 0
        for match in _FAILURE_START_RE.finditer(buffer):
            start = match.start()
            line_no += buffer.count(b"\n", cursor, start)
            end = buffer.find(b"\n", start)
            end = len(buffer) if end < 0 else end
            line = buffer[start:end].decode("utf-8", "replace")
            finding = parse_record(to_iso(match), line, display_path, line_no)
            if finding is not None:
                yield finding
            cursor = start
        line_no += buffer.count(b"\n", cursor)


def _line_aligned_chunks(stream: BinaryIO, limit: int | None) -> Iterator[bytes]:
    """Big chunks ending on a line break, with `\r\n` and lone `\r` read as line breaks (universal newlines).
    Every line is cut at ``MAX_LINE_BYTES`` (the rest is read and dropped), so memory stays bounded whatever
    the input, and the cut does not depend on where chunks end."""
    pending, dropping = b"", False
    remaining = limit
    while True:
        size = CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining)
        data = stream.read(size) if size > 0 else b""
        if remaining is not None:
            remaining -= len(data)
        if not data:
            if pending:
                yield cap_lines(_normalize_newlines(pending), MAX_LINE_BYTES)
            return
        if dropping:  # the rest of an over-long line: skip to its line break
            data, dropping = _from_line_break(data)
            if dropping:
                continue
        data = pending + data
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if cut == len(data) - 1 and data[cut] == 0x0D:  # maybe the first half of \r\n: wait for the next chunk
            cut = max(data.rfind(b"\n", 0, cut), data.rfind(b"\r", 0, cut))
        pending = data[cut + 1 :]  # one partial line, or one line and its \r
        if len(pending) > MAX_LINE_BYTES:
            ends_line = pending.endswith(b"\r")
            pending, dropping = pending[:MAX_LINE_BYTES] + b"\r" * ends_line, not ends_line
        if cut >= 0:
            yield cap_lines(_normalize_newlines(data[: cut + 1]), MAX_LINE_BYTES)


def _from_line_break(data: bytes) -> tuple[bytes, bool]:
    """``data`` from its first line break on, and whether there was none (keep dropping)."""
    breaks = [at for at in (data.find(b"\n"), data.find(b"\r")) if at >= 0]
    return (data[min(breaks) :], False) if breaks else (b"", True)


def _normalize_newlines(data: bytes) -> bytes:
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def parse_record(timestamp: str, line: str, display_path: str, line_no: int) -> Finding | None:
    """The Finding of a failure record's first line (its ISO timestamp already converted), or None."""
    prefix, has_payload, payload = line.partition(" payload=")
    fields = prefix_fields(prefix)
    kind = fields.get("event", "")
    cluster = classify(kind, prefix)
    if cluster is None:
        return None
    failure_class, title, symptom = WORKER_CLASSES[cluster]
    metadata = scalar_payload(payload) if has_payload else {}
    go_timestamp = _go_timestamp(prefix)
    if go_timestamp:
        metadata.setdefault("timestamp", go_timestamp)
    return Finding(
        cluster_id=cluster,
        failure_class=failure_class,
        title=title,
        symptom_class=symptom,
        signature=cluster,
        source=SOURCE,
        ref=f"{display_path}:{line_no}",
        kind=kind,
        excerpt=f"{prefix} payload=[redacted-payload]" if has_payload else prefix,
        metadata=metadata,
        timestamp=timestamp,
        issue=fields.get("issue_id") or metadata.get("issue_id", ""),
        identifier=fields.get("issue_identifier") or metadata.get("issue_identifier", ""),
        run=fields.get("task_id") or metadata.get("task_id", ""),
        session=fields.get("session_id") or metadata.get("session_id", ""),
        pull_request=_first_pull_request(fields, metadata),
    )


def classify(kind: str, prefix: str) -> str | None:
    """The worker cluster id of a record, or None; `runner_end` counts only when its prefix says it failed."""
    if kind == "runner_end":
        return RUNNER_FAILURE if "runner failed" in prefix.lower() else None
    return CLUSTER_BY_KIND.get(kind)


def prefix_fields(prefix: str) -> dict[str, str]:
    """Trusted `key=value` fields, read only before ` msg=` so the quoted message is never scanned."""
    head = prefix.split(" msg=", 1)[0]
    return {match.group(1): match.group(2).strip('"') for match in _FIELD_RE.finditer(head)}


def scalar_payload(payload: str) -> dict[str, str]:
    """The contiguous run of safe scalars opening a first-line `map[…]`; stops at the first other chunk."""
    if not payload.startswith("map["):
        return {}
    body = payload[4:]
    body = body[:-1] if body.endswith("]") else body
    scalars: dict[str, str] = {}
    for chunk in body.split():
        key, sep, value = chunk.partition(":")
        if not sep or key not in SAFE_PAYLOAD_KEYS:
            break
        scalars.setdefault(key, value)
    return scalars


def _first_pull_request(fields: dict[str, str], metadata: dict[str, str]) -> str:
    for source in (fields, metadata):
        for key in PR_KEYS:
            if value := source.get(key):
                return value
    return ""


def _go_timestamp(prefix: str) -> str:
    match = _GO_TIMESTAMP_RE.match(prefix)
    return match.group(0) if match else ""


class _IsoConverter:
    """Turns a record-start match into ISO-8601 UTC; Go timestamps carry no zone, so one is configured."""

    def __init__(self, zone: ZoneInfo | None) -> None:
        self.zone = zone

    def __call__(self, match: re.Match[bytes]) -> str:
        year, month, day, clock = (part.decode() for part in match.group(1, 2, 3, 4))
        return self._iso(year, month, day, clock)

    def from_parts(self, year: str, month: str, day: str, clock: str) -> str:
        """ISO-8601 UTC of a record start's date and clock groups, already text."""
        return self._iso(year, month, day, clock)

    def from_text(self, go_timestamp: str) -> str:
        """ISO-8601 UTC of a Go timestamp string (e.g. a manifest's ``metadata.timestamp``); "" if not one."""
        match = _GO_PARTS_RE.match(go_timestamp)
        return self._iso(*match.groups()) if match else ""

    def _iso(self, year: str, month: str, day: str, clock: str) -> str:
        if self.zone is None:
            return f"{year}-{month}-{day}T{clock}Z"
        return _zoned_to_utc(f"{year}-{month}-{day}T{clock}", self.zone)


@lru_cache(maxsize=65536)
def _zoned_to_utc(local: str, zone: ZoneInfo) -> str:
    moment = datetime.fromisoformat(local).replace(tzinfo=zone)
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_converter(tz_name: str) -> _IsoConverter:
    """A converter for ``worker_log_tz``; an unknown zone name is a configuration error."""
    if tz_name.upper() in ("UTC", "Z", "ETC/UTC"):
        return _IsoConverter(None)
    try:
        return _IsoConverter(ZoneInfo(tz_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError([f"worker_log_tz: unknown time zone {tz_name!r}"]) from None
