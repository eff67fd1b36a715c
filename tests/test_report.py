"""Report assembly: proposals, the cluster bound after proposals, determinism, and reading reports back."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_harness.bounds import MAX_CLUSTER_BYTES, encoded_bytes
from trace_harness.cluster import ClusterAccumulator
from trace_harness.errors import InputFormatError
from trace_harness.models import EvidenceEntry, Finding, InputRef
from trace_harness.report import build_report, json_bytes, load_report, report_json
from trace_harness.taxonomy import FailureClass

INPUT = InputRef(type="worker_log", path="w.log", bytes=10, sha256="ab" * 32)
BASE = Finding(
    cluster_id="input-required",
    failure_class=FailureClass.AWAITING_INPUT,
    title="Input required stops",
    symptom_class="input required",
    signature="input-required",
    source="worker_log",
    ref="w.log:1",
    kind="turn_input_required",
    excerpt='2026/06/18 09:00:00 event=turn_input_required task_id=run-1 msg="input" payload=[redacted-payload]',
    metadata={"method": "approval", "timestamp": "2026/06/18 09:00:00"},
    timestamp="2026-06-18T09:00:00Z",
    issue="issue-1",
    run="run-1",
)


def findings(count: int) -> list[Finding]:
    return [
        dataclasses.replace(BASE, ref=f"w.log:{n}", issue=f"issue-{n % 4}", run=f"run-{n}", session=f"s-{n % 3}")
        for n in range(1, count + 1)
    ]


def report_for(items: list[Finding], generated_at: str = "2026-06-19T00:00:00Z") -> str:
    accumulator = ClusterAccumulator()
    for item in items:
        accumulator.add(item)
    return report_json(build_report(accumulator.clusters(), [INPUT], generated_at=generated_at))


def test_report_shape_and_proposals() -> None:
    data = json.loads(report_for(findings(3)))
    assert next(iter(data)) == "schema_version"
    assert data["schema_version"] == "trace-harness-report/v3"
    assert data["bounds"] == {"max_run_evidence_bytes": 65536, "max_cluster_bytes": 262144}
    (cluster,) = data["clusters"]
    assert cluster["failure_class"] == "awaiting_input"
    assert cluster["occurrences"] == 3  # no two of the three share an issue, run or session
    proposals = cluster["proposals"]
    assert "input-required" in proposals["github_issue"]["title"]
    assert "sha256:abababababab" in proposals["github_issue"]["body"]
    assert proposals["advisory_evaluator"]["execution"]["blocks_ci"] is False
    assert proposals["advisory_evaluator"]["current_signal"] == "positive-recurring-cluster"


def test_proposal_text_is_stable_and_timeless() -> None:
    first = json.loads(report_for(findings(2), "2026-06-19T00:00:00Z"))["clusters"]
    second = json.loads(report_for(findings(2), "2030-01-01T00:00:00Z"))["clusters"]
    assert first == second
    assert "2026-06-19" not in json.dumps(first)


@settings(max_examples=25, deadline=None)
@given(st.permutations(findings(12)))
def test_report_bytes_do_not_depend_on_finding_order(order: list[Finding]) -> None:
    assert report_for(order) == report_for(findings(12))


def test_cluster_bound_holds_after_proposals() -> None:
    many = [
        dataclasses.replace(BASE, ref=f"w.log:{n}", issue=f"issue-{n:06d}-" + "i" * 40, session=f"s-{n}", run=f"r-{n}")
        for n in range(6000)
    ]
    data = json.loads(report_for(many))
    (cluster,) = data["clusters"]
    assert encoded_bytes(cluster) <= MAX_CLUSTER_BYTES
    omitted = cluster["affected"]["omitted"]
    for name in ("issues", "sessions", "runs"):
        assert len(cluster["affected"][name]) + omitted.get(name, 0) == 6000
    assert cluster["evidence"], "at least one evidence entry is always kept"
    assert cluster["occurrences"] == 6000


AIOPS_CLUSTER = {
    "id": "runner-timeout",
    "title": "Runner timeouts",
    "symptom_class": "runner timeout",
    "affected": {
        "issues": ["issue-1", "issue-2"],
        "issue_identifiers": [],
        "pull_requests": [],
        "runs": ["run-1", "run-2"],
        "sessions": [],
        "omitted": {"issues": 3},
    },
    "evidence": [
        {"source": "worker_log", "ref": "w.log:1", "kind": "runner_timeout", "excerpt": "x", "metadata": {},
         "affected": {"issues": ["issue-1"], "runs": ["run-1"]}},
        {"source": "worker_log", "ref": "w.log:2", "kind": "runner_timeout", "excerpt": "y", "metadata": {},
         "affected": {"issues": ["issue-2"], "runs": ["run-1"]}},
    ],
    "suspected_harness_surface": "s",
    "proposed_next_action": "a",
    "acceptance_criteria": ["c"],
    "redaction_note": "n",
}  # fmt: skip


def test_load_report_accepts_an_aiops_report(tmp_path: Path) -> None:
    other = {**AIOPS_CLUSTER, "id": "custom-thing", "evidence": []}
    path = tmp_path / "aiops.json"
    path.write_text(json.dumps({
        "schema_version": "trace-harness-report/v3", "generated_at": "2026-06-18T00:00:00Z", "inputs": [],
        "bounds": {"max_run_evidence_bytes": 65536, "max_cluster_bytes": 262144},
        "clusters": [AIOPS_CLUSTER, other],
    }))  # fmt: skip
    report = load_report(path)
    timeout, custom = report.clusters
    assert (timeout.failure_class, timeout.occurrences) == (FailureClass.TIMEOUT, 1 + 3)
    assert (custom.failure_class, custom.occurrences) == (FailureClass.UNKNOWN, 3)


def test_load_report_round_trips_our_report(tmp_path: Path) -> None:
    path = tmp_path / "ours.json"
    path.write_text(report_for(findings(3)))
    assert report_json(load_report(path)) == path.read_text()


@pytest.mark.parametrize(
    "content", ['{"schema_version": "trace-evidence-manifest/v2", "runs": []}', "[1, 2]", "not json", '{"a": 1}']
)
def test_load_report_rejects_other_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(InputFormatError, match=r"x\.json"):
        load_report(path)


@given(st.text(), st.dictionaries(st.text(max_size=8), st.text(), max_size=3), st.lists(st.text(), max_size=3))
def test_json_bytes_is_the_compact_json_size(excerpt: str, metadata: dict[str, str], ids: list[str]) -> None:
    """The bound checks size models with pydantic's serializer; it must agree with the compact JSON we write."""
    entry = EvidenceEntry(source="s", ref="r:1", kind="k", excerpt=excerpt, metadata=metadata, affected={"issues": ids})
    assert json_bytes(entry) == encoded_bytes(entry.model_dump(mode="json"))


@settings(max_examples=40, deadline=None)
@given(st.text(), st.dictionaries(st.text(max_size=8), st.text(), max_size=3), st.text(min_size=1))
def test_report_json_is_the_compact_json_of_the_dump(excerpt: str, metadata: dict[str, str], issue: str) -> None:
    """`report_json` uses pydantic's serializer; it writes exactly what `json.dumps` of the dump wrote."""
    finding = dataclasses.replace(BASE, excerpt=excerpt, metadata=metadata, issue=issue)
    accumulator = ClusterAccumulator()
    accumulator.add(finding)
    report = build_report(accumulator.clusters(), [INPUT], generated_at="2026-06-19T00:00:00Z")
    dumped = json.dumps(report.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False) + "\n"
    assert report_json(report) == dumped
