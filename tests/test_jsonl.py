"""JSONL event reader: event map, error levels, transcripts, ids, timestamps and bad lines."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from trace_harness.classify import diagnose_event, diagnose_line
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.jsonl import MAX_LINE_BYTES, read_jsonl
from trace_harness.models import EvidenceProblem, Finding
from trace_harness.taxonomy import FailureClass

FIXTURES = Path(__file__).parent / "fixtures" / "jsonl"
AGENT_LOGS = SHARED / "data" / "agent-logs"


def _read(name: str, options: ReaderOptions | None = None) -> list[Finding | EvidenceProblem]:
    with (FIXTURES / name).open("rb") as stream:
        items = list(read_jsonl(stream, f"logs/{name}", options or ReaderOptions()))
    assert all(isinstance(item, Finding | EvidenceProblem) for item in items)
    return items  # type: ignore[return-value]


def _findings(name: str) -> list[Finding]:
    return [item for item in _read(name) if isinstance(item, Finding)]


def test_mapped_events_use_the_event_class() -> None:
    quota = _findings("ops_events.jsonl")[0]
    expected = diagnose_event("quota_event", FailureClass.MODEL_ERROR, "429 Too Many Requests: quota exhausted")
    assert (quota.failure_class, quota.cluster_id) == (FailureClass.MODEL_ERROR, expected.cluster_id)
    assert quota.ref == "logs/ops_events.jsonl:1"
    assert quota.kind == "quota_event"


def test_affected_ids_and_timestamp_are_pulled() -> None:
    quota = _findings("ops_events.jsonl")[0]
    assert quota.affected_pairs() == (
        ("issues", "123"),
        ("issue_identifiers", "ENG-7"),
        ("pull_requests", "42"),
        ("runs", "run-9"),
        ("sessions", "s-1"),
    )
    assert quota.timestamp == "2024-05-01T10:00:00Z"


def test_event_mapped_to_none_is_not_a_finding_even_at_error_level() -> None:
    assert all(f.kind != "self_healing_repeated_block" for f in _findings("ops_events.jsonl"))


def test_kind_and_type_name_events_and_epoch_times() -> None:
    by_kind = {f.kind: f for f in _findings("ops_events.jsonl")}
    scope = by_kind["scope_violation"]
    assert scope.failure_class == FailureClass.SCOPE_POLICY
    assert (scope.job, scope.workflow, scope.commit) == ("build", "ci.yml", "abc123")
    assert scope.timestamp == "2024-05-01T10:00:02Z"
    assert by_kind["watch_error"].failure_class == FailureClass.INFRA_TOOLING


def test_error_level_records_are_classified_by_their_message() -> None:
    error = next(f for f in _findings("ops_events.jsonl") if f.kind == "error")
    assert error.cluster_id == diagnose_line("connection refused to db:5432").cluster_id
    assert error.timestamp == "2024-05-01T10:00:03Z"  # epoch milliseconds
    assert error.run == "r-2"


def test_info_records_are_not_findings() -> None:
    assert not any("all good" in f.excerpt for f in _findings("ops_events.jsonl"))


def test_bad_lines_are_counted_into_one_problem() -> None:
    problems = [item for item in _read("ops_events.jsonl") if isinstance(item, EvidenceProblem)]
    assert len(problems) == 1
    assert problems[0].reason == "jsonl-bad-lines"
    assert problems[0].detail.startswith("2 unreadable line(s); first at line 7")


def test_custom_event_map_from_options() -> None:
    options = ReaderOptions(events={"quota_event": None, "custom_fail": FailureClass.TIMEOUT})
    data = b'{"event":"quota_event"}\n{"event":"custom_fail","message":"deadline"}\n'
    items = list(read_jsonl(io.BytesIO(data), "x.jsonl", options))
    assert [(f.kind, f.failure_class) for f in items if isinstance(f, Finding)] == [
        ("custom_fail", FailureClass.TIMEOUT)
    ]


def test_claude_transcript_only_flags_the_error_result() -> None:
    findings = _findings("claude_session.jsonl")
    assert len(findings) == 1
    assert findings[0].ref == "logs/claude_session.jsonl:5"
    assert findings[0].session == "sess-1"
    assert findings[0].metadata["message"] == "Authentication failed: invalid x-api-key"


def test_over_long_lines_are_problems_not_parsed() -> None:
    data = b'{"level":"error","message":"' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n{"level":"error","message":"m"}\n'
    items = list(read_jsonl(io.BytesIO(data), "big.jsonl", ReaderOptions()))
    assert [type(item).__name__ for item in items] == ["Finding", "EvidenceProblem"]
    assert items[0].ref == "big.jsonl:2"  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    items = list(read_jsonl(io.BytesIO(data), "fuzz.jsonl", ReaderOptions()))
    assert sum(isinstance(item, EvidenceProblem) for item in items) <= 1


@pytest.mark.skipif(not AGENT_LOGS.exists(), reason="shared agent logs not present")
def test_real_agent_logs_yield_few_findings() -> None:
    records = findings = 0
    for path in sorted(AGENT_LOGS.rglob("*.jsonl")):
        with path.open("rb") as stream:
            records += sum(1 for line in stream if line.strip())
        with path.open("rb") as stream:
            findings += sum(isinstance(item, Finding) for item in read_jsonl(stream, str(path), ReaderOptions()))
    assert records > 50
    assert 2 <= findings < records / 10  # the context-limit and auth-failure results, not every message
