from __future__ import annotations

import io
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostile_json import json_values
from trace_harness.bounds import MAX_RUN_EVIDENCE_BYTES, encoded_bytes
from trace_harness.config import Config
from trace_harness.errors import InputFormatError
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.th_manifest import SCHEMA, build_manifest, manifest_json, read_th_manifest
from trace_harness.models import EvidenceProblem, Finding, InputRef
from trace_harness.state import MANIFESTS, DirectoryStore
from trace_harness.taxonomy import FailureClass, Severity
from trace_harness.window import EvidenceWindow

TOKEN = "ghp_" + "Z" * 36


def finding(index: int, run: str = "run-1", excerpt: str = "E   ModuleNotFoundError: No module named 'x'") -> Finding:
    return Finding(
        cluster_id="dependency-missing-0a1b2c3d",
        failure_class=FailureClass.DEPENDENCY_MISSING,
        title="ModuleNotFoundError: x",
        symptom_class="dependency missing",
        signature="module:x",
        source="actions_log",
        ref=f"logs/job.txt:{index}",
        kind="step_failure",
        excerpt=excerpt,
        metadata={"exit_code": "1", "step": "Run pytest"},
        timestamp=f"2026-06-10T12:00:{index % 60:02d}Z",
        run=run,
        job="test",
        commit="abc123",
    )


def round_trip(manifest: dict[str, object]) -> list[object]:
    stream = io.BytesIO(manifest_json(manifest).encode())
    return list(read_th_manifest(stream, "m.json", ReaderOptions()))


def test_round_trip_keeps_findings() -> None:
    originals = [finding(1), finding(2, run="run-2")]
    inputs = [InputRef(type="actions_log", path="logs/job.txt", bytes=10, sha256="0" * 64)]
    read = round_trip(build_manifest(originals, inputs, "2026-06-10T13:00:00Z"))
    assert read == originals


def test_secrets_are_masked_before_storage() -> None:
    manifest = build_manifest([finding(1, excerpt=f"token {TOKEN}")], [], "t")
    assert TOKEN not in manifest_json(manifest)


def test_run_bound_counts_omitted_by_cluster() -> None:
    findings = [finding(i, excerpt="x" * 4000) for i in range(40)]
    run = build_manifest(findings, [], "t")["runs"][0]
    assert encoded_bytes(run["findings"]) <= MAX_RUN_EVIDENCE_BYTES
    assert len(run["findings"]) + run["omitted"]["dependency-missing-0a1b2c3d"] == 40


def test_kept_findings_do_not_depend_on_arrival_order() -> None:
    findings = [finding(i, excerpt="y" * 3000) for i in range(60)]
    forward = build_manifest(findings, [], "t")
    backward = build_manifest(list(reversed(findings)), [], "t")
    assert manifest_json(forward) == manifest_json(backward)


@pytest.mark.parametrize(
    "payload",
    [b"{}", b"[]", b"not json", json.dumps({"schema_version": "trace-harness-report/v3"}).encode()],
)
def test_wrong_artifacts_are_rejected_loudly(payload: bytes) -> None:
    with pytest.raises(InputFormatError, match=r"m\.json"):
        list(read_th_manifest(io.BytesIO(payload), "m.json", ReaderOptions()))


def test_malformed_record_is_a_counted_problem() -> None:
    manifest = {"schema_version": SCHEMA, "runs": [{"findings": [{"failure_class": "no-such-class"}]}]}
    (item,) = round_trip(manifest)
    assert isinstance(item, EvidenceProblem)
    assert item.reason == "malformed manifest finding"


def test_severity_survives() -> None:
    severe = Finding(**{**_fields(finding(1)), "severity": Severity.SEVERE})
    (item,) = round_trip(build_manifest([severe], [], "t"))
    assert isinstance(item, Finding)
    assert item.severity is Severity.SEVERE


def _fields(item: Finding) -> dict[str, object]:
    return {name: getattr(item, name) for name in Finding.__slots__}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.fixed_dictionaries({}, optional={"findings": json_values, "run": json_values}) | json_values),
    json_values,
)
def test_a_hand_edited_manifest_gives_findings_or_counted_problems(runs: list[Any], inputs: Any) -> None:
    """Whatever a stored manifest's runs and inputs hold, reading it (as the window does) never raises."""
    manifest = {"schema_version": SCHEMA, "inputs": inputs, "runs": runs}
    store = DirectoryStore(Path(tempfile.mkdtemp()))
    store.update(f"{MANIFESTS}/2026-06-10-1.json", lambda _old: json.dumps(manifest))
    window = EvidenceWindow(store, Config(), lambda: datetime(2026, 6, 11, tzinfo=UTC))
    items = list(window.stored([]))
    assert all(isinstance(item, Finding | EvidenceProblem) for item in items)
    read = round_trip(manifest)
    assert len(items) == len(read)
    assert [item for item in items if isinstance(item, Finding)] == [item for item in read if isinstance(item, Finding)]
