"""LocalForge specifics: persistence, the state machine, permissions and counting (the contract is shared)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_harness.config import Permission
from trace_harness.errors import ForgeConflict, ForgeNotFound
from trace_harness.forge.base import LabelSpec, TrackedIssue
from trace_harness.forge.local import MAX_BODY_CHARS, LocalForge
from trace_harness.identity import cluster_label, cluster_marker
from trace_harness.testing.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def forge(tmp_path: Path, clock: FakeClock) -> LocalForge:
    return LocalForge(tmp_path / "state" / "forge.sqlite", clock=clock, local_user="me")


def test_issues_persist_across_instances(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "forge.sqlite"
    with LocalForge(path, clock=clock, local_user="me") as first:
        created = first.create_issue("t", cluster_marker("oom-0badcafe"), ["trace-harness"])
    with LocalForge(path, clock=clock, local_user="me") as second:
        assert second.tracked_issues() == [created]


def test_numbers_increase_and_timestamps_follow_the_clock(forge: LocalForge, clock: FakeClock) -> None:
    first = forge.create_issue("a", "", ["trace-harness"])
    clock.advance(60)
    second = forge.create_issue("b", "", ["trace-harness"])
    assert second.number == first.number + 1
    assert (second.created_at - first.created_at).total_seconds() == 60


def test_close_then_reopen_follows_github_state_machine(forge: LocalForge, clock: FakeClock) -> None:
    issue = forge.create_issue("t", "", ["trace-harness"])
    clock.advance(5)
    closed = forge.update_issue(issue.number, state="closed")
    assert (closed.state, closed.state_reason, closed.closed_at) == ("closed", "completed", clock())
    reopened = forge.update_issue(issue.number, state="open")
    assert (reopened.state, reopened.state_reason, reopened.closed_at) == ("open", "reopened", None)


def test_labels_given_on_create_are_created(forge: LocalForge) -> None:
    forge.create_issue("t", "", ["trace-harness", cluster_label("oom-0badcafe")])
    assert {spec.name for spec in forge.labels()} == {"trace-harness", "trace-harness:oom-0badcafe"}


def test_ensure_labels_updates_colour_and_description(forge: LocalForge) -> None:
    forge.ensure_labels([LabelSpec(name="trace-harness", color="AABBCC", description="old")])
    forge.ensure_labels([LabelSpec(name="trace-harness", color="112233", description="new")])
    assert forge.labels() == [LabelSpec(name="trace-harness", color="112233", description="new")]


def test_permissions_default_to_local_admin_only(forge: LocalForge) -> None:
    assert forge.permission("me") is Permission.ADMIN
    assert forge.permission("stranger") is Permission.NONE
    forge.set_permission("helper", Permission.TRIAGE)
    assert forge.permission("helper") is Permission.TRIAGE


def test_comments_by_others_are_listed_with_their_author(forge: LocalForge) -> None:
    issue = forge.create_issue("t", "", ["trace-harness"])
    forge.add_comment_as(issue.number, "maintainer", "/trace-harness approve")
    [comment] = forge.list_comments(issue.number)
    assert (comment.user, comment.body, comment.author_association) == ("maintainer", "/trace-harness approve", "NONE")


def test_oversized_body_is_refused(forge: LocalForge) -> None:
    with pytest.raises(ForgeConflict, match="too long"):
        forge.create_issue("t", "x" * (MAX_BODY_CHARS + 1), ["trace-harness"])
    assert forge.tracked_issues() == []


def test_comment_on_missing_issue_is_not_found(forge: LocalForge) -> None:
    with pytest.raises(ForgeNotFound):
        forge.comment(404, "hello")


def test_each_operation_counts_one_request(forge: LocalForge) -> None:
    issue = forge.create_issue("t", "", ["trace-harness"])
    forge.comment(issue.number, "c")
    forge.tracked_issues()
    forge.is_public()  # answered without a request
    assert forge.requests_made == 3


def test_url_points_at_the_database(forge: LocalForge) -> None:
    issue = forge.create_issue("t", "", ["trace-harness"])
    assert issue.url.startswith("file://") and issue.url.endswith(f"#issue-{issue.number}")


_STATES = st.lists(st.sampled_from(["open", "closed"]), min_size=1, max_size=8)


@settings(max_examples=30, deadline=None)
@given(_STATES)
def test_closed_at_is_set_exactly_when_closed(states: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, LocalForge(Path(tmp) / "f.sqlite", local_user="me") as forge:
        number = forge.create_issue("t", "", ["trace-harness"]).number
        for state in states:
            issue: TrackedIssue = forge.update_issue(number, state=state)  # type: ignore[arg-type]
            assert issue.state == state
            assert (issue.closed_at is not None) == (state == "closed")
