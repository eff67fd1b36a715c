"""The promotion policy: which clusters become, update, or reopen a tracking issue. Pure.

``decide(report, tracked, history, config, now) -> Plan`` reads nothing and writes nothing; the
driver gathers the tracked issues from the forge and the ``PolicyHistory`` from the state store.

Per cluster, the first rule that applies wins:

1. ``mute`` matches the id (or an alias) or the signature        -> skip ``muted``
2. the cluster is flagged ``systemic``                            -> skip ``systemic-merged``
3. an issue exists (lowest number among twins):
   - open: evidence digest unchanged -> skip ``duplicate-unchanged``; else update ``new-evidence``
   - closed as completed (or with no reason): evidence strictly newer than ``closed_at +
     regression_grace`` reopens it (``regressed``), otherwise skip ``duplicate-unchanged``
   - closed as not_planned: skip ``rejected``, unless the cluster is now severe *and* recurs after
     ``closed_at + regression_grace`` (then reopen ``regressed``: it came back worse)
   - closed as duplicate: skip ``rejected`` (a human tracks it elsewhere)
4. no issue: severe -> create ``severe``; ``>= min_occurrences`` -> create ``recurring``;
   otherwise skip ``below-threshold``.

Any write (create, update, reopen) inside ``cooldown`` of the cluster's last rejection or no-op becomes
skip ``cooldown``. Creates beyond ``max_new_issues_per_run`` become skip ``capped`` (severe first, then
most occurrences, then id). The systemic members form one special ``systemic`` subject decided by the
same rules (it always qualifies and is never capped). In ``notify-only`` mode every write becomes skip
``notify-only`` and one special ``rolling`` subject covers them (no cap: nothing is filed per
cluster). ``draft-pr`` plans like ``issue``. ``enabled: false`` is the driver's to honour.

After posting, the driver records ``posted_digests(report, plan)`` in the state store, so the next run
over the same evidence plans ``duplicate-unchanged`` for every issue, special ones included.

An issue number known only from ``history.issues`` but absent from ``tracked`` is assumed open: filing
a duplicate is worse than updating a stale number (the driver fetches such issues by number).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from .config import Config, Mode
from .forge.base import TrackedIssue
from .models import Cluster, Report
from .plan import CreateIssue, CreateReason, Plan, Reopen, Skip, SkipReason, SpecialIssue, UpdateIssue
from .taxonomy import Severity

PlanAction = CreateIssue | UpdateIssue | Reopen | Skip


class PolicyHistory(BaseModel):
    """What the state store remembers between runs, as the policy needs it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # cluster id (or special name) -> issue number: finds issues whose labels and marker were edited away.
    issues: dict[str, int] = Field(default_factory=dict)
    # cluster id (or special name) -> the evidence digest last posted to its issue.
    digests: dict[str, str] = Field(default_factory=dict)
    # cluster id (or special name) -> when a maintainer last rejected it or decided "no-op".
    declined_at: dict[str, datetime] = Field(default_factory=dict)
    # old id -> new id, accumulated over fingerprint versions (merged with the report's).
    id_aliases: dict[str, str] = Field(default_factory=dict)


class Subject(BaseModel):
    """One thing to decide on: a report cluster, or a special issue standing for several."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    names: frozenset[str]
    occurrences: int
    severe: bool
    qualifies: bool
    last_seen: datetime | None
    digest: str
    signature: str = ""
    systemic: bool = False
    special: bool = False

    @property
    def severity(self) -> Severity:
        return Severity.SEVERE if self.severe else Severity.NORMAL


class Existing(BaseModel):
    """The issue a subject already has; ``state`` is assumed open when known only by number."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int
    state: str = "open"
    state_reason: str | None = None
    closed_at: datetime | None = None


class Context(BaseModel):
    """Everything ``decide`` was given, with the tracked issues indexed by what they track."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    history: PolicyHistory
    config: Config
    now: datetime
    # new id -> the older ids that alias to it (history's and the report's).
    older_ids: dict[str, tuple[str, ...]]
    # (is special, cluster id or special name) -> the issues carrying it; twins are possible.
    by_key: dict[tuple[bool, str], tuple[TrackedIssue, ...]]
    # Issues with neither marker nor label: findable only through the history map.
    unkeyed: dict[int, TrackedIssue]
    numbers: frozenset[int]

    @classmethod
    def build(
        cls, report: Report, tracked: Sequence[TrackedIssue], history: PolicyHistory, config: Config, now: datetime
    ) -> Context:
        by_key: dict[tuple[bool, str], list[TrackedIssue]] = {}
        for issue in tracked:
            key = issue.special or issue.cluster_id
            if key is not None:
                by_key.setdefault((issue.special is not None, key), []).append(issue)
        return cls(
            history=history,
            config=config,
            now=_aware(now),
            older_ids=reverse_aliases({**history.id_aliases, **report.id_aliases}),
            by_key={key: tuple(issues) for key, issues in by_key.items()},
            unkeyed={issue.number: issue for issue in tracked if not (issue.special or issue.cluster_id)},
            numbers=frozenset(issue.number for issue in tracked),
        )


def decide(
    report: Report, tracked: Sequence[TrackedIssue], history: PolicyHistory, config: Config, now: datetime
) -> Plan:
    """One action per report cluster plus the special issues' actions, in the canonical order."""
    ctx = Context.build(report, tracked, history, config, now)
    subjects = [cluster_subject(cluster, ctx) for cluster in report.clusters]
    actions = [_screen(subject, ctx) or decide_subject(subject, ctx) for subject in subjects]
    merged = [s for s, a in zip(subjects, actions, strict=True) if a.reason is SkipReason.SYSTEMIC_MERGED]
    systemic = special_subject(SpecialIssue.SYSTEMIC, merged)
    if systemic is not None:
        subjects.append(systemic)
        actions.append(decide_subject(systemic, ctx))
    if config.mode is Mode.NOTIFY_ONLY:
        return Plan.of(_notify_only(subjects, actions, ctx))
    return Plan.of(_cap(actions, config.max_new_issues_per_run))


def special_subject(name: SpecialIssue, members: Sequence[Subject]) -> Subject | None:
    """A special issue standing for its members; it always qualifies, since it exists only with members."""
    if not members:
        return None
    seen = [member.last_seen for member in members if member.last_seen is not None]
    return Subject(
        id=name.value,
        names=frozenset({name.value}),
        occurrences=sum(member.occurrences for member in members),
        severe=any(member.severe for member in members),
        qualifies=True,
        last_seen=max(seen, default=None),
        digest=members_digest({member.id: member.digest for member in members}),
        special=True,
    )


def _notify_only(subjects: Sequence[Subject], actions: Sequence[PlanAction], ctx: Context) -> list[PlanAction]:
    """Hold every write back as ``notify-only``, and let one rolling issue report them all."""
    pairs = list(zip(subjects, actions, strict=True))
    held = [_held(action, SkipReason.NOTIFY_ONLY) if action.action != "skip" else action for _, action in pairs]
    rolling = special_subject(SpecialIssue.ROLLING, [subject for subject, action in pairs if action.action != "skip"])
    return held + ([decide_subject(rolling, ctx)] if rolling else [])


def _cap(actions: Sequence[PlanAction], limit: int) -> list[PlanAction]:
    """Keep the first ``limit`` new cluster issues: severe first, then most occurrences, then id."""
    creates = sorted((a for a in actions if a.action == "create" and not a.special), key=_cap_order)
    over = {action.cluster_id for action in creates[limit:]}
    return [_held(action, SkipReason.CAPPED) if action.cluster_id in over else action for action in actions]


def _cap_order(action: PlanAction) -> tuple[bool, int, str]:
    return (action.severity is not Severity.SEVERE, -action.occurrences, action.cluster_id)


def _held(action: PlanAction, reason: SkipReason) -> Skip:
    """The skip that replaces a write, keeping what it would have touched."""
    return Skip(
        cluster_id=action.cluster_id,
        issue=action.issue,
        reason=reason,
        occurrences=action.occurrences,
        severity=action.severity,
        special=action.special,
    )


def evidence_digest(cluster: Cluster) -> str:
    """A stable digest of what an issue body shows: the occurrence count and the sorted evidence refs."""
    shown = {"occurrences": cluster.occurrences, "refs": sorted(entry.ref for entry in cluster.evidence)}
    return _digest(shown)


def members_digest(members: dict[str, str]) -> str:
    """A special issue's digest: its members' ids and digests, in id order."""
    return _digest(sorted(members.items()))


def posted_digests(report: Report, plan: Plan) -> dict[str, str]:
    """The digest the driver records for each write it performs, so the next run sees it unchanged."""
    return {action.cluster_id: _action_digest(action.cluster_id, report, plan) for action in _writes(plan)}


def _writes(plan: Plan) -> tuple[PlanAction, ...]:
    return tuple(action for action in plan.actions if action.action != "skip")


def _action_digest(cluster_id: str, report: Report, plan: Plan) -> str:
    cluster = report.cluster(cluster_id)
    if cluster is not None:
        return evidence_digest(cluster)
    members = plan.members(SpecialIssue(cluster_id))
    return members_digest({member: _action_digest(member, report, plan) for member in members})


def is_severe(cluster: Cluster, config: Config) -> bool:
    return cluster.severity is Severity.SEVERE or cluster.failure_class in config.recurrence.severe_classes


def cluster_subject(cluster: Cluster, ctx: Context) -> Subject:
    severe = is_severe(cluster, ctx.config)
    return Subject(
        id=cluster.id,
        names=alias_names(cluster.id, ctx.older_ids),
        occurrences=cluster.occurrences,
        severe=severe,
        qualifies=severe or cluster.occurrences >= ctx.config.recurrence.min_occurrences,
        last_seen=parse_time(cluster.last_seen),
        digest=evidence_digest(cluster),
        signature=cluster.signature,
        systemic=cluster.systemic,
    )


def alias_names(cluster_id: str, older: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """The id and every older id that leads to it through the alias chain (``older``: new -> old ids)."""
    names, frontier = {cluster_id}, [cluster_id]
    while frontier:
        fresh = [old for new in frontier for old in older.get(new, ()) if old not in names]
        names.update(fresh)
        frontier = fresh
    return frozenset(names)


def reverse_aliases(aliases: dict[str, str]) -> dict[str, tuple[str, ...]]:
    older: dict[str, list[str]] = {}
    for old, new in sorted(aliases.items()):
        older.setdefault(new, []).append(old)
    return {new: tuple(olds) for new, olds in older.items()}


def decide_subject(subject: Subject, ctx: Context) -> PlanAction:
    """The lifecycle rules for one subject, with the cooldown applied to any write."""
    action = _lifecycle(subject, find_existing(subject, ctx), ctx)
    if action.action != "skip" and _cooling(subject, ctx):
        return _skip(subject, SkipReason.COOLDOWN, action.issue)
    return action


def find_existing(subject: Subject, ctx: Context) -> Existing | None:
    """The subject's issue: tracked by marker/label or by the history map; twins resolve to the lowest."""
    known = {ctx.history.issues[name] for name in subject.names if name in ctx.history.issues}
    matches = [issue for name in subject.names for issue in ctx.by_key.get((subject.special, name), ())]
    matches += [ctx.unkeyed[number] for number in known if number in ctx.unkeyed]
    if matches:
        issue = min(matches, key=lambda tracked: tracked.number)
        return Existing(
            number=issue.number, state=issue.state, state_reason=issue.state_reason, closed_at=issue.closed_at
        )
    untracked = known - ctx.numbers  # a number now tracking another cluster is stale, not ours
    return Existing(number=min(untracked)) if untracked else None


def _lifecycle(subject: Subject, existing: Existing | None, ctx: Context) -> PlanAction:
    if existing is None:
        return _propose(subject)
    if existing.state == "open":
        return _refresh(subject, existing, ctx)
    return _closed(subject, existing, ctx)


def _propose(subject: Subject) -> PlanAction:
    if not subject.qualifies:
        return _skip(subject, SkipReason.BELOW_THRESHOLD, None)
    reason = CreateReason.SEVERE if subject.severe else CreateReason.RECURRING
    return CreateIssue(**_fields(subject), reason=reason)


def _refresh(subject: Subject, existing: Existing, ctx: Context) -> PlanAction:
    posted = {ctx.history.digests[name] for name in subject.names if name in ctx.history.digests}
    if subject.digest in posted:
        return _skip(subject, SkipReason.DUPLICATE_UNCHANGED, existing.number)
    return UpdateIssue(**_fields(subject), issue=existing.number)


def _closed(subject: Subject, existing: Existing, ctx: Context) -> PlanAction:
    """Rejections stay rejected unless the subject is now severe and recurs; completed ones may regress."""
    if existing.state_reason == "duplicate":
        return _skip(subject, SkipReason.REJECTED, existing.number)
    if _regressed(subject, existing, ctx) and (subject.severe or existing.state_reason != "not_planned"):
        return Reopen(**_fields(subject), issue=existing.number)
    reason = SkipReason.REJECTED if existing.state_reason == "not_planned" else SkipReason.DUPLICATE_UNCHANGED
    return _skip(subject, reason, existing.number)


def _regressed(subject: Subject, existing: Existing, ctx: Context) -> bool:
    """Evidence strictly after the close plus the grace: earlier evidence may predate the fix landing."""
    if subject.last_seen is None or existing.closed_at is None:
        return False
    return subject.last_seen > _aware(existing.closed_at) + ctx.config.regression_grace


def _cooling(subject: Subject, ctx: Context) -> bool:
    """Inside ``[declined_at, declined_at + cooldown)``; at exactly the end the cooldown is over."""
    declined = [ctx.history.declined_at[name] for name in subject.names if name in ctx.history.declined_at]
    return any(ctx.now < _aware(moment) + ctx.config.cooldown for moment in declined)


def _screen(subject: Subject, ctx: Context) -> PlanAction | None:
    """Rules that apply before the lifecycle: mute, then the systemic merge."""
    if _muted(subject, ctx.config.mute):
        return _skip(subject, SkipReason.MUTED, _number(subject, ctx))
    if subject.systemic:
        return _skip(subject, SkipReason.SYSTEMIC_MERGED, _number(subject, ctx))
    return None


def _muted(subject: Subject, entries: Iterable[str]) -> bool:
    """An entry is a cluster id or a regex searched in any of the ids and in the signature."""
    texts = [*sorted(subject.names), subject.signature]
    return any(entry in subject.names or any(re.search(entry, text) for text in texts if text) for entry in entries)


def _number(subject: Subject, ctx: Context) -> int | None:
    existing = find_existing(subject, ctx)
    return existing.number if existing else None


def _skip(subject: Subject, reason: SkipReason, issue: int | None) -> Skip:
    return Skip(**_fields(subject), reason=reason, issue=issue)


def _fields(subject: Subject) -> dict[str, object]:
    return {
        "cluster_id": subject.id,
        "occurrences": subject.occurrences,
        "severity": subject.severity,
        "special": subject.special,
    }


def _digest(value: object) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def parse_time(value: str) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (naive means UTC); anything else is unknown."""
    try:
        return _aware(datetime.fromisoformat(value.strip())) if value.strip() else None
    except ValueError:
        return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
