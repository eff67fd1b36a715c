"""One behavioural contract, run against every Forge implementation (LocalForge and GitHubForge on the fake)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forge_backends import BACKENDS, Backend
from trace_harness.config import Permission
from trace_harness.errors import ForgeNotFound
from trace_harness.forge.base import Forge, LabelSpec, TrackedIssue
from trace_harness.identity import cluster_label, cluster_marker, special_marker
from trace_harness.testing.clock import FakeClock

CID = "dependency-missing-3fa9c1d2"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with request.param(tmp_path, FakeClock()) as made:
        yield made


def _create(forge: Forge, cid: str = CID, **kw: Any) -> TrackedIssue:
    body = kw.pop("body", f"{cluster_marker(cid)}\nbody")
    return forge.create_issue(kw.pop("title", "title"), body, kw.pop("labels", ["trace-harness", cluster_label(cid)]))


def test_created_issue_is_tracked_with_its_cluster_id(backend: Backend) -> None:
    created = _create(backend.forge)
    assert (created.state, created.cluster_id, created.special) == ("open", CID, None)
    assert backend.forge.tracked_issues() == [created]


def test_untracked_issue_is_not_listed_but_found_by_number(backend: Backend) -> None:
    issue = _create(backend.forge, labels=["bug"])
    assert backend.forge.tracked_issues() == []
    assert backend.forge.get_issue(issue.number) == issue


def test_missing_issue_is_none(backend: Backend) -> None:
    assert backend.forge.get_issue(999) is None


def test_marker_wins_over_label_and_label_is_the_fallback(backend: Backend) -> None:
    marked = _create(backend.forge, labels=["trace-harness", cluster_label("oom-00000000")])
    unmarked = _create(backend.forge, "x", body="edited away", labels=["trace-harness", cluster_label("oom-11111111")])
    assert (marked.cluster_id, unmarked.cluster_id) == (CID, "oom-11111111")


def test_special_issue_carries_its_name(backend: Backend) -> None:
    issue = _create(backend.forge, body=special_marker("dashboard"), labels=["trace-harness"])
    assert (issue.special, issue.cluster_id) == ("dashboard", None)


def test_update_body_and_labels(backend: Backend) -> None:
    issue = _create(backend.forge)
    labels = ["trace-harness", cluster_label(CID), "trace-harness:approved"]
    updated = backend.forge.update_issue(issue.number, body="new body", labels=labels)
    assert (updated.body, set(updated.labels)) == ("new body", set(labels))
    assert updated.cluster_id == CID  # the label still names it


def test_close_not_planned_and_reopen(backend: Backend) -> None:
    issue = _create(backend.forge)
    closed = backend.forge.update_issue(issue.number, state="closed", state_reason="not_planned")
    assert (closed.state, closed.state_reason) == ("closed", "not_planned")
    assert closed.closed_at is not None
    reopened = backend.forge.update_issue(issue.number, state="open")
    assert (reopened.state, reopened.state_reason, reopened.closed_at) == ("open", "reopened", None)


def test_closed_issues_stay_tracked(backend: Backend) -> None:
    issue = _create(backend.forge)
    backend.forge.update_issue(issue.number, state="closed")
    assert [i.state for i in backend.forge.tracked_issues()] == ["closed"]


def test_update_missing_issue_raises_not_found(backend: Backend) -> None:
    with pytest.raises(ForgeNotFound):
        backend.forge.update_issue(999, body="x")


def test_comments_count_and_since_filter(backend: Backend) -> None:
    issue = _create(backend.forge)
    backend.forge.comment(issue.number, "first")
    backend.clock.advance(3600)
    cutoff = backend.clock()
    backend.forge.comment(issue.number, "second")
    assert [c.body for c in backend.forge.list_comments(issue.number)] == ["first", "second"]
    assert [c.body for c in backend.forge.list_comments(issue.number, since=cutoff)] == ["second"]
    refreshed = backend.forge.get_issue(issue.number)
    assert refreshed is not None and refreshed.comments == 2


def test_ensure_labels_creates_then_updates(backend: Backend) -> None:
    backend.forge.ensure_labels([LabelSpec(name="trace-harness", color="aabbcc", description="tracked")])
    backend.forge.ensure_labels(
        [
            LabelSpec(name="trace-harness", color="112233", description="changed"),
            LabelSpec(name="trace-harness:approved", color="00ff00", description=""),
        ]
    )
    assert backend.labels() == {"trace-harness": ("112233", "changed"), "trace-harness:approved": ("00ff00", "")}


@pytest.mark.parametrize("role", [Permission.MAINTAIN, Permission.TRIAGE, Permission.WRITE, Permission.READ])
def test_permission_tells_roles_apart(backend: Backend, role: Permission) -> None:
    backend.grant("octo", role)
    assert backend.forge.permission("octo") is role


def test_dispatch_is_recorded(backend: Backend) -> None:
    backend.forge.dispatch("trace-harness.yml", "main", {"mode": "issue"})
    assert backend.dispatches() == [("trace-harness.yml", "main", {"mode": "issue"})]


def test_requests_are_counted(backend: Backend) -> None:
    before = backend.forge.requests_made
    issue = _create(backend.forge)
    backend.forge.comment(issue.number, "c")
    assert backend.forge.requests_made - before >= 2


def test_timestamps_are_timezone_aware(backend: Backend) -> None:
    issue = _create(backend.forge)
    assert issue.created_at.utcoffset() == timedelta(0)


@given(st.sampled_from(["oom-00000000", "timeout-deadbeef"]), st.sampled_from(["oom-11111111", "runner-timeout"]))
def test_build_prefers_marker(marker_id: str, label_id: str) -> None:
    issue = TrackedIssue.build(
        body=f"intro\n{cluster_marker(marker_id)}",
        labels=["trace-harness", cluster_label(label_id)],
        number=1,
        title="t",
        state="open",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
    )
    assert issue.cluster_id == marker_id
