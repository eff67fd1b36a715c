"""The models every stage passes along: a reader's Finding, and the report's clusters.

``Finding`` is a slotted dataclass, not a pydantic model: readers yield hundreds of thousands per run, and
validation there would dominate ingest time. It is not frozen because a frozen dataclass sets each field
through ``object.__setattr__`` (measured 6.6 us vs 0.6 us per construction); nothing mutates one. Its text
fields are *raw*: the cluster accumulator redacts each value it keeps, so redaction has one choke point.
Everything downstream of clustering is a frozen pydantic model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from .taxonomy import FailureClass, Severity

REPORT_SCHEMA: Literal["trace-harness-report/v3"] = "trace-harness-report/v3"
AFFECTED_KEYS = ("issues", "issue_identifiers", "pull_requests", "runs", "sessions")


@dataclass(slots=True)
class Finding:
    """One root-cause failure seen by a reader. Text fields are unredacted until clustered."""

    cluster_id: str
    failure_class: FailureClass
    title: str
    symptom_class: str
    signature: str
    source: str
    ref: str
    kind: str
    excerpt: str
    metadata: dict[str, str] = field(default_factory=dict)
    timestamp: str = ""
    issue: str = ""
    identifier: str = ""
    run: str = ""
    session: str = ""
    pull_request: str = ""
    severity: Severity = Severity.NORMAL
    # Where the failure ran; used for flaky and systemic detection, never part of the id.
    job: str = ""
    workflow: str = ""
    commit: str = ""
    # Its cluster's ids under earlier fingerprint versions: mapped to ``cluster_id`` in the report.
    earlier_ids: tuple[str, ...] = ()

    def affected_pairs(self) -> tuple[tuple[str, str], ...]:
        values = (self.issue, self.identifier, self.pull_request, self.run, self.session)
        pairs = zip(AFFECTED_KEYS, values, strict=True)
        return tuple((key, value) for key, value in pairs if value)


@dataclass(frozen=True, slots=True)
class TestPass:
    """A test that passed: evidence against flakiness, never a finding."""

    __test__ = False  # not a pytest class
    test_id: str
    workflow: str
    commit: str
    run: str


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What a job log tells about its run: the workflow and commit that its tests ran at."""

    run: str
    workflow: str
    commit: str


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvidenceProblem(Frozen):
    """Evidence that could not be read. Counted and reported, never fatal."""

    path: str
    reason: str
    detail: str = ""


class InputRef(Frozen):
    type: str
    path: str
    bytes: int
    sha256: str


class Affected(Frozen):
    issues: tuple[str, ...] = ()
    issue_identifiers: tuple[str, ...] = ()
    pull_requests: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    omitted: dict[str, int] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _drop_empty_omitted(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not data.get("omitted"):
            data.pop("omitted", None)
        return data

    def values(self, key: str) -> tuple[str, ...]:
        result: tuple[str, ...] = getattr(self, key)
        return result


class EvidenceEntry(Frozen):
    source: str
    ref: str
    kind: str
    excerpt: str
    metadata: dict[str, str] = Field(default_factory=dict)
    affected: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class GitHubIssueProposal(Frozen):
    title: str
    body: str


class DraftPRProposal(Frozen):
    title: str
    plan: str


class Proposals(Frozen):
    github_issue: GitHubIssueProposal
    draft_pr: DraftPRProposal
    advisory_evaluator: dict[str, Any]
    recurrence_escalation: dict[str, Any] | None = None

    @model_serializer(mode="wrap")
    def _drop_absent_escalation(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("recurrence_escalation") is None:
            data.pop("recurrence_escalation", None)
        return data


class Cluster(Frozen):
    # trace-harness-report/v3 fields, in the anchor's order.
    id: str
    title: str
    symptom_class: str
    affected: Affected
    evidence: tuple[EvidenceEntry, ...]
    suspected_harness_surface: str
    proposed_next_action: str
    acceptance_criteria: tuple[str, ...]
    redaction_note: str
    proposals: Proposals | None = None
    # Our additions.
    failure_class: FailureClass
    severity: Severity = Severity.NORMAL
    occurrences: int
    first_seen: str = ""
    last_seen: str = ""
    flaky: bool = False
    systemic: bool = False
    signature: str = ""


class Bounds(Frozen):
    max_run_evidence_bytes: int
    max_cluster_bytes: int


class Report(Frozen):
    schema_version: Literal["trace-harness-report/v3"] = REPORT_SCHEMA
    generated_at: str
    inputs: tuple[InputRef, ...]
    bounds: Bounds
    clusters: tuple[Cluster, ...]
    recurrence_escalations: tuple[dict[str, Any], ...] = ()
    fingerprint_version: int
    id_aliases: dict[str, str] = Field(default_factory=dict)
    evidence_problems: tuple[EvidenceProblem, ...] = ()

    def cluster(self, cluster_id: str) -> Cluster | None:
        return next((c for c in self.clusters if c.id == cluster_id), None)
