"""The driver against the local forge: create, update, skip, reopen, twins, crash repair, rejections."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from driver_support import START, cluster, ledger_run_ids, make_driver, open_issues_by_cluster, report
from trace_harness.bounds import MAX_BODY_CHARS
from trace_harness.config import Config
from trace_harness.errors import ForgeError, ForgeOutcomeUnknown, InputFormatError
from trace_harness.forge.base import Forge, TrackedIssue
from trace_harness.forge.github import GitHubForge
from trace_harness.forge.local import LocalForge
from trace_harness.identity import cluster_marker
from trace_harness.ledger import parse_lines
from trace_harness.models import Report
from trace_harness.state import ISSUES, DirectoryStore
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub

A, B = "validation-failure-0000000a", "validation-failure-0000000b"


@pytest.fixture(params=["local", "github"])
def forge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Forge]:
    """The same scenarios on the local forge and on the GitHub adapter against the fake GitHub."""
    if request.param == "local":
        with LocalForge(tmp_path / "forge.sqlite", clock=FakeClock()) as local:
            yield local
        return
    clock = FakeClock()
    with FakeGitHub("octo/demo", clock=clock):
        yield GitHubForge("octo/demo", "t", clock=clock, sleep=clock.sleep, throttle=False)


def _run(forge: Forge, state: Path, rep: Report, **kwargs: object) -> tuple[dict[str, str], int]:
    result = make_driver(forge, state, **kwargs).run(lambda: rep)  # type: ignore[arg-type]
    return {o.cluster_id: o.result for o in result.outcomes}, result.exit_code


def _comments(forge: Forge, number: int) -> int:
    return len(forge.list_comments(number))


def test_first_run_creates_then_second_run_skips(forge: Forge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    rep = report(cluster(A), cluster(B, occurrences=1))
    results, code = _run(forge, state, rep)
    assert (results, code) == ({A: "created", B: "skipped"}, 0)
    (issue,) = forge.tracked_issues()
    assert issue.body.splitlines()[0] == cluster_marker(A)
    assert set(issue.labels) == {"trace-harness", f"trace-harness:{A}"}
    results, _ = _run(forge, state, rep)
    assert results == {A: "skipped", B: "skipped"}
    assert _comments(forge, issue.number) == 0
    lines = parse_lines(DirectoryStore(state).ledger_text())
    assert [line.counts.created for line in lines] == [1, 0]
    assert lines[1].counts.skipped == {"below-threshold": 1, "duplicate-unchanged": 1}


def test_new_evidence_updates_in_place_with_one_comment(forge: Forge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    _run(forge, state, report(cluster(A)))
    results, _ = _run(forge, state, report(cluster(A, 5, refs=("logs/a.log:10", "logs/b.log:3"))))
    assert results == {A: "updated"}
    (issue,) = forge.tracked_issues()
    assert "| 5 |" in issue.body
    assert _comments(forge, issue.number) == 1
    _run(forge, state, report(cluster(A, 5, refs=("logs/a.log:10", "logs/b.log:3"))))
    assert _comments(forge, issue.number) == 1  # unchanged evidence: no second comment


def test_regression_after_completed_close_reopens(forge: Forge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    _run(forge, state, report(cluster(A)))
    (issue,) = forge.tracked_issues()
    forge.update_issue(issue.number, state="closed", state_reason="completed")  # forge clock: 2026-01-01
    results, _ = _run(forge, state, report(cluster(A, 3, last_seen="2026-01-09T00:00:00+00:00")))
    assert results == {A: "reopened"}
    reopened = forge.get_issue(issue.number)
    assert reopened is not None and reopened.state == "open"
    assert "**regressed**" in forge.list_comments(issue.number)[-1].body


def test_twins_from_overlapping_runs_keep_the_lowest(forge: Forge, tmp_path: Path) -> None:
    state_one, state_two = tmp_path / "one", tmp_path / "two"
    _run(forge, state_one, report(cluster(A)))
    body = forge.tracked_issues()[0].body
    twin = forge.create_issue("twin", body, ["trace-harness", f"trace-harness:{A}"])
    _run(forge, state_two, report(cluster(A)))
    assert open_issues_by_cluster(forge) == {A: [1]}
    closed = forge.get_issue(twin.number)
    assert closed is not None and closed.state_reason == "duplicate"
    assert "Duplicate of #1" in forge.list_comments(twin.number)[0].body


def test_crash_after_create_is_adopted_without_a_second_issue(forge: Forge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    _run(forge, state, report(cluster(A)))
    (state / ISSUES).unlink()  # the crash: issue created, state never written
    results, _ = _run(forge, state, report(cluster(A)))
    assert results == {A: "skipped"}
    assert open_issues_by_cluster(forge) == {A: [1]}
    assert _comments(forge, 1) == 0  # the posted digest was read back from the body
    assert DirectoryStore(state).issue_map().clusters[A].issue == 1


@pytest.mark.parametrize("edit", ["labels", "marker", "both"])
def test_edited_marker_or_labels_never_file_a_second_issue(forge: Forge, tmp_path: Path, edit: str) -> None:
    state = tmp_path / "state"
    _run(forge, state, report(cluster(A)))
    body = "edited by a human" if edit in ("marker", "both") else None
    labels = ["bug"] if edit in ("labels", "both") else None
    forge.update_issue(1, body=body, labels=labels)
    _run(forge, state, report(cluster(A, 4, refs=("logs/c.log:1",))))
    _run(forge, state, report(cluster(A, 4, refs=("logs/c.log:1",))))
    assert [issue.number for issue in _all_issues(forge)] == [1]
    assert _comments(forge, 1) == 1  # the new evidence reached the edited issue, once


def _all_issues(forge: Forge) -> Sequence[TrackedIssue]:
    found = [forge.get_issue(number) for number in range(1, 10)]
    return [issue for issue in found if issue is not None]


def test_rejection_is_remembered_even_without_labels(forge: Forge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    _run(forge, state, report(cluster(A)))
    forge.update_issue(1, labels=[], state="closed", state_reason="not_planned")
    results, _ = _run(forge, state, report(cluster(A, 9, refs=("logs/new.log:1",))))
    assert results == {A: "skipped"}
    assert len(_all_issues(forge)) == 1
    assert DirectoryStore(state).issue_map().clusters[A].rejected_at is not None


def test_dry_run_writes_nothing(forge: Forge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = make_driver(forge, state).run(lambda: report(cluster(A)), dry_run=True)
    assert result.plan is not None and result.plan.actions[0].action == "create"
    assert forge.tracked_issues() == []
    assert not state.exists()


def test_public_repository_gets_no_raw_excerpts(forge: Forge, tmp_path: Path) -> None:
    driver = make_driver(forge, tmp_path / "s")
    driver.public = True
    driver.run(lambda: report(cluster(A, excerpt="SECRET-LOOKING EXCERPT")))
    body = forge.tracked_issues()[0].body
    assert "SECRET-LOOKING EXCERPT" not in body
    assert "logs/a.log:10" in body


def test_bodies_are_bounded_and_redacted(forge: Forge, tmp_path: Path) -> None:
    token = "ghp_1234567890abcdefghij1234567890abcdef"
    make_driver(forge, tmp_path / "s").run(lambda: report(cluster(A, excerpt=f"{token} " + "y" * 100_000)))
    body = forge.tracked_issues()[0].body
    assert len(body) <= MAX_BODY_CHARS and token not in body
    assert body.splitlines()[0] == cluster_marker(A)


def test_ledger_is_written_when_the_report_fails(forge: Forge, tmp_path: Path) -> None:
    def broken() -> Report:
        raise InputFormatError("not a report")

    result = make_driver(forge, tmp_path / "s").run(broken)
    assert result.exit_code == 2
    (line,) = parse_lines(DirectoryStore(tmp_path / "s").ledger_text())
    assert line.exit_code == 2 and "not a report" in line.errors[0]


class FlakyCreate(LocalForge):
    """Applies the create, then loses the response (or fails outright)."""

    mode = "lost"

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> TrackedIssue:
        if self.mode == "fail":
            raise ForgeError("503 after retries")
        super().create_issue(title, body, labels)
        raise ForgeOutcomeUnknown("connection reset after send")


def test_ambiguous_create_is_adopted_not_resent(tmp_path: Path) -> None:
    with FlakyCreate(tmp_path / "f.sqlite", clock=FakeClock()) as flaky:
        result = make_driver(flaky, tmp_path / "s").run(lambda: report(cluster(A)))
        assert [o.result for o in result.outcomes] == ["adopted"]
        assert result.exit_code == 0
        assert open_issues_by_cluster(flaky) == {A: [1]}
        assert DirectoryStore(tmp_path / "s").issue_map().clusters[A].issue == 1


def test_failed_create_exits_one_and_is_ledgered(tmp_path: Path) -> None:
    with FlakyCreate(tmp_path / "f.sqlite", clock=FakeClock()) as flaky:
        flaky.mode = "fail"
        result = make_driver(flaky, tmp_path / "s").run(lambda: report(cluster(A)))
    assert result.exit_code == 1
    assert ledger_run_ids(tmp_path / "s") == [result.ledger.run_id]
    assert json.loads(result.ledger.to_json())["exit_code"] == 1


def test_capped_creates_are_skipped(forge: Forge, tmp_path: Path) -> None:
    config = Config(max_new_issues_per_run=1)
    results, _ = _run(forge, tmp_path / "s", report(cluster(A, 3), cluster(B, 2)), config=config)
    assert results == {A: "created", B: "skipped"}
    line = parse_lines(DirectoryStore(tmp_path / "s").ledger_text())[0]
    assert line.counts.skipped == {"capped": 1} and line.finished_at.startswith(START.date().isoformat())


def test_notify_only_with_a_systemic_cluster_is_quiet_on_the_second_run(forge: Forge, tmp_path: Path) -> None:
    """The rolling issue holds the systemic issue; its digest must be the policy's, or it updates every run."""
    state, config = tmp_path / "s", Config(mode="notify-only")
    rep = report(cluster(A).model_copy(update={"systemic": True}), cluster(B, 3))
    first = make_driver(forge, state, config).run(lambda: rep)
    assert {o.cluster_id: o.result for o in first.outcomes if o.action != "skip"} == {"rolling": "created"}
    (rolling,) = [issue for issue in forge.tracked_issues() if issue.special == "rolling"]
    assert A in rolling.body and B in rolling.body  # the systemic member is expanded into its clusters
    second = make_driver(forge, state, config).run(lambda: rep)
    assert [o.action for o in second.outcomes] == ["skip"] * len(second.outcomes)
    assert {o.cluster_id: o.reason for o in second.outcomes}["rolling"] == "duplicate-unchanged"
    assert second.ledger.counts.updated == 0 and _comments(forge, rolling.number) == 0


def test_tracking_body_is_rendered_with_run_link_and_digest(forge: Forge, tmp_path: Path) -> None:
    driver = make_driver(forge, tmp_path / "s")
    driver.run_url = "https://github.com/octo/demo/actions/runs/42"
    driver.run(lambda: report(cluster(A, 3)))
    body = forge.tracked_issues()[0].body
    lines = body.splitlines()
    assert lines[0] == cluster_marker(A) and lines[-1].startswith("<!-- trace-harness:digest=")
    assert "## Summary" in body and "| Independent occurrences | 3 |" in body
    assert "| Reported by | https://github.com/octo/demo/actions/runs/42 |" in body
    assert "Redacted excerpts" in body  # private repository: excerpts shown


def test_templates_override_the_bundled_ones(forge: Forge, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "issue.md.j2").write_text("Custom proposal for {{ cluster.id }}\n")
    make_driver(forge, tmp_path / "s", Config(templates=templates)).run(lambda: report(cluster(A)))
    body = forge.tracked_issues()[0].body
    assert f"Custom proposal for {A}" in body and "## Summary" not in body


def test_digest_line_keeps_the_body_within_the_bound() -> None:
    from trace_harness.bodies import with_digest

    body = with_digest("x\n" * (MAX_BODY_CHARS // 2), "ab" * 8)
    assert len(body) <= MAX_BODY_CHARS and body.endswith(f"<!-- trace-harness:digest={'ab' * 8} -->\n")


@pytest.mark.parametrize("mode", ["issue", "draft-pr"])
def test_draft_pr_mode_dispatches_the_follow_through_once(tmp_path: Path, mode: str) -> None:
    config = Config.model_validate({"mode": mode, "follow_through": {"workflow": "fix.yml", "ref": "trunk"}})
    with LocalForge(tmp_path / "forge.sqlite", clock=FakeClock()) as local:
        rep = report(cluster(A), cluster(B, occurrences=1))
        results, code = _run(local, tmp_path / "state", rep, config=config)
        _run(local, tmp_path / "state", rep, config=config)
        (issue,) = local.tracked_issues()
        expected = [("fix.yml", "trunk", {"cluster_id": A, "issue": str(issue.number)})] if mode == "draft-pr" else []
        assert (results[A], code) == ("created", 0)
        assert local.dispatches() == expected
