"""The cluster accumulator: kept ids, masking at the point of keeping, bounds, occurrences, order independence."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from trace_harness.bounds import MAX_CLUSTER_BYTES, MAX_RUN_EVIDENCE_BYTES, encoded_bytes
from trace_harness.cluster import EVIDENCE_OMITTED_KEY, ClusterAccumulator
from trace_harness.models import Cluster, Finding
from trace_harness.taxonomy import FailureClass

TOKEN = "ghp_R2d5Zk9sQ1x8Vb7Nm3Lp0Tq4Wc6Yh2Jf8Dsx"  # realistic: the redactor skips repeated-char dummies


def finding(line: int, **changes: str) -> Finding:
    base = Finding(
        cluster_id="runner-timeout",
        failure_class=FailureClass.TIMEOUT,
        title="Runner timeouts",
        symptom_class="runner timeout",
        signature="runner-timeout",
        source="worker_log",
        ref=f"w.log:{line}",
        kind="runner_timeout",
        excerpt=f'2026/06/18 09:00:{line % 60:02d} event=runner_timeout task_id=run-{line} msg="t"',
        metadata={"timestamp": f"2026/06/18 09:00:{line % 60:02d}"},
        timestamp=f"2026-06-18T09:00:{line % 60:02d}Z",
        issue=f"issue-{line}",
        run=f"run-{line}",
    )
    return dataclasses.replace(base, **changes)


def fold(findings: list[Finding], tracker: object | None = None) -> list[Cluster]:
    accumulator = ClusterAccumulator(tracker)  # type: ignore[arg-type]
    for item in findings:
        accumulator.add(item)
    return accumulator.clusters()


def test_findings_sharing_an_id_are_one_occurrence() -> None:
    shared = [finding(1, session="s"), finding(2, session="s"), finding(3)]
    (cluster,) = fold(shared)
    assert cluster.occurrences == 2
    assert cluster.affected.issues == ("issue-1", "issue-2", "issue-3")
    assert cluster.affected.sessions == ("s",)


def test_duplicate_evidence_counts_once() -> None:
    (cluster,) = fold([finding(1), finding(1), finding(1)])
    assert cluster.occurrences == 1
    assert cluster.affected.issues == ("issue-1",)


def test_tokenless_findings_count_once_per_input() -> None:
    bare = [finding(n, issue="", run="", ref=f"{name}:{n}") for n, name in ((1, "a.log"), (2, "a.log"), (3, "b.log"))]
    assert fold(bare)[0].occurrences == 2


def test_tokens_and_clone_urls_masked_where_kept() -> None:
    url = "https://user:secret@example.test/o/r/pull/1"
    item = finding(
        1,
        session=TOKEN,
        pull_request=url,
        excerpt=f"event=runner_timeout session_id={TOKEN} pr_url={url}",
        ref=f"logs/{TOKEN}/w.log:1",
        metadata={"model": TOKEN},
    )
    raw = fold([item])[0].model_dump_json()
    assert TOKEN not in raw and "secret" not in raw
    assert "[redacted-token]" in raw and "https://example.test/o/r/pull/1" in raw


def test_first_and_last_seen() -> None:
    (cluster,) = fold([finding(5), finding(2), finding(40)])
    assert (cluster.first_seen, cluster.last_seen) == ("2026-06-18T09:00:02Z", "2026-06-18T09:00:40Z")


def test_evidence_bounds_keep_smallest_keys_and_count_the_rest() -> None:
    big = "x" * 3000
    findings = [
        finding(n, excerpt=big, run="one-run", timestamp=f"2026-06-18T10:{n // 60:02d}:{n % 60:02d}Z")
        for n in range(300)
    ]
    (cluster,) = fold(list(reversed(findings)))
    evidence_bytes = sum(encoded_bytes(entry.model_dump(mode="json")) for entry in cluster.evidence)
    assert evidence_bytes <= MAX_RUN_EVIDENCE_BYTES
    assert [entry.ref for entry in cluster.evidence] == [f"w.log:{n}" for n in range(len(cluster.evidence))]
    assert cluster.affected.omitted[EVIDENCE_OMITTED_KEY] == 300 - len(cluster.evidence)
    assert len(cluster.affected.runs) == 1 and len(cluster.affected.issues) == 300  # ids survive the caps


def test_cluster_evidence_fits_the_cluster_bound() -> None:
    findings = [finding(n, excerpt="y" * 4000) for n in range(400)]
    (cluster,) = fold(findings)
    assert encoded_bytes([entry.model_dump(mode="json") for entry in cluster.evidence]) <= MAX_CLUSTER_BYTES
    assert cluster.occurrences == 400


def test_each_input_keeps_an_entry() -> None:
    early = [finding(n, excerpt="z" * 4000, run="r") for n in range(100)]
    late = finding(1, ref="other.log:1", timestamp="2027-01-01T00:00:00Z", run="r2")
    (cluster,) = fold([*early, late])
    assert "other.log:1" in [entry.ref for entry in cluster.evidence]


class FakeTracker:
    def __init__(self) -> None:
        self.seen: list[Finding] = []

    def observe(self, item: Finding) -> None:
        self.seen.append(item)

    def flaky(self, cluster_id: str) -> bool:
        return cluster_id == "runner-timeout"

    def systemic(self, cluster_id: str) -> bool:
        return False


def test_tracker_sets_attributes_never_the_id() -> None:
    tracker = FakeTracker()
    (cluster,) = fold([finding(1), finding(2)], tracker)
    assert len(tracker.seen) == 2
    assert (cluster.id, cluster.failure_class, cluster.flaky, cluster.systemic) == (
        "runner-timeout",
        FailureClass.FLAKY_TEST,
        True,
        False,
    )


@settings(max_examples=40, deadline=None)
@given(st.permutations([finding(n % 29, session=f"s{n % 3}", excerpt="e" * (n * 997 % 4000)) for n in range(130)]))
def test_clusters_do_not_depend_on_arrival_order(order: list[Finding]) -> None:
    expected = json.dumps([c.model_dump(mode="json") for c in fold(sorted(order, key=lambda f: f.excerpt))])
    assert json.dumps([c.model_dump(mode="json") for c in fold(order)]) == expected
