"""Hand-built reports and a driver factory shared by the driver, fault and CLI tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from trace_harness.config import Config
from trace_harness.driver import Driver
from trace_harness.forge.base import Forge
from trace_harness.ledger import Ledger, parse_lines
from trace_harness.models import (
    Affected,
    Bounds,
    Cluster,
    DraftPRProposal,
    EvidenceEntry,
    GitHubIssueProposal,
    InputRef,
    Proposals,
    Report,
)
from trace_harness.state import DirectoryStore, StateStore
from trace_harness.taxonomy import FailureClass, Severity

START = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def cluster(
    cluster_id: str,
    occurrences: int = 2,
    *,
    refs: tuple[str, ...] = ("logs/a.log:10",),
    last_seen: str = "2026-01-10T11:00:00+00:00",
    failure_class: FailureClass = FailureClass.VALIDATION_FAILURE,
    severity: Severity = Severity.NORMAL,
    excerpt: str = "AssertionError: expected 1",
) -> Cluster:
    evidence = tuple(EvidenceEntry(source="log", ref=ref, kind="test", excerpt=excerpt) for ref in refs)
    return Cluster(
        id=cluster_id,
        title=f"Failure {cluster_id}",
        symptom_class="test",
        affected=Affected(runs=("1",)),
        evidence=evidence,
        suspected_harness_surface="tests",
        proposed_next_action="Fix the test.",
        acceptance_criteria=("It passes.",),
        redaction_note="masked",
        proposals=Proposals(
            github_issue=GitHubIssueProposal(title=f"Trace harness: {cluster_id}", body=f"Body with {excerpt}"),
            draft_pr=DraftPRProposal(title="fix", plan="plan"),
            advisory_evaluator={},
        ),
        failure_class=failure_class,
        severity=severity,
        occurrences=occurrences,
        first_seen="2026-01-09T00:00:00+00:00",
        last_seen=last_seen,
    )


def report(*clusters: Cluster) -> Report:
    return Report(
        generated_at="2026-01-10T12:00:00Z",
        inputs=(InputRef(type="worker_log", path="logs/a.log", bytes=10, sha256="0" * 64),),
        bounds=Bounds(max_run_evidence_bytes=65536, max_cluster_bytes=262144),
        clusters=clusters,
        fingerprint_version=1,
    )


def make_driver(forge: Forge, state_dir: Path, config: Config | None = None, store: StateStore | None = None) -> Driver:
    store = store or DirectoryStore(state_dir)
    ledger = Ledger(store, state_dir / "spool" / "ledger.jsonl")
    return Driver(forge, store, config or Config(), ledger=ledger, clock=lambda: START, public=False)


def ledger_run_ids(state_dir: Path) -> list[str]:
    return [line.run_id for line in parse_lines(DirectoryStore(state_dir).ledger_text())]


def open_issues_by_cluster(forge: Forge) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for issue in forge.tracked_issues():
        if issue.state == "open" and issue.cluster_id:
            grouped.setdefault(issue.cluster_id, []).append(issue.number)
    return grouped
