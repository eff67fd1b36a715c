"""Flaky and systemic attributes: definitions, order independence, bounded memory."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from trace_harness.attributes import AttributeTracker, has_window, parse_timestamp
from trace_harness.classify import diagnose_line, diagnose_test
from trace_harness.models import Finding, RunFacts, TestPass

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def failing_test(run: str, commit: str = "c1", workflow: str = "ci.yml", test_id: str = "t.py::test_a") -> Finding:
    diagnosis = diagnose_test(test_id, "AssertionError")
    return _finding(diagnosis.cluster_id, diagnosis.signature, run=run, commit=commit, workflow=workflow)


def _finding(
    cluster_id: str,
    signature: str,
    *,
    run: str = "",
    job: str = "",
    commit: str = "",
    workflow: str = "",
    timestamp: str = "",
) -> Finding:
    return Finding(
        cluster_id=cluster_id,
        failure_class=diagnose_line("x").failure_class,
        title="t",
        symptom_class="s",
        signature=signature,
        source="actions_log",
        ref="log:1",
        kind="actions_log",
        excerpt="",
        run=run,
        job=job,
        commit=commit,
        workflow=workflow,
        timestamp=timestamp,
    )


def job_failure(job: str, at: datetime, cluster: str = "infra-tooling-0badc0de") -> Finding:
    return _finding(cluster, "line:connection refused", job=job, run=f"run-{job}", timestamp=at.isoformat())


def test_flaky_when_same_commit_fails_and_passes() -> None:
    tracker = AttributeTracker(10, timedelta(hours=1))
    finding = failing_test("r1")
    tracker.observe(finding)
    assert not tracker.flaky(finding.cluster_id)
    tracker.observe_pass(TestPass(test_id="t.py::test_a", workflow="ci.yml", commit="c1", run="r2"))
    assert tracker.flaky(finding.cluster_id)
    assert tracker.flaky_clusters() == {finding.cluster_id}


def test_not_flaky_at_another_commit_or_workflow() -> None:
    tracker = AttributeTracker(10, timedelta(hours=1))
    finding = failing_test("r1")
    tracker.observe(finding)
    tracker.observe_pass(TestPass(test_id="t.py::test_a", workflow="ci.yml", commit="c2", run="r2"))
    tracker.observe_pass(TestPass(test_id="t.py::test_a", workflow="nightly.yml", commit="c1", run="r3"))
    tracker.observe_pass(TestPass(test_id="t.py::test_b", workflow="ci.yml", commit="c1", run="r4"))
    assert not tracker.flaky(finding.cluster_id)


def test_flaky_matches_parametrized_ids_by_normalized_id() -> None:
    tracker = AttributeTracker(10, timedelta(hours=1))
    tracker.observe_pass(TestPass(test_id="t.py::test_a[2]", workflow="ci.yml", commit="c1", run="r0"))
    finding = failing_test("r1", test_id="t.py::test_a[1]")
    tracker.observe(finding)
    assert tracker.flaky(finding.cluster_id)


def test_raw_test_id_in_metadata_is_matched_exactly() -> None:
    tracker = AttributeTracker(10, timedelta(hours=1))
    diagnosis = diagnose_test("t.py::test_a[1]", "AssertionError")
    finding = _finding(diagnosis.cluster_id, diagnosis.signature, run="r1", commit="c1", workflow="ci.yml")
    exact = dataclasses.replace(finding, metadata={"test_id": "t.py::test_a[1]"})
    tracker.observe(exact)
    tracker.observe_pass(TestPass(test_id="t.py::test_a[2]", workflow="ci.yml", commit="c1", run="r2"))
    assert not tracker.flaky(finding.cluster_id)
    tracker.observe_pass(TestPass(test_id="t.py::test_a[1]", workflow="ci.yml", commit="c1", run="r3"))
    assert tracker.flaky(finding.cluster_id)


def test_non_test_findings_are_never_flaky() -> None:
    tracker = AttributeTracker(10, timedelta(hours=1))
    finding = job_failure("j1", T0)
    tracker.observe(finding)
    assert not tracker.flaky(finding.cluster_id)


def test_flakiness_never_changes_the_id() -> None:
    assert (
        failing_test("r1").cluster_id
        == failing_test("r2").cluster_id
        == diagnose_test("t.py::test_a", "AssertionError").cluster_id
    )


def test_systemic_needs_min_distinct_jobs_within_window() -> None:
    tracker = AttributeTracker(3, timedelta(hours=1))
    for index, job in enumerate(("j1", "j2")):
        tracker.observe(job_failure(job, T0 + timedelta(minutes=index)))
    tracker.observe(job_failure("j1", T0 + timedelta(minutes=5)))  # same job again: not distinct
    assert not tracker.systemic("infra-tooling-0badc0de")
    tracker.observe(job_failure("j3", T0 + timedelta(minutes=59)))
    assert tracker.systemic("infra-tooling-0badc0de")
    assert tracker.systemic_clusters() == {"infra-tooling-0badc0de"}


def test_not_systemic_when_spread_beyond_window() -> None:
    tracker = AttributeTracker(3, timedelta(hours=1))
    for index in range(5):
        tracker.observe(job_failure(f"j{index}", T0 + timedelta(hours=2 * index)))
    assert not tracker.systemic("infra-tooling-0badc0de")


def test_systemic_ignores_findings_without_time_or_job() -> None:
    tracker = AttributeTracker(2, timedelta(hours=1))
    tracker.observe(_finding("c-1", "line:x", job="j1"))
    tracker.observe(_finding("c-1", "line:x", timestamp=T0.isoformat()))
    assert not tracker.systemic("c-1")


def test_memory_is_bounded_per_cluster() -> None:
    tracker = AttributeTracker(3, timedelta(minutes=1), keys_per_cluster=8)
    for index in range(100):
        tracker.observe(job_failure(f"j{index}", T0 + timedelta(hours=index)))
    assert len(tracker._job_times["infra-tooling-0badc0de"]) <= 8
    assert not tracker.systemic("infra-tooling-0badc0de")


def test_systemic_latched_when_cap_reached() -> None:
    tracker = AttributeTracker(3, timedelta(minutes=10), keys_per_cluster=4)
    for index in range(20):
        tracker.observe(job_failure(f"j{index}", T0 + timedelta(minutes=index)))
    assert tracker.systemic("infra-tooling-0badc0de")
    assert "infra-tooling-0badc0de" not in tracker._job_times


@given(st.lists(st.integers(0, 180), min_size=1, max_size=30), st.randoms())
def test_systemic_is_order_independent(minutes: list[int], rnd: object) -> None:
    findings = [job_failure(f"j{i}", T0 + timedelta(minutes=m)) for i, m in enumerate(minutes)]
    shuffled = list(findings)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    answers = []
    for order in (findings, shuffled):
        tracker = AttributeTracker(4, timedelta(minutes=30))
        for finding in order:
            tracker.observe(finding)
        answers.append(tracker.systemic("infra-tooling-0badc0de"))
    assert (
        answers[0] == answers[1] == has_window([T0 + timedelta(minutes=m) for m in minutes], 4, timedelta(minutes=30))
    )


def test_parse_timestamp() -> None:
    assert parse_timestamp("2025-06-06T03:46:25.9586337Z") == datetime(2025, 6, 6, 3, 46, 25, 958633, tzinfo=UTC)
    assert parse_timestamp("2025-06-06 03:46:25") == datetime(2025, 6, 6, 3, 46, 25, tzinfo=UTC)
    assert parse_timestamp("yesterday") is None


def test_agent_worker_events_without_a_job_are_never_systemic() -> None:
    from datetime import timedelta

    from trace_harness.attributes import AttributeTracker
    from trace_harness.models import Finding
    from trace_harness.taxonomy import FailureClass

    tracker = AttributeTracker(3, timedelta(hours=1))
    for index in range(20):
        tracker.observe(
            Finding(
                cluster_id="runner-timeout",
                failure_class=FailureClass.TIMEOUT,
                title="Runner timeouts",
                symptom_class="runner timeout",
                signature="runner-timeout",
                source="worker_log",
                ref=f"w.log:{index}",
                kind="runner_timeout",
                excerpt="",
                timestamp=f"2026-06-10T12:{index:02d}:00Z",
                run=f"run-{index}",
            )
        )
    assert not tracker.systemic("runner-timeout")


def test_a_junit_pass_answers_a_console_failure_of_the_same_test() -> None:
    tracker = AttributeTracker(10, timedelta(hours=1))
    diagnosis = diagnose_line("FAILED tests/test_api.py::test_total - assert (1 + 1) == 3")
    finding = _finding(diagnosis.cluster_id, diagnosis.signature, run="r1", commit="c1", workflow="ci.yml")
    tracker.observe(finding)
    tracker.observe_pass(TestPass(test_id="tests.test_api::test_total", workflow="ci.yml", commit="c1", run="r2"))
    assert tracker.flaky(finding.cluster_id)


def test_results_known_only_by_run_are_placed_by_the_runs_facts() -> None:
    tracker = AttributeTracker(10, timedelta(hours=1))
    finding = failing_test("1000001", commit="", workflow="")
    tracker.observe(finding)
    tracker.observe_pass(TestPass(test_id="t.py::test_a", workflow="", commit="", run="1000002"))
    assert not tracker.flaky(finding.cluster_id)  # nothing says the two runs tested the same commit
    tracker.observe_run(RunFacts(run="1000001", workflow="ci.yml", commit="c1"))
    tracker.observe_run(RunFacts(run="1000002", workflow="ci.yml", commit="c2"))
    assert not tracker.flaky(finding.cluster_id)
    tracker.observe_run(RunFacts(run="1000003", workflow="ci.yml", commit="c1"))
    tracker.observe_pass(TestPass(test_id="t.py::test_a", workflow="", commit="", run="1000003"))
    assert tracker.flaky(finding.cluster_id)


def test_a_failure_and_a_pass_in_one_run_are_not_flakiness() -> None:
    """Matrix legs of one run share workflow and commit: one leg failing is a real, leg-specific failure."""
    tracker = AttributeTracker(10, timedelta(hours=1))
    finding = failing_test("1000001")
    tracker.observe(finding)
    tracker.observe_pass(TestPass(test_id="t.py::test_a", workflow="ci.yml", commit="c1", run="1000001"))
    assert not tracker.flaky(finding.cluster_id)
    tracker.observe_pass(TestPass(test_id="t.py::test_a", workflow="ci.yml", commit="c1", run="1000002"))
    assert tracker.flaky(finding.cluster_id)
