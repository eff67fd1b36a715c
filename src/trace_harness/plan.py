"""The plan: what the policy decided for each cluster, before anything is posted.

A plan holds exactly one action per report cluster, plus at most one action per *special* issue:

- ``systemic``: the one systemic-failure issue that every cluster flagged ``systemic`` is merged into
  (each member gets a ``skip`` with reason ``systemic-merged``);
- ``rolling``: the one rolling issue of ``notify-only`` mode (each would-be action gets a ``skip`` with
  reason ``notify-only``).

Special actions reuse the reserved name as their ``cluster_id`` (reserved names are never cluster ids, so
they cannot collide) and carry ``special: true``. That flag is serialized only when true, so a cluster
action's JSON is exactly the design's shape::

    {"action", "cluster_id", "issue", "reason", "occurrences", "severity"}

Which clusters a special issue covers is derived from the plan itself (``Plan.members``), not stored
twice. The models are frozen; the JSON is the contract ``trace-harness-plan/v1``.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from .taxonomy import Severity

PLAN_SCHEMA: Literal["trace-harness-plan/v1"] = "trace-harness-plan/v1"


class SpecialIssue(StrEnum):
    """The special issues a plan can act on; each value is a reserved name."""

    SYSTEMIC = "systemic"
    ROLLING = "rolling"


class CreateReason(StrEnum):
    RECURRING = "recurring"
    SEVERE = "severe"


class UpdateReason(StrEnum):
    NEW_EVIDENCE = "new-evidence"


class ReopenReason(StrEnum):
    REGRESSED = "regressed"


class SkipReason(StrEnum):
    DUPLICATE_UNCHANGED = "duplicate-unchanged"
    BELOW_THRESHOLD = "below-threshold"
    REJECTED = "rejected"
    MUTED = "muted"
    CAPPED = "capped"
    COOLDOWN = "cooldown"
    NOTIFY_ONLY = "notify-only"
    SYSTEMIC_MERGED = "systemic-merged"


# Which special issue collects the clusters skipped for a given reason.
MERGE_REASONS: dict[SpecialIssue, SkipReason] = {
    SpecialIssue.SYSTEMIC: SkipReason.SYSTEMIC_MERGED,
    SpecialIssue.ROLLING: SkipReason.NOTIFY_ONLY,
}


ACTION_KEYS = ("action", "cluster_id", "issue", "reason", "occurrences", "severity")
_SPECIAL_NAMES = frozenset(special.value for special in SpecialIssue)


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_id: str = Field(min_length=1)
    issue: int | None = Field(None, ge=1)
    occurrences: int = Field(ge=0)
    severity: Severity = Severity.NORMAL
    special: bool = False

    @model_serializer(mode="wrap")
    def _design_key_order(self, handler: Any) -> dict[str, Any]:
        """Keys in the design's order; ``special`` only when true."""
        data: dict[str, Any] = handler(self)
        ordered = {key: data[key] for key in ACTION_KEYS}
        return {**ordered, "special": True} if self.special else ordered

    @model_validator(mode="after")
    def _special_names_are_reserved(self) -> _Action:
        if self.special != (self.cluster_id in _SPECIAL_NAMES):
            raise ValueError(f"special must be true exactly for {[s.value for s in SpecialIssue]}")
        return self


class CreateIssue(_Action):
    action: Literal["create"] = "create"
    reason: CreateReason
    issue: None = None


class UpdateIssue(_Action):
    action: Literal["update"] = "update"
    reason: UpdateReason = UpdateReason.NEW_EVIDENCE
    issue: int = Field(ge=1)


class Reopen(_Action):
    action: Literal["reopen"] = "reopen"
    reason: ReopenReason = ReopenReason.REGRESSED
    issue: int = Field(ge=1)


class Skip(_Action):
    action: Literal["skip"] = "skip"
    reason: SkipReason


Action = Annotated[CreateIssue | UpdateIssue | Reopen | Skip, Field(discriminator="action")]


def action_sort_key(action: CreateIssue | UpdateIssue | Reopen | Skip) -> tuple[bool, str]:
    """Special issues first, then clusters by id: a total order, since ids are unique in a plan."""
    return (not action.special, action.cluster_id)


class LedgerCounts(BaseModel):
    """The ``counts`` object of a ledger line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seen: int
    created: int
    updated: int
    reopened: int
    skipped: dict[str, int]


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, serialize_by_alias=True)

    schema_: Literal["trace-harness-plan/v1"] = Field(PLAN_SCHEMA, alias="schema")
    actions: tuple[Action, ...] = ()

    @model_validator(mode="after")
    def _one_action_per_cluster(self) -> Plan:
        ids = Counter(action.cluster_id for action in self.actions)
        repeated = sorted(cluster_id for cluster_id, count in ids.items() if count > 1)
        if repeated:
            raise ValueError(f"more than one action for: {', '.join(repeated)}")
        return self

    @classmethod
    def of(cls, actions: list[CreateIssue | UpdateIssue | Reopen | Skip]) -> Plan:
        """A plan with its actions in the canonical order."""
        return cls(actions=tuple(sorted(actions, key=action_sort_key)))

    def to_json(self) -> str:
        return self.model_dump_json()

    def action_for(self, cluster_id: str) -> CreateIssue | UpdateIssue | Reopen | Skip | None:
        return next((a for a in self.actions if a.cluster_id == cluster_id), None)

    def cluster_actions(self) -> tuple[CreateIssue | UpdateIssue | Reopen | Skip, ...]:
        return tuple(a for a in self.actions if not a.special)

    def special_actions(self) -> tuple[CreateIssue | UpdateIssue | Reopen | Skip, ...]:
        return tuple(a for a in self.actions if a.special)

    def members(self, special: SpecialIssue) -> tuple[str, ...]:
        """The ids a special issue covers: the actions skipped into it, in plan order."""
        reason = MERGE_REASONS[special]
        return tuple(a.cluster_id for a in self.actions if a.action == "skip" and a.reason == reason)

    def count_by_action(self) -> dict[str, int]:
        return dict(sorted(Counter(a.action for a in self.actions).items()))

    def count_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(f"{a.action}:{a.reason}" for a in self.actions).items()))

    def ledger_counts(self) -> LedgerCounts:
        """Ledger ``counts``: ``seen`` counts report clusters; writes count special issues too."""
        by_action = Counter(a.action for a in self.actions)
        skipped = Counter(str(a.reason) for a in self.actions if a.action == "skip")
        return LedgerCounts(
            seen=len(self.cluster_actions()),
            created=by_action["create"],
            updated=by_action["update"],
            reopened=by_action["reopen"],
            skipped=dict(sorted(skipped.items())),
        )
