import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from trace_harness.plan import (
    PLAN_SCHEMA,
    CreateIssue,
    CreateReason,
    Plan,
    Reopen,
    Skip,
    SkipReason,
    SpecialIssue,
    UpdateIssue,
)
from trace_harness.taxonomy import Severity

DESIGN_KEYS = ["action", "cluster_id", "issue", "reason", "occurrences", "severity"]


def sample_actions() -> list[CreateIssue | UpdateIssue | Reopen | Skip]:
    return [
        Skip(cluster_id="timeout-0000000b", issue=None, reason=SkipReason.SYSTEMIC_MERGED, occurrences=4),
        CreateIssue(cluster_id="oom-0000000a", reason=CreateReason.SEVERE, occurrences=1, severity=Severity.SEVERE),
        UpdateIssue(cluster_id="runner-timeout", issue=12, occurrences=3),
        Reopen(cluster_id="dependency-missing-0000000c", issue=4, occurrences=2),
        CreateIssue(cluster_id="systemic", reason=CreateReason.RECURRING, occurrences=4, special=True),
        Skip(cluster_id="validation-failure-0000000d", issue=9, reason=SkipReason.MUTED, occurrences=7),
    ]


def test_json_has_the_design_shape_and_key_order() -> None:
    data = json.loads(Plan.of(sample_actions()).to_json())
    assert list(data) == ["schema", "actions"]
    assert data["schema"] == PLAN_SCHEMA == "trace-harness-plan/v1"
    cluster_entries = [entry for entry in data["actions"] if entry["cluster_id"] != "systemic"]
    assert all(list(entry) == DESIGN_KEYS for entry in cluster_entries)
    special = next(entry for entry in data["actions"] if entry["cluster_id"] == "systemic")
    assert list(special) == [*DESIGN_KEYS, "special"]
    assert special["special"] is True


def test_json_values_are_plain() -> None:
    data = json.loads(Plan.of(sample_actions()).to_json())
    update = next(entry for entry in data["actions"] if entry["action"] == "update")
    assert update == {
        "action": "update",
        "cluster_id": "runner-timeout",
        "issue": 12,
        "reason": "new-evidence",
        "occurrences": 3,
        "severity": "normal",
    }
    create = next(entry for entry in data["actions"] if entry["cluster_id"] == "oom-0000000a")
    assert create["issue"] is None
    assert create["severity"] == "severe"


def test_json_round_trips_through_the_discriminated_union() -> None:
    plan = Plan.of(sample_actions())
    again = Plan.model_validate_json(plan.to_json())
    assert again == plan
    assert [type(action) for action in again.actions] == [type(action) for action in plan.actions]


def test_canonical_order_is_specials_then_cluster_ids() -> None:
    ids = [action.cluster_id for action in Plan.of(sample_actions()).actions]
    assert ids[0] == "systemic"
    assert ids[1:] == sorted(ids[1:])


@given(st.permutations(sample_actions()))
def test_order_of_input_does_not_matter(actions: list[CreateIssue | UpdateIssue | Reopen | Skip]) -> None:
    assert Plan.of(actions).to_json() == Plan.of(sample_actions()).to_json()


@pytest.mark.parametrize(
    "entry",
    [
        {"action": "create", "cluster_id": "a-1", "issue": None, "reason": "muted", "occurrences": 1},
        {"action": "update", "cluster_id": "a-1", "issue": None, "reason": "new-evidence", "occurrences": 1},
        {"action": "create", "cluster_id": "a-1", "issue": 3, "reason": "recurring", "occurrences": 1},
        {"action": "reopen", "cluster_id": "a-1", "issue": 3, "reason": "new-evidence", "occurrences": 1},
        {"action": "skip", "cluster_id": "a-1", "issue": None, "reason": "regressed", "occurrences": 1},
        {"action": "close", "cluster_id": "a-1", "issue": 3, "reason": "recurring", "occurrences": 1},
        {"action": "skip", "cluster_id": "systemic", "issue": None, "reason": "muted", "occurrences": 1},
        {"action": "skip", "cluster_id": "a-1", "issue": None, "reason": "muted", "occurrences": 1, "special": True},
        {"action": "skip", "cluster_id": "a-1", "issue": 0, "reason": "muted", "occurrences": 1},
    ],
)
def test_invalid_actions_are_refused(entry: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Plan.model_validate({"schema": PLAN_SCHEMA, "actions": [entry]})


def test_one_action_per_cluster() -> None:
    twice = [
        Skip(cluster_id="a-1", reason=SkipReason.MUTED, occurrences=1),
        CreateIssue(cluster_id="a-1", reason=CreateReason.RECURRING, occurrences=2),
    ]
    with pytest.raises(ValidationError, match="more than one action for: a-1"):
        Plan.of(twice)


def test_wrong_schema_is_refused() -> None:
    with pytest.raises(ValidationError):
        Plan.model_validate({"schema": "trace-harness-plan/v2", "actions": []})


def test_ledger_counts() -> None:
    counts = Plan.of(sample_actions()).ledger_counts()
    assert counts.seen == 5  # the special systemic action is not a report cluster
    assert (counts.created, counts.updated, counts.reopened) == (2, 1, 1)
    assert counts.skipped == {"muted": 1, "systemic-merged": 1}


def test_counts_by_action_and_reason() -> None:
    plan = Plan.of(sample_actions())
    assert plan.count_by_action() == {"create": 2, "reopen": 1, "skip": 2, "update": 1}
    assert sum(plan.count_by_reason().values()) == len(plan.actions)
    assert plan.count_by_reason()["create:severe"] == 1


def test_members_of_special_issues() -> None:
    plan = Plan.of(sample_actions())
    assert plan.members(SpecialIssue.SYSTEMIC) == ("timeout-0000000b",)
    assert plan.members(SpecialIssue.ROLLING) == ()
    assert [a.cluster_id for a in plan.special_actions()] == ["systemic"]
    assert plan.action_for("runner-timeout") == UpdateIssue(cluster_id="runner-timeout", issue=12, occurrences=3)
    assert plan.action_for("absent-00000000") is None


def test_empty_plan() -> None:
    plan = Plan()
    assert json.loads(plan.to_json()) == {"schema": PLAN_SCHEMA, "actions": []}
    assert plan.ledger_counts().seen == 0
