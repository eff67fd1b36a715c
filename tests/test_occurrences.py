"""The findings a run stores: one per occurrence, the ``limit`` earliest, whatever the arrival order or path."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from test_worker_ingest import FIXTURES, generated_log
from trace_harness.cluster import ClusterAccumulator, evidence_key
from trace_harness.evidence import worker_log, worker_scan, worker_split
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.worker_log import read_worker_log
from trace_harness.models import Finding
from trace_harness.occurrences import OccurrenceKeeper, occurrence_key
from trace_harness.taxonomy import FailureClass


def _finding(cluster: str, issue: str, line: int, second: int) -> Finding:
    return Finding(
        cluster_id=cluster, failure_class=FailureClass.TIMEOUT, title="t", symptom_class="s", signature=cluster,
        source="worker_log", ref=f"w.log:{line}", kind="runner_timeout", excerpt="x", issue=issue,
        timestamp=f"2026-01-01T00:00:{second:02d}Z",
    )  # fmt: skip


_FINDINGS = st.lists(
    st.builds(_finding, st.sampled_from(["a", "b"]), st.sampled_from(["1", "2", "3", "4", "5"]),
              st.integers(1, 40), st.integers(0, 59)),
    max_size=40,
)  # fmt: skip


def _earliest(findings: list[Finding], limit: int) -> list[Finding]:
    """By definition: each occurrence's earliest finding, then the ``limit`` with the smallest keys."""
    best: dict[tuple[str, ...], Finding] = {}
    for finding in findings:
        known = best.get(occurrence_key(finding))
        if known is None or evidence_key(finding.timestamp, finding.ref) < evidence_key(known.timestamp, known.ref):
            best[occurrence_key(finding)] = finding
    chosen = sorted(best.values(), key=lambda f: evidence_key(f.timestamp, f.ref))[:limit]
    return sorted(chosen, key=occurrence_key)


@given(findings=_FINDINGS, limit=st.integers(0, 6), order=st.randoms(use_true_random=False))
def test_the_kept_findings_do_not_depend_on_arrival_order(findings: list[Finding], limit: int, order: object) -> None:
    shuffled = list(findings)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    for stream in (findings, shuffled):
        keeper = OccurrenceKeeper(limit)
        for finding in stream:
            keeper.keep(finding)
        assert keeper.findings() == _earliest(findings, limit)


@pytest.mark.parametrize("chunk", [worker_log.CHUNK_BYTES, 4096])
@pytest.mark.parametrize("limit", [3, 40, 5000])
def test_the_worker_bulk_path_keeps_what_the_reader_path_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int, chunk: int
) -> None:
    """The bulk scan builds a Finding only for records the keeper wants, in one process or two, whatever
    the chunking (small chunks: the keeper fills and its bound moves between chunks)."""
    monkeypatch.setattr(worker_log, "CHUNK_BYTES", chunk)
    log = generated_log(tmp_path, 3000, 11)
    with log.open("ab") as handle:  # records the general parser reads, in the second half
        handle.write((FIXTURES / "mixed.log").read_bytes())
    expected = OccurrenceKeeper(limit)
    for item in read_worker_log(io.BytesIO(log.read_bytes()), str(log), ReaderOptions()):
        assert isinstance(item, Finding)
        expected.keep(item)
    for processes_from, by_kinds in ((1 << 60, True), (0, True), (0, False)):
        keeper = OccurrenceKeeper(limit)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(worker_scan, "PARALLEL_MIN_BYTES", processes_from)
            if not by_kinds:  # the sample balances the generated mix by kinds: also try halves
                patch.setattr(worker_split, "balanced_kinds", lambda _counts: None)
            worker_scan.fold_worker_log_file(log, str(log), ReaderOptions(), ClusterAccumulator(), keeper=keeper)
        assert [repr(f) for f in keeper.findings()] == [repr(f) for f in expected.findings()]
    assert len(expected.findings()) == limit if limit < 100 else len(expected.findings()) > 100
