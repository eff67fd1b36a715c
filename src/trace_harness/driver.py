"""The imperative shell of one run: report → tracked issues → policy → forge writes → state → ledger.

Order matters for exactly-one-issue-per-cluster under crashes and overlapping runs:

- tracked issues come from the forge list *and* the state map (issues whose label or marker was edited
  away are fetched by number), so a cluster is never filed twice;
- an issue found by label or marker but missing from the map (a crash after create) is adopted, its
  posted digest read back from the body, so no spurious update follows;
- after creating, the list is read again: twins from an overlapping run are closed as duplicates of the
  lowest number;
- an ambiguous create (``ForgeOutcomeUnknown``) is never resent: the list is read and the issue adopted;
- the ledger line is written in ``finally`` (spooled locally if the store fails).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from . import render
from .bodies import (
    SPECIAL_NOTES,
    SPECIAL_TITLES,
    bounded_body,
    bounded_title,
    special_members,
    tracking_body,
    with_digest,
)
from .config import Config, Mode
from .errors import ForgeError, ForgeOutcomeUnknown, StateError, TraceHarnessError
from .forge.base import Forge, LabelSpec, TrackedIssue
from .identity import TRACKING_LABEL, cluster_label, state_label
from .ledger import Counts, Ledger, LedgerInput, LedgerLine, Requests, Trigger, clean_errors
from .models import Report
from .plan import CreateIssue, Plan, Reopen, Skip, SpecialIssue, UpdateIssue
from .policy import PolicyHistory, decide, evidence_digest, posted_digests
from .redact import mask
from .state import ClusterRecord, IssueMap, StateStore, merge_issue_map
from .window import EvidenceWindow

Action = CreateIssue | UpdateIssue | Reopen | Skip
_DIGEST_RE = re.compile(r"<!--\s*trace-harness:digest=([0-9a-f]{1,64})\s*-->")


class Outcome(BaseModel):
    """What happened to one planned action (``result`` differs from the plan when a write failed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_id: str
    action: str
    reason: str
    issue: int | None
    result: str
    detail: str = ""


class RunResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    plan: Plan | None
    outcomes: tuple[Outcome, ...]
    ledger: LedgerLine
    exit_code: int


@dataclass
class _Run:
    """Mutable bookkeeping of one run; the shell's only mutable state."""

    report: Report
    plan: Plan
    report_ref: str = "trace-harness run"
    updates: dict[str, ClusterRecord] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    commented: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


class Driver:
    def __init__(
        self,
        forge: Forge,
        store: StateStore,
        config: Config,
        *,
        ledger: Ledger | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        public: bool | None = None,
        run_url: str = "",
        window: EvidenceWindow | None = None,
    ) -> None:
        self.forge = forge
        self.store = store
        self.config = config
        self.ledger = ledger
        self.clock = clock
        self.public = public
        self.run_url = run_url
        self.window = window
        self.namespace = config.labels.namespace

    # -- the run ------------------------------------------------------------------------------------
    def run(
        self, load_report: Callable[[], Report], *, trigger: Trigger = "manual", dry_run: bool = False
    ) -> RunResult:
        """One whole run; never raises a TraceHarnessError, the exit code says how it went."""
        started = self.clock()
        run_id = f"{started.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
        report: Report | None = None
        run: _Run | None = None
        errors: list[str] = []
        exit_code = 0
        try:
            if self.ledger is not None and not dry_run:
                self.ledger.flush()
            report = load_report()
            run = self.plan_and_apply(report, dry_run=dry_run, report_ref=self.run_url or f"trace-harness run {run_id}")
            if not dry_run:
                self._keep_evidence(run, run_id)
            errors = run.errors
            exit_code = 1 if errors else 0
        except TraceHarnessError as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            exit_code = exc.exit_code
        except OSError as exc:  # an unreadable file or a full disk: reported like the CLI does
            errors.append(f"{type(exc).__name__}: {exc.strerror or exc}")
            exit_code = 1
        except Exception as exc:  # a bug: still ledgered, then surfaced
            errors.append(f"internal error: {type(exc).__name__}")
            exit_code = 1
            raise
        finally:
            line = self._ledger_line(run_id, started, trigger, report, run, errors, exit_code)
            if self.ledger is not None and not dry_run:
                self.ledger.record(line)
        return RunResult(plan=run.plan if run else None, outcomes=tuple(run.outcomes) if run else (), ledger=line,
                         exit_code=exit_code)  # fmt: skip

    def plan_and_apply(self, report: Report, *, dry_run: bool, report_ref: str = "trace-harness run") -> _Run:
        issue_map = self.store.issue_map()
        tracked, gone = self.tracked_issues(issue_map)
        run = _Run(report=report, plan=Plan(), report_ref=report_ref)
        self._adopt_and_remember(run, tracked, issue_map)  # before deciding: adopted issues are not new
        history = history_from(merge_issue_map(issue_map, run.updates), gone)
        run.plan = decide(report, tracked, history, self.config, self.clock())
        if dry_run:
            run.outcomes = [_planned(action) for action in run.plan.actions]
            return run
        self.apply(run, tracked)
        self._save_map(run)
        return run

    def _keep_evidence(self, run: _Run, run_id: str) -> None:
        """Store this run's findings for the recurrence window (after the issue writes: those matter more)."""
        if self.window is None:
            return
        try:
            self.window.persist(run_id)
        except StateError as exc:
            run.errors.append(f"manifest: {type(exc).__name__}: {exc}")

    def tracked_issues(self, issue_map: IssueMap) -> tuple[list[TrackedIssue], set[int]]:
        """The forge list plus mapped issues the list misses (label removed); and mapped numbers now gone."""
        listed = self.forge.tracked_issues()
        seen = {issue.number for issue in listed}
        wanted = sorted({r.issue for r in issue_map.clusters.values() if r.issue is not None} - seen)
        fetched = {number: self.forge.get_issue(number) for number in wanted}
        extra = [issue for issue in fetched.values() if issue is not None]
        return listed + extra, {number for number, issue in fetched.items() if issue is None}

    # -- applying the plan --------------------------------------------------------------------------
    def apply(self, run: _Run, tracked: list[TrackedIssue]) -> None:
        self._close_twins(run, tracked)
        writes = [action for action in run.plan.actions if action.action != "skip"]
        if any(action.action == "create" for action in writes):
            self._ensure_labels(run)
        for action in run.plan.actions:
            run.outcomes.append(self._apply_one(run, action))
        if any(o.action == "create" and o.result in ("created", "unknown") for o in run.outcomes):
            self._relist_after_create(run)

    def _apply_one(self, run: _Run, action: Action) -> Outcome:
        try:
            if isinstance(action, CreateIssue):
                return self._create(run, action)
            if isinstance(action, UpdateIssue):
                return self._update(run, action, reopen=False)
            if isinstance(action, Reopen):
                return self._update(run, action, reopen=True)
        except ForgeOutcomeUnknown as exc:
            return _outcome(action, "unknown", action.issue, str(exc))
        except ForgeError as exc:
            run.errors.append(f"{action.cluster_id}: {type(exc).__name__}: {exc}")
            return _outcome(action, "failed", action.issue, str(exc))
        return _outcome(action, "skipped", action.issue)

    def _create(self, run: _Run, action: CreateIssue) -> Outcome:
        title, body, digest = self._content(run, action)
        issue = self.forge.create_issue(title, body, self._labels(action))
        self._remember(run, action.cluster_id, issue.number, digest)
        return _outcome(action, "created", issue.number, self._follow_through(run, action, issue.number))

    def _follow_through(self, run: _Run, action: CreateIssue, number: int) -> str:
        """In `draft-pr` mode the fix workflow starts without a separate approval; merging stays with humans."""
        if self.config.mode is not Mode.DRAFT_PR or action.special:
            return ""
        target = self.config.follow_through
        inputs = {"cluster_id": action.cluster_id, "issue": str(number)}
        try:
            self.forge.dispatch(target.workflow, target.ref, inputs)
        except ForgeError as exc:
            run.errors.append(f"{action.cluster_id}: follow-through dispatch failed: {type(exc).__name__}: {exc}")
            return "follow-through dispatch failed"
        return f"dispatched {target.workflow}"

    def _update(self, run: _Run, action: UpdateIssue | Reopen, *, reopen: bool) -> Outcome:
        _title, body, digest = self._content(run, action)
        self.forge.update_issue(action.issue, body=body, state="open" if reopen else None)
        self._remember(run, action.cluster_id, action.issue, digest)
        detail = ""
        if action.issue not in run.commented:
            run.commented.add(action.issue)  # before posting: an ambiguous comment is never resent
            try:
                self.forge.comment(action.issue, self._evidence_comment(run, action, reopen=reopen))
            except ForgeOutcomeUnknown:
                detail = "the evidence comment may not have been posted"
        return _outcome(action, "reopened" if reopen else "updated", action.issue, detail)

    def _ensure_labels(self, run: _Run) -> None:
        creates = [action for action in run.plan.actions if action.action == "create"]
        names = [self.namespace] + [label for action in creates for label in self._labels(action)[1:]]
        specs = [LabelSpec(name=name, color="5319e7" if name == self.namespace else "d4c5f9") for name in names]
        try:
            self.forge.ensure_labels(specs)
        except ForgeError as exc:  # creating an issue with a missing label still creates the label
            run.errors.append(f"labels: {type(exc).__name__}: {exc}")

    def _labels(self, action: Action) -> list[str]:
        if action.special:
            return [self.namespace, state_label(action.cluster_id, self.namespace)]
        return [self.namespace, cluster_label(action.cluster_id, self.namespace)]

    # -- twins and adoption -------------------------------------------------------------------------
    def _relist_after_create(self, run: _Run) -> None:
        """An overlapping run may have filed the same cluster: keep the lowest number, close the rest."""
        try:
            tracked = self.forge.tracked_issues()
        except ForgeError as exc:
            run.errors.append(f"re-list: {type(exc).__name__}: {exc}")
            return
        self._adopt(run, tracked, IssueMap(clusters=dict(run.updates)), unknown_only=True)
        self._close_twins(run, tracked)
        run.outcomes = [self._resolve_unknown(run, outcome) for outcome in run.outcomes]

    def _resolve_unknown(self, run: _Run, outcome: Outcome) -> Outcome:
        """An ambiguous create is adopted if the list shows it; otherwise it is an error (retried next run)."""
        if outcome.action != "create" or outcome.result != "unknown":
            return outcome
        record = run.updates.get(outcome.cluster_id)
        if record is not None and record.issue is not None:
            return outcome.model_copy(update={"result": "adopted", "issue": record.issue})
        run.errors.append(f"{outcome.cluster_id}: create outcome unknown and no issue found")
        return outcome.model_copy(update={"result": "failed"})

    def _close_twins(self, run: _Run, tracked: Sequence[TrackedIssue]) -> None:
        for key, issues in _open_by_key(tracked).items():
            keep, *twins = sorted(issues, key=lambda issue: issue.number)
            if not twins:
                continue
            previous = run.updates.get(key)
            self._remember(run, key, keep.number, previous.evidence_digest if previous else _posted_digest(keep))
            for twin in twins:
                self._close_twin(run, twin, keep.number)

    def _close_twin(self, run: _Run, twin: TrackedIssue, keep: int) -> None:
        try:
            if twin.number not in run.commented:
                run.commented.add(twin.number)
                self.forge.comment(twin.number, f"Duplicate of #{keep}: trace-harness tracks this cluster there.")
            self.forge.update_issue(twin.number, state="closed", state_reason="duplicate")
        except ForgeError as exc:
            run.errors.append(f"closing duplicate #{twin.number}: {type(exc).__name__}: {exc}")
            return
        run.outcomes.append(Outcome(cluster_id=twin.cluster_id or twin.special or "", action="close",
                                    reason="duplicate", issue=twin.number, result="closed-duplicate"))  # fmt: skip

    def _adopt_and_remember(self, run: _Run, tracked: Sequence[TrackedIssue], issue_map: IssueMap) -> None:
        self._adopt(run, tracked, issue_map, unknown_only=False)
        for issue in tracked:
            key = issue.cluster_id or issue.special
            if key and issue.state == "closed" and issue.state_reason in ("not_planned", "duplicate"):
                self._remember_rejection(run, key, issue, issue_map)

    def _adopt(self, run: _Run, tracked: Sequence[TrackedIssue], issue_map: IssueMap, *, unknown_only: bool) -> None:
        """Map issues found by label or marker that the state map misses (a crash after create)."""
        for issue in sorted(tracked, key=lambda tracked_issue: tracked_issue.number):
            key = issue.cluster_id or issue.special
            if key is None or issue.state != "open":
                continue
            known = issue_map.clusters.get(key)
            if known is None or known.issue is None or (not unknown_only and known.issue > issue.number):
                self._remember(run, key, issue.number, _posted_digest(issue))

    def _remember_rejection(self, run: _Run, key: str, issue: TrackedIssue, issue_map: IssueMap) -> None:
        closed = (issue.closed_at or issue.updated_at).astimezone(UTC).isoformat()
        known = run.updates.get(key) or issue_map.clusters.get(key) or ClusterRecord()
        if known.rejected_at is None or known.rejected_at < closed:
            run.updates[key] = known.model_copy(update={"rejected_at": closed})

    def _remember(self, run: _Run, key: str, number: int, digest: str) -> None:
        now = self.clock().astimezone(UTC).isoformat()
        previous = run.updates.get(key) or self.store.issue_map().clusters.get(key) or ClusterRecord()
        issue = number if previous.issue is None else min(previous.issue, number)
        if (previous.issue, previous.evidence_digest) == (issue, digest):
            return  # nothing new: no state write in a steady run
        run.updates[key] = previous.model_copy(update={"issue": issue, "evidence_digest": digest, "updated_at": now})

    def _save_map(self, run: _Run) -> None:
        try:
            self.store.save_issue_map(run.updates)
        except StateError as exc:
            run.errors.append(f"state: {type(exc).__name__}: {exc}")

    # -- content ------------------------------------------------------------------------------------
    def _content(self, run: _Run, action: Action) -> tuple[str, str, str]:
        """Title, body and evidence digest for an action's issue."""
        if action.special:
            return self._special_content(run, SpecialIssue(action.cluster_id))
        cluster = run.report.cluster(action.cluster_id)
        assert cluster is not None, "policy only plans report clusters"
        digest = evidence_digest(cluster)
        title = cluster.proposals.github_issue.title if cluster.proposals else render.issue_title(cluster)
        body = tracking_body(
            cluster, digest, self._raw_excerpts_allowed(), report_ref=run.report_ref, run_url=self.run_url,
            namespace=self.namespace, templates=self.config.templates,
        )  # fmt: skip
        return bounded_title(title), body, digest

    def _special_content(self, run: _Run, name: SpecialIssue) -> tuple[str, str, str]:
        # The policy's own digest: a rolling issue may hold the systemic issue, which is no report cluster.
        digest = posted_digests(run.report, run.plan)[name.value]
        members = special_members(run.report, run.plan, name)
        title = SPECIAL_TITLES[name].format(count=len(members))
        body = with_digest(render.special_body(name.value, title, members, SPECIAL_NOTES[name]), digest)
        return bounded_title(title), body, digest

    def _evidence_comment(self, run: _Run, action: UpdateIssue | Reopen, *, reopen: bool) -> str:
        cluster = run.report.cluster(action.cluster_id)
        if cluster is not None:
            return render.change_comment(cluster, str(action.reason), run.report_ref)
        members = special_members(run.report, run.plan, SpecialIssue(action.cluster_id))
        head = "Regressed: new evidence after the close." if reopen else "New evidence."
        ids = ", ".join(f"`{member.id}`" for member in members[:20])
        return bounded_body(f"trace-harness: {head} {action.occurrences} occurrence(s) across {ids or 'no clusters'}.")

    def _raw_excerpts_allowed(self) -> bool:
        if self.config.redaction.allow_raw_excerpts_in_public:
            return True
        public = self.config.public_repo if self.config.public_repo is not None else self.public
        if public is None:
            public = self.public = self._ask_public()
        return not public

    def _ask_public(self) -> bool:
        try:
            return self.forge.is_public()
        except ForgeError:
            return True  # unknown visibility: assume public, the safe side

    # -- ledger -------------------------------------------------------------------------------------
    def _ledger_line(
        self,
        run_id: str,
        started: datetime,
        trigger: Trigger,
        report: Report | None,
        run: _Run | None,
        errors: list[str],
        exit_code: int,
    ) -> LedgerLine:
        inputs = (
            tuple(LedgerInput(type=i.type, sha256=i.sha256, bytes=i.bytes) for i in report.inputs) if report else ()
        )
        return LedgerLine(
            run_id=run_id,
            started_at=started.astimezone(UTC).isoformat(),
            finished_at=self.clock().astimezone(UTC).isoformat(),
            trigger=trigger,
            mode=self.config.mode.value,
            window=_window(self.config),
            inputs=inputs,
            counts=_counts(run) if run else Counts(),
            requests=Requests(forge=self.forge.requests_made, state=self.store.requests_made),
            evidence_problems=len(report.evidence_problems) if report else 0,
            errors=clean_errors(errors),
            exit_code=exit_code,
        )


def history_from(issue_map: IssueMap, gone: set[int] | None = None) -> PolicyHistory:
    """The policy's view of the map; issues that no longer exist (deleted, transferred) are forgotten."""
    gone = gone or set()
    declined: dict[str, datetime] = {}
    for key, record in issue_map.clusters.items():
        moments = [m for m in (record.rejected_at, record.noop_at) if m]
        if moments:
            declined[key] = datetime.fromisoformat(max(moments))
    return PolicyHistory(
        issues={key: r.issue for key, r in issue_map.clusters.items() if r.issue is not None and r.issue not in gone},
        digests={key: r.evidence_digest for key, r in issue_map.clusters.items() if r.evidence_digest},
        declined_at=declined,
    )


def _open_by_key(tracked: Sequence[TrackedIssue]) -> dict[str, list[TrackedIssue]]:
    grouped: dict[str, list[TrackedIssue]] = {}
    for issue in tracked:
        key = issue.cluster_id or issue.special
        if key and issue.state == "open":
            grouped.setdefault(key, []).append(issue)
    return grouped


def _posted_digest(issue: TrackedIssue) -> str:
    match = _DIGEST_RE.search(issue.body)
    return match.group(1) if match else ""


def _planned(action: Action) -> Outcome:
    return _outcome(action, "planned", action.issue)


def _outcome(action: Action, result: str, issue: int | None, detail: str = "") -> Outcome:
    return Outcome(cluster_id=action.cluster_id, action=action.action, reason=str(action.reason), issue=issue,
                   result=result, detail=mask(" ".join(detail.split()))[:300])  # fmt: skip


def _counts(run: _Run) -> Counts:
    results = [outcome.result for outcome in run.outcomes]
    skipped: dict[str, int] = {}
    for outcome in run.outcomes:
        if outcome.action == "skip":
            skipped[outcome.reason] = skipped.get(outcome.reason, 0) + 1
    return Counts(
        seen=len(run.report.clusters),
        created=results.count("created"),
        updated=results.count("updated"),
        reopened=results.count("reopened"),
        skipped=dict(sorted(skipped.items())),
    )


def _window(config: Config) -> str:
    seconds = int(config.window.total_seconds())
    return f"{seconds // 86400}d" if seconds % 86400 == 0 else f"{seconds}s"


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


__all__ = ["TRACKING_LABEL", "Driver", "Outcome", "RunResult", "history_from", "new_run_id", "tracking_body"]
