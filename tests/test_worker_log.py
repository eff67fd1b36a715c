"""The aiops worker-log reader: record grammar, trusted fields, opaque payloads, line numbers, timestamps."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_harness.errors import ConfigError
from trace_harness.evidence import worker_log
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.worker_log import read_worker_log, scalar_payload
from trace_harness.models import Finding
from trace_harness.taxonomy import FailureClass

FIXTURES = Path(__file__).parent / "fixtures" / "worker"


def read(data: bytes, tz: str = "UTC") -> list[Finding]:
    items = list(read_worker_log(io.BytesIO(data), "logs/w.log", ReaderOptions(worker_log_tz=tz)))
    assert all(isinstance(item, Finding) for item in items)
    return [item for item in items if isinstance(item, Finding)]


def mixed() -> dict[str, Finding]:
    findings = read((FIXTURES / "mixed.log").read_bytes())
    return {finding.cluster_id: finding for finding in findings}


def test_classes_refs_and_non_findings() -> None:
    findings = read((FIXTURES / "mixed.log").read_bytes())
    assert [(f.cluster_id, f.ref) for f in findings] == [
        ("runner-timeout", "logs/w.log:1"),
        ("input-required", "logs/w.log:5"),
        ("tool-unsupported", "logs/w.log:6"),
        ("malformed-protocol", "logs/w.log:7"),
        ("runner-failure", "logs/w.log:9"),
    ]
    timeout = findings[0]
    assert (timeout.failure_class, timeout.title, timeout.signature) == (
        FailureClass.TIMEOUT,
        "Runner timeouts",
        "runner-timeout",
    )


def test_trusted_prefix_fields_and_safe_scalars() -> None:
    timeout = mixed()["runner-timeout"]
    assert (timeout.issue, timeout.identifier, timeout.run, timeout.session) == (
        "issue-1",
        "GH-1",
        "run-1",
        "session-1",
    )
    assert timeout.metadata == {
        "elapsed_ms": "60000",
        "output_bytes": "70000",
        "output_dropped": "12",
        "timestamp": "2026/06/18 09:00:00",
    }
    assert timeout.excerpt.endswith('msg="timeout" payload=[redacted-payload]')
    assert "agent output" not in timeout.excerpt


def test_payload_scalar_before_first_opaque_key_is_used() -> None:
    assert mixed()["input-required"].session == "payload-session"


def test_no_fields_smuggled_through_unquoted_tool_value() -> None:
    tool = mixed()["tool-unsupported"]
    assert tool.issue == "issue-3"
    assert tool.session == ""
    assert tool.metadata == {"method": "tools/call", "timestamp": "2026/06/18 09:02:00"}


def test_no_ids_from_message_or_opaque_continuation() -> None:
    malformed = mixed()["malformed-protocol"]
    assert malformed.issue == "issue-4"
    assert "from-continuation" not in repr(malformed)
    assert all("fake" not in repr(finding) for finding in mixed().values())


def test_runner_end_needs_runner_failed_in_its_prefix() -> None:
    failure = mixed()["runner-failure"]
    assert failure.pull_request.startswith("https://x-access-token:ghs_")  # raw: the accumulator masks
    assert failure.timestamp == "2026-06-18T09:04:00Z"
    assert failure.metadata["timestamp"] == "2026/06/18 09:04:00.250"
    assert failure.metadata.get("ok") == "false"


def test_payload_ids_before_opaque_keys() -> None:
    line = (
        b'2026/06/18 09:01:00 event=runner_timeout msg="t" '
        b"payload=map[task_id:r issue_id:i issue_identifier:P-1 pr_number:938 timeout_ms:5]\n"
    )
    (finding,) = read(line)
    assert (finding.run, finding.issue, finding.identifier, finding.pull_request) == ("r", "i", "P-1", "938")


def test_scan_stops_at_first_unknown_or_opaque_chunk() -> None:
    assert scalar_payload("map[elapsed_ms:1 output_head:x issue_id:late]") == {"elapsed_ms": "1"}
    assert scalar_payload("map[mystery:1 issue_id:late]") == {}
    assert scalar_payload("map[issue_id:a issue_id:b]") == {"issue_id": "a"}
    assert scalar_payload("not-a-map issue_id:x") == {}


def test_crlf_lone_cr_and_invalid_utf8() -> None:
    findings = read((FIXTURES / "crlf_invalid_utf8.log").read_bytes())
    assert [(f.cluster_id, f.ref) for f in findings] == [
        ("runner-timeout", "logs/w.log:1"),
        ("malformed-protocol", "logs/w.log:3"),
    ]
    assert findings[1].issue == "issue-\ufffd\ufffd2"


def test_chunk_boundaries_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    data = (FIXTURES / "mixed.log").read_bytes() * 3 + (FIXTURES / "crlf_invalid_utf8.log").read_bytes()
    whole = read(data)
    monkeypatch.setattr(worker_log, "CHUNK_BYTES", 7)
    assert read(data) == whole


def test_timestamps_are_read_in_the_configured_zone() -> None:
    line = b'2026/01/10 12:00:00 event=malformed task_id=r msg="m"\n'
    assert read(line)[0].timestamp == "2026-01-10T12:00:00Z"
    assert read(line, tz="America/New_York")[0].timestamp == "2026-01-10T17:00:00Z"
    with pytest.raises(ConfigError):
        read(line, tz="Mars/Olympus")


def test_quoted_event_value_and_suffixed_kinds() -> None:
    data = (
        b'2026/06/18 09:00:00 event="malformed" task_id=r1 msg="m"\n'
        b'2026/06/18 09:00:00 event=malformedX task_id=r2 msg="m"\n'
        b'2026/06/18 09:00:00 event=runner_timeout_warning task_id=r3 msg="m"\n'
    )
    assert [finding.run for finding in read(data)] == ["r1"]


_LINE_PARTS = st.lists(
    st.tuples(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b"")),
              st.sampled_from((b"\n", b"\r\n", b"\r"))),
    max_size=20,
)  # fmt: skip


@settings(max_examples=200)
@given(lines=_LINE_PARTS, last=st.binary(max_size=40), chunk=st.integers(1, 50), cap=st.integers(1, 30))
def test_chunks_hold_every_line_cut_at_the_cap_whatever_the_chunk_size(
    lines: list[tuple[bytes, bytes]], last: bytes, chunk: int, cap: int
) -> None:
    """Universal newlines, and each line cut at ``MAX_LINE_BYTES`` however reads split it: memory stays
    bounded on a line of any length, and the kept bytes do not depend on where a read ended."""
    last = last.replace(b"\n", b"").replace(b"\r", b"")
    data = b"".join(text + end for text, end in lines) + last
    kept = [(line.rstrip(b"\r\n")[:cap], line.endswith((b"\n", b"\r"))) for line in data.splitlines(keepends=True)]
    expected = b"".join(text + b"\n" * ended for text, ended in kept)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worker_log, "CHUNK_BYTES", chunk)
        patch.setattr(worker_log, "MAX_LINE_BYTES", cap)
        chunks = list(worker_log._line_aligned_chunks(io.BytesIO(data), None))
    assert b"".join(chunks) == expected
    assert all(chunk.endswith(b"\n") for chunk in chunks[:-1])
