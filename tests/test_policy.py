import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden_files import assert_golden
from trace_harness.config import Config, config_from_mapping
from trace_harness.forge.base import TrackedIssue
from trace_harness.identity import cluster_marker, special_marker
from trace_harness.models import Affected, Bounds, Cluster, EvidenceEntry, Report
from trace_harness.plan import Plan, SpecialIssue
from trace_harness.policy import (
    PolicyHistory,
    alias_names,
    decide,
    evidence_digest,
    parse_time,
    posted_digests,
    reverse_aliases,
)
from trace_harness.taxonomy import FailureClass, Severity

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
DEP = "dependency-missing-0000000a"
OTHER = "validation-failure-0000000b"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def make_cluster(
    cluster_id: str = DEP,
    occurrences: int = 2,
    failure_class: FailureClass = FailureClass.DEPENDENCY_MISSING,
    severity: Severity = Severity.NORMAL,
    last_seen: datetime = NOW - timedelta(hours=1),
    refs: Sequence[str] = ("logs/a.log:10",),
    systemic: bool = False,
    signature: str = "ModuleNotFoundError: yaml",
) -> Cluster:
    evidence = tuple(EvidenceEntry(source="worker-log", ref=ref, kind="log", excerpt="boom") for ref in refs)
    return Cluster(
        id=cluster_id,
        title=f"title of {cluster_id}",
        symptom_class=failure_class.value,
        affected=Affected(runs=("1",)),
        evidence=evidence,
        suspected_harness_surface="setup",
        proposed_next_action="fix it",
        acceptance_criteria=("it passes",),
        redaction_note="redacted",
        failure_class=failure_class,
        severity=severity,
        occurrences=occurrences,
        first_seen=iso(last_seen - timedelta(hours=2)),
        last_seen=iso(last_seen),
        systemic=systemic,
        signature=signature,
    )


def make_report(*clusters: Cluster, aliases: dict[str, str] | None = None) -> Report:
    return Report(
        generated_at=iso(NOW),
        inputs=(),
        bounds=Bounds(max_run_evidence_bytes=65536, max_cluster_bytes=262144),
        clusters=clusters,
        fingerprint_version=1,
        id_aliases=aliases or {},
    )


def make_issue(
    number: int,
    cluster_id: str | None = DEP,
    state: str = "open",
    reason: str | None = None,
    closed_at: datetime | None = None,
    special: str | None = None,
) -> TrackedIssue:
    body = special_marker(special) if special else cluster_marker(cluster_id) if cluster_id else "edited away"
    return TrackedIssue.build(
        body=body,
        labels=["trace-harness"],
        number=number,
        title=f"issue {number}",
        state=state,
        state_reason=reason,
        url=f"https://github.com/o/r/issues/{number}",
        created_at=NOW - timedelta(days=30),
        updated_at=NOW - timedelta(days=1),
        closed_at=closed_at if state == "closed" else None,
    )


def plan_for(
    clusters: Sequence[Cluster],
    tracked: Sequence[TrackedIssue] = (),
    history: PolicyHistory | None = None,
    aliases: dict[str, str] | None = None,
    **config: Any,
) -> Plan:
    report = make_report(*clusters, aliases=aliases)
    return decide(report, tracked, history or PolicyHistory(), config_from_mapping(config), NOW)


def only(plan: Plan, cluster_id: str = DEP) -> tuple[str, str, int | None]:
    action = plan.action_for(cluster_id)
    assert action is not None
    return action.action, str(action.reason), action.issue


CLOSED_LONG_AGO = NOW - timedelta(days=10)
SEEN_NOW = make_cluster()
POSTED = PolicyHistory(digests={DEP: evidence_digest(SEEN_NOW)})
STALE = PolicyHistory(digests={DEP: "0" * 16})

SCENARIOS: list[tuple[str, list[Cluster], list[TrackedIssue], PolicyHistory, dict[str, Any], tuple[Any, ...]]] = [
    ("recurring", [make_cluster(occurrences=2)], [], PolicyHistory(), {}, ("create", "recurring", None)),
    (
        "severe-flag",
        [make_cluster(occurrences=1, severity=Severity.SEVERE)],
        [],
        PolicyHistory(),
        {},
        ("create", "severe", None),
    ),
    (
        "severe-class",
        [make_cluster(occurrences=1, failure_class=FailureClass.SCOPE_POLICY)],
        [],
        PolicyHistory(),
        {},
        ("create", "severe", None),
    ),
    (
        "severe-class-configured",
        [make_cluster(occurrences=1, failure_class=FailureClass.OOM)],
        [],
        PolicyHistory(),
        {"recurrence": {"severe_classes": ["oom"]}},
        ("create", "severe", None),
    ),
    ("below-threshold", [make_cluster(occurrences=1)], [], PolicyHistory(), {}, ("skip", "below-threshold", None)),
    (
        "below-raised-threshold",
        [make_cluster(occurrences=2)],
        [],
        PolicyHistory(),
        {"recurrence": {"min_occurrences": 3}},
        ("skip", "below-threshold", None),
    ),
    ("new-evidence", [SEEN_NOW], [make_issue(5)], STALE, {}, ("update", "new-evidence", 5)),
    ("never-posted", [SEEN_NOW], [make_issue(5)], PolicyHistory(), {}, ("update", "new-evidence", 5)),
    (
        "open-below-threshold-still-updates",
        [make_cluster(occurrences=1)],
        [make_issue(5)],
        STALE,
        {},
        ("update", "new-evidence", 5),
    ),
    ("duplicate-unchanged", [SEEN_NOW], [make_issue(5)], POSTED, {}, ("skip", "duplicate-unchanged", 5)),
    (
        "rejected",
        [SEEN_NOW],
        [make_issue(5, state="closed", reason="not_planned", closed_at=CLOSED_LONG_AGO)],
        STALE,
        {},
        ("skip", "rejected", 5),
    ),
    (
        "rejected-as-duplicate",
        [make_cluster(severity=Severity.SEVERE)],
        [make_issue(5, state="closed", reason="duplicate", closed_at=CLOSED_LONG_AGO)],
        STALE,
        {},
        ("skip", "rejected", 5),
    ),
    (
        "rejected-then-severe",
        [make_cluster(severity=Severity.SEVERE)],
        [make_issue(5, state="closed", reason="not_planned", closed_at=CLOSED_LONG_AGO)],
        STALE,
        {},
        ("reopen", "regressed", 5),
    ),
    (
        "rejected-severe-but-old-evidence",
        [make_cluster(severity=Severity.SEVERE, last_seen=CLOSED_LONG_AGO)],
        [make_issue(5, state="closed", reason="not_planned", closed_at=CLOSED_LONG_AGO)],
        STALE,
        {},
        ("skip", "rejected", 5),
    ),
    (
        "regressed",
        [SEEN_NOW],
        [make_issue(5, state="closed", reason="completed", closed_at=CLOSED_LONG_AGO)],
        POSTED,
        {},
        ("reopen", "regressed", 5),
    ),
    (
        "closed-without-reason-regresses",
        [SEEN_NOW],
        [make_issue(5, state="closed", reason=None, closed_at=CLOSED_LONG_AGO)],
        POSTED,
        {},
        ("reopen", "regressed", 5),
    ),
    (
        "completed-within-grace",
        [SEEN_NOW],
        [make_issue(5, state="closed", reason="completed", closed_at=NOW - timedelta(days=1))],
        STALE,
        {},
        ("skip", "duplicate-unchanged", 5),
    ),
    ("muted-id", [SEEN_NOW], [], PolicyHistory(), {"mute": [DEP]}, ("skip", "muted", None)),
    ("muted-id-regex", [SEEN_NOW], [make_issue(5)], STALE, {"mute": ["^dependency-"]}, ("skip", "muted", 5)),
    ("muted-signature", [SEEN_NOW], [], PolicyHistory(), {"mute": [r"NotFoundError: y.ml$"]}, ("skip", "muted", None)),
    (
        "muted-beats-severe",
        [make_cluster(severity=Severity.SEVERE)],
        [],
        PolicyHistory(),
        {"mute": [DEP]},
        ("skip", "muted", None),
    ),
    (
        "cooldown-create",
        [SEEN_NOW],
        [],
        PolicyHistory(declined_at={DEP: NOW - timedelta(hours=23)}),
        {},
        ("skip", "cooldown", None),
    ),
    (
        "cooldown-update",
        [SEEN_NOW],
        [make_issue(5)],
        PolicyHistory(declined_at={DEP: NOW - timedelta(hours=1)}, digests={DEP: "0" * 16}),
        {},
        ("skip", "cooldown", 5),
    ),
    (
        "cooldown-configured",
        [SEEN_NOW],
        [],
        PolicyHistory(declined_at={DEP: NOW - timedelta(days=2)}),
        {"cooldown": "3d"},
        ("skip", "cooldown", None),
    ),
    (
        "cooldown-over",
        [SEEN_NOW],
        [],
        PolicyHistory(declined_at={DEP: NOW - timedelta(days=2)}),
        {},
        ("create", "recurring", None),
    ),
    ("capped", [SEEN_NOW], [], PolicyHistory(), {"max_new_issues_per_run": 0}, ("skip", "capped", None)),
    (
        "systemic-merged",
        [make_cluster(systemic=True)],
        [make_issue(5)],
        STALE,
        {},
        ("skip", "systemic-merged", 5),
    ),
    ("notify-only", [SEEN_NOW], [], PolicyHistory(), {"mode": "notify-only"}, ("skip", "notify-only", None)),
    (
        "notify-only-update",
        [SEEN_NOW],
        [make_issue(5)],
        STALE,
        {"mode": "notify-only"},
        ("skip", "notify-only", 5),
    ),
    ("draft-pr-plans-like-issue", [SEEN_NOW], [], PolicyHistory(), {"mode": "draft-pr"}, ("create", "recurring", None)),
]


@pytest.mark.parametrize(
    ("clusters", "tracked", "history", "config", "expected"),
    [scenario[1:] for scenario in SCENARIOS],
    ids=[scenario[0] for scenario in SCENARIOS],
)
def test_scenario(
    clusters: list[Cluster],
    tracked: list[TrackedIssue],
    history: PolicyHistory,
    config: dict[str, Any],
    expected: tuple[str, str, int | None],
) -> None:
    assert only(plan_for(clusters, tracked, history, **config)) == expected


def test_every_reason_has_a_scenario() -> None:
    reasons = {expected[1] for *_, expected in SCENARIOS}
    assert reasons == {
        "recurring",
        "severe",
        "new-evidence",
        "regressed",
        "duplicate-unchanged",
        "below-threshold",
        "rejected",
        "muted",
        "capped",
        "cooldown",
        "notify-only",
        "systemic-merged",
    }


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(timedelta(microseconds=-1), "cooldown"), (timedelta(0), "recurring"), (timedelta(seconds=1), "recurring")],
)
def test_cooldown_ends_exactly_at_the_boundary(offset: timedelta, expected: str) -> None:
    history = PolicyHistory(declined_at={DEP: NOW - timedelta(days=1) - offset})
    assert only(plan_for([SEEN_NOW], history=history))[1] == expected


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(timedelta(0), "duplicate-unchanged"), (timedelta(seconds=1), "regressed")],
)
def test_regression_needs_evidence_strictly_after_the_grace(offset: timedelta, expected: str) -> None:
    closed_at = NOW - timedelta(days=5)
    seen = make_cluster(last_seen=closed_at + timedelta(days=2) + offset)
    closed = make_issue(5, state="closed", reason="completed", closed_at=closed_at)
    assert only(plan_for([seen], [closed]))[1] == expected


def test_regression_without_a_timestamp_is_not_proven() -> None:
    closed = make_issue(5, state="closed", reason="completed", closed_at=CLOSED_LONG_AGO)
    undated = SEEN_NOW.model_copy(update={"last_seen": "not a time"})
    assert only(plan_for([undated], [closed])) == ("skip", "duplicate-unchanged", 5)


def test_cap_order_is_severe_then_occurrences_then_id() -> None:
    clusters = [
        make_cluster("oom-0000000e", occurrences=1, severity=Severity.SEVERE),
        make_cluster("timeout-0000000b", occurrences=5),
        make_cluster("timeout-0000000a", occurrences=5),
        make_cluster("timeout-0000000c", occurrences=9),
        make_cluster("timeout-0000000d", occurrences=1),
    ]
    for cap, created in [
        (0, []),
        (1, ["oom-0000000e"]),
        (2, ["oom-0000000e", "timeout-0000000c"]),
        (3, ["oom-0000000e", "timeout-0000000a", "timeout-0000000c"]),
        (9, ["oom-0000000e", "timeout-0000000a", "timeout-0000000b", "timeout-0000000c"]),
    ]:
        plan = plan_for(clusters, max_new_issues_per_run=cap)
        assert [a.cluster_id for a in plan.actions if a.action == "create"] == created
        capped = [a.cluster_id for a in plan.actions if a.reason == "capped"]
        assert len(capped) == 4 - len(created)
        assert only(plan, "timeout-0000000d")[1] == "below-threshold"


def test_cap_does_not_count_updates_or_reopens() -> None:
    clusters = [make_cluster(DEP), make_cluster(OTHER)]
    plan = plan_for(clusters, [make_issue(5)], STALE, max_new_issues_per_run=1)
    assert only(plan, DEP) == ("update", "new-evidence", 5)
    assert only(plan, OTHER) == ("create", "recurring", None)


def systemic_members() -> list[Cluster]:
    return [
        make_cluster("infra-tooling-0000000a", occurrences=12, failure_class=FailureClass.INFRA_TOOLING, systemic=True),
        make_cluster("infra-tooling-0000000b", occurrences=3, failure_class=FailureClass.INFRA_TOOLING, systemic=True),
        make_cluster("timeout-0000000c", occurrences=1, severity=Severity.SEVERE, systemic=True),
    ]


def test_systemic_clusters_merge_into_one_special_issue() -> None:
    plan = plan_for([*systemic_members(), SEEN_NOW], max_new_issues_per_run=0)
    special = plan.action_for("systemic")
    assert special is not None and special.special
    assert (special.action, special.reason, special.issue) == ("create", "severe", None)
    assert special.occurrences == 16
    assert plan.members(SpecialIssue.SYSTEMIC) == tuple(sorted(c.id for c in systemic_members()))
    assert only(plan) == ("skip", "capped", None)  # the systemic issue is not capped, the others are
    assert plan.ledger_counts().seen == 4


def test_muted_systemic_member_is_muted_not_merged() -> None:
    plan = plan_for(systemic_members(), mute=["^timeout-"])
    assert only(plan, "timeout-0000000c")[1] == "muted"
    assert plan.members(SpecialIssue.SYSTEMIC) == ("infra-tooling-0000000a", "infra-tooling-0000000b")
    special = plan.action_for("systemic")
    assert special is not None and special.reason == "recurring"


def test_systemic_issue_is_updated_then_unchanged() -> None:
    members = systemic_members()
    first = plan_for(members)
    existing = make_issue(40, cluster_id=None, special="systemic")
    history = PolicyHistory(digests=posted_digests(make_report(*members), first))
    assert only(plan_for(members, [existing], history), "systemic") == ("skip", "duplicate-unchanged", 40)
    grown = [*members[:2], members[2].model_copy(update={"occurrences": 2})]
    assert only(plan_for(grown, [existing], history), "systemic") == ("update", "new-evidence", 40)


def test_no_special_action_without_members() -> None:
    plan = plan_for([SEEN_NOW], mode="notify-only", mute=[DEP])
    assert plan.special_actions() == ()


def test_notify_only_rolls_every_write_into_one_issue() -> None:
    clusters = [SEEN_NOW, make_cluster(OTHER, occurrences=1), make_cluster("oom-0000000f", severity=Severity.SEVERE)]
    plan = plan_for(clusters, mode="notify-only", max_new_issues_per_run=0)
    assert plan.members(SpecialIssue.ROLLING) == ("dependency-missing-0000000a", "oom-0000000f")
    assert only(plan, OTHER)[1] == "below-threshold"
    assert only(plan, "rolling") == ("create", "severe", None)
    assert plan.ledger_counts().created == 1


def test_notify_only_rolling_issue_is_quiet_when_nothing_changed() -> None:
    clusters = [SEEN_NOW, *systemic_members()]
    first = plan_for(clusters, mode="notify-only")
    assert set(first.members(SpecialIssue.ROLLING)) == {DEP, "systemic"}
    rolling = make_issue(41, cluster_id=None, special="rolling")
    history = PolicyHistory(digests=posted_digests(make_report(*clusters), first))
    again = plan_for(clusters, [rolling], history, mode="notify-only")
    assert only(again, "rolling") == ("skip", "duplicate-unchanged", 41)
    changed = [make_cluster(refs=("logs/a.log:10", "logs/b.log:3")), *systemic_members()]
    assert only(plan_for(changed, [rolling], history, mode="notify-only"), "rolling")[0] == "update"


def test_an_alias_adopts_the_issue_of_the_old_id() -> None:
    old_id = "dependency-missing-ffffffff"
    tracked = [make_issue(8, cluster_id=old_id)]
    assert only(plan_for([SEEN_NOW], tracked, STALE, aliases={old_id: DEP})) == ("update", "new-evidence", 8)
    assert only(plan_for([SEEN_NOW], tracked, STALE))[0] == "create"


def test_alias_chain_across_history_and_report() -> None:
    oldest, middle = "dependency-missing-11111111", "dependency-missing-22222222"
    history = PolicyHistory(
        issues={oldest: 3}, digests={oldest: evidence_digest(SEEN_NOW)}, id_aliases={oldest: middle}
    )
    unkeyed = make_issue(3, cluster_id=None)
    plan = plan_for([SEEN_NOW], [unkeyed], history, aliases={middle: DEP})
    assert only(plan) == ("skip", "duplicate-unchanged", 3)
    assert alias_names(DEP, reverse_aliases({oldest: middle, middle: DEP})) == {DEP, middle, oldest}
    assert alias_names(DEP, reverse_aliases({oldest: middle, middle: oldest})) == {DEP}


def test_history_map_finds_an_issue_whose_marker_was_edited_away() -> None:
    unkeyed = make_issue(6, cluster_id=None, state="closed", reason="completed", closed_at=CLOSED_LONG_AGO)
    history = PolicyHistory(issues={DEP: 6})
    assert only(plan_for([SEEN_NOW], [unkeyed], history)) == ("reopen", "regressed", 6)


def test_history_number_without_tracked_issue_is_assumed_open() -> None:
    assert only(plan_for([SEEN_NOW], [], PolicyHistory(issues={DEP: 6}))) == ("update", "new-evidence", 6)


def test_history_number_of_an_issue_tracking_another_cluster_is_ignored() -> None:
    plan = plan_for([SEEN_NOW], [make_issue(6, cluster_id=OTHER)], PolicyHistory(issues={DEP: 6}))
    assert only(plan) == ("create", "recurring", None)


def test_twins_resolve_to_the_lowest_number() -> None:
    twins = [make_issue(9), make_issue(4, state="closed", reason="completed", closed_at=CLOSED_LONG_AGO)]
    assert only(plan_for([SEEN_NOW], twins, POSTED)) == ("reopen", "regressed", 4)
    assert only(plan_for([SEEN_NOW], list(reversed(twins)), POSTED)) == ("reopen", "regressed", 4)


def test_special_issues_never_match_clusters() -> None:
    systemic_issue = make_issue(2, cluster_id=None, special="systemic")
    assert only(plan_for([SEEN_NOW], [systemic_issue], PolicyHistory())) == ("create", "recurring", None)


def test_evidence_digest_ignores_ref_order_and_excerpts() -> None:
    one = make_cluster(refs=("b.log:1", "a.log:2"))
    two = make_cluster(refs=("a.log:2", "b.log:1")).model_copy(update={"title": "renamed"})
    assert evidence_digest(one) == evidence_digest(two)
    assert evidence_digest(one) != evidence_digest(make_cluster(refs=("a.log:2",)))
    assert evidence_digest(one) != evidence_digest(make_cluster(occurrences=3, refs=("a.log:2", "b.log:1")))


def test_parse_time_accepts_iso_and_refuses_the_rest() -> None:
    assert parse_time("2025-03-10T12:00:00Z") == NOW
    assert parse_time("2025-03-10T12:00:00") == NOW
    assert parse_time("") is None
    assert parse_time("yesterday") is None


def test_naive_now_means_utc() -> None:
    naive = NOW.replace(tzinfo=None)
    report = make_report(SEEN_NOW)
    history = PolicyHistory(declined_at={DEP: NOW - timedelta(hours=1)})
    assert decide(report, [], history, Config(), naive) == decide(report, [], history, Config(), NOW)


# --- invariants -------------------------------------------------------------------------------------------

CLASSES = [FailureClass.DEPENDENCY_MISSING, FailureClass.TIMEOUT, FailureClass.SCOPE_POLICY]
cluster_specs = st.lists(
    st.tuples(
        st.integers(0, 40),  # id number
        st.integers(1, 6),  # occurrences
        st.sampled_from(CLASSES),
        st.booleans(),  # systemic
        st.integers(0, 20),  # last seen, days ago
    ),
    max_size=12,
    unique_by=lambda spec: spec[0],
)
issue_specs = st.lists(
    st.tuples(
        st.integers(1, 60),  # issue number
        st.integers(0, 40),  # cluster id number
        st.sampled_from([("open", None), ("closed", "completed"), ("closed", "not_planned"), ("closed", None)]),
    ),
    max_size=12,
    unique_by=lambda spec: spec[0],
)


ClusterSpec = tuple[int, int, FailureClass, bool, int]


def build_clusters(specs: list[ClusterSpec]) -> list[Cluster]:
    return [
        make_cluster(f"x-{n:08x}", occ, cls, systemic=systemic, last_seen=NOW - timedelta(days=days))
        for n, occ, cls, systemic, days in specs
    ]


def build_issues(specs: list[tuple[int, int, tuple[str, str | None]]]) -> list[TrackedIssue]:
    return [
        make_issue(number, f"x-{n:08x}", state=state, reason=reason, closed_at=NOW - timedelta(days=7))
        for number, n, (state, reason) in specs
    ]


@settings(max_examples=60, deadline=None)
@given(cluster_specs, issue_specs, st.randoms(use_true_random=False), st.sampled_from(["issue", "notify-only"]))
def test_plan_does_not_depend_on_input_order(
    clusters: list[ClusterSpec],
    issues: list[tuple[int, int, tuple[str, str | None]]],
    shuffler: Any,
    mode: str,
) -> None:
    built, tracked = build_clusters(clusters), build_issues(issues)
    plan = plan_for(built, tracked, max_new_issues_per_run=2, mode=mode)
    shuffler.shuffle(built)
    shuffler.shuffle(tracked)
    assert plan_for(built, tracked, max_new_issues_per_run=2, mode=mode).to_json() == plan.to_json()
    assert sorted(a.cluster_id for a in plan.cluster_actions()) == sorted(c.id for c in built)
    assert plan.ledger_counts().created <= 2 + len(plan.special_actions())


@settings(max_examples=60, deadline=None)
@given(cluster_specs, issue_specs, st.integers(0, 4))
def test_never_a_second_issue_and_never_past_the_cap(
    clusters: list[ClusterSpec], issues: list[tuple[int, int, tuple[str, str | None]]], cap: int
) -> None:
    built, tracked = build_clusters(clusters), build_issues(issues)
    plan = plan_for(built, tracked, max_new_issues_per_run=cap)
    tracked_ids = {issue.cluster_id for issue in tracked}
    creates = [a for a in plan.cluster_actions() if a.action == "create"]
    assert not [a for a in creates if a.cluster_id in tracked_ids]
    assert len(creates) <= cap
    lowest = {cid: min(i.number for i in tracked if i.cluster_id == cid) for cid in tracked_ids}
    assert all(a.issue == lowest[a.cluster_id] for a in plan.cluster_actions() if a.cluster_id in lowest)


@settings(max_examples=40, deadline=None)
@given(cluster_specs)
def test_a_rerun_over_the_same_evidence_changes_nothing(
    clusters: list[ClusterSpec],
) -> None:
    built = build_clusters(clusters)
    report = make_report(*built)
    first = decide(report, [], PolicyHistory(), Config(), NOW)
    numbers = {action.cluster_id: index + 1 for index, action in enumerate(first.actions) if action.action != "skip"}
    tracked = [
        make_issue(number, None if cid in {"systemic", "rolling"} else cid, special=cid if cid == "systemic" else None)
        for cid, number in numbers.items()
    ]
    history = PolicyHistory(issues=numbers, digests=posted_digests(report, first))
    second = decide(report, tracked, history, Config(), NOW)
    assert {a.reason for a in second.actions if a.issue is not None} <= {"duplicate-unchanged", "systemic-merged"}
    capped = {a.cluster_id for a in first.actions if a.reason == "capped"}
    assert {a.cluster_id for a in second.actions if a.action == "create"} <= capped


# --- golden -----------------------------------------------------------------------------------------------


def mixed_scenario() -> tuple[list[Cluster], list[TrackedIssue], PolicyHistory]:
    """One cluster per lifecycle path, so the golden plan shows every rule side by side."""
    fresh = make_cluster("timeout-00000001", occurrences=3, failure_class=FailureClass.TIMEOUT)
    clusters = [
        fresh,
        make_cluster("scope-policy-00000002", occurrences=1, failure_class=FailureClass.SCOPE_POLICY),
        make_cluster("oom-00000003", occurrences=1, failure_class=FailureClass.OOM),
        make_cluster("timeout-00000004", occurrences=4, failure_class=FailureClass.TIMEOUT),
        make_cluster("timeout-00000005", occurrences=2, failure_class=FailureClass.TIMEOUT),
        make_cluster("unknown-00000006", occurrences=2, failure_class=FailureClass.UNKNOWN),
        make_cluster("timeout-00000007", occurrences=2, failure_class=FailureClass.TIMEOUT),
        make_cluster("timeout-00000008", occurrences=2, failure_class=FailureClass.TIMEOUT),
        make_cluster("infra-tooling-00000009", occurrences=30, failure_class=FailureClass.INFRA_TOOLING, systemic=True),
        make_cluster("infra-tooling-0000000a", occurrences=12, failure_class=FailureClass.INFRA_TOOLING, systemic=True),
        make_cluster("timeout-0000000b", occurrences=2, failure_class=FailureClass.TIMEOUT),
        make_cluster("timeout-0000000c", occurrences=1, failure_class=FailureClass.TIMEOUT),
    ]
    tracked = [
        make_issue(10, "timeout-00000004"),
        make_issue(11, "timeout-00000005"),
        make_issue(12, "unknown-00000006", state="closed", reason="not_planned", closed_at=CLOSED_LONG_AGO),
        make_issue(13, "timeout-00000007", state="closed", reason="completed", closed_at=CLOSED_LONG_AGO),
    ]
    history = PolicyHistory(
        digests={"timeout-00000005": evidence_digest(clusters[4])},
        declined_at={"timeout-00000008": NOW - timedelta(hours=2)},
    )
    return clusters, tracked, history


@pytest.mark.parametrize("mode", ["issue", "notify-only"])
def test_golden_mixed_plan(mode: str) -> None:
    clusters, tracked, history = mixed_scenario()
    plan = plan_for(clusters, tracked, history, mode=mode, max_new_issues_per_run=2, mute=["^oom-"])
    text = json.dumps(json.loads(plan.to_json()), indent=1) + "\n"
    assert_golden(f"policy/mixed_plan_{mode}.json", text)
