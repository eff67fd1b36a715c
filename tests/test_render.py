from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_files import assert_golden
from trace_harness.bounds import MAX_BODY_CHARS
from trace_harness.identity import marker_cluster_id
from trace_harness.models import Affected, Cluster, EvidenceEntry
from trace_harness.render import (
    change_comment,
    fenced,
    issue_title,
    md_code,
    render_draft_pr,
    render_issue,
    special_body,
    tracking_body,
)
from trace_harness.taxonomy import CLASS_INFO, FailureClass

REPORT_REF = "trace-harness-report/v3; inputs: worker_log `logs/worker.log` sha256:0123456789ab bytes:2048"


def make_cluster(
    evidence_count: int = 2,
    ids_per_key: int = 2,
    excerpt: str = "2026/06/10 12:00:00 event=runner_timeout task_id=run-1 payload=[redacted-payload]",
) -> Cluster:
    info = CLASS_INFO[FailureClass.TIMEOUT]
    evidence = tuple(
        EvidenceEntry(
            source="worker_log",
            ref=f"logs/worker.log:{10 + i}",
            kind="runner_timeout",
            excerpt=excerpt,
            metadata={"timestamp": f"2026/06/10 12:00:{i % 60:02d}", "elapsed_ms": "1800000"},
            affected={"runs": (f"run-{i}",), "issues": (f"issue-{i}",)},
        )
        for i in range(evidence_count)
    )
    return Cluster(
        id="runner-timeout",
        title="Runner timeouts",
        symptom_class="runner timeout",
        affected=Affected(
            issues=tuple(f"issue-{i}" for i in range(ids_per_key)),
            runs=tuple(f"run-{i}" for i in range(ids_per_key)),
            omitted={"sessions": 3} if ids_per_key > 2 else {},
        ),
        evidence=evidence,
        suspected_harness_surface=info.harness_surface,
        proposed_next_action="issue, draft-PR, or advisory evaluator proposal",
        acceptance_criteria=info.acceptance_criteria,
        redaction_note="Payload regions are omitted from excerpts.",
        failure_class=FailureClass.TIMEOUT,
        occurrences=evidence_count,
        first_seen="2026-06-10T12:00:00Z",
        last_seen="2026-06-10T12:00:01Z",
    )


def test_issue_body_golden() -> None:
    proposal = render_issue(make_cluster(), REPORT_REF)
    assert proposal.title == "Trace harness: Runner timeouts (runner-timeout)"
    assert_golden("render/issue.md", proposal.body)


def test_draft_pr_plan_golden() -> None:
    assert_golden("render/draft_pr_plan.md", render_draft_pr(make_cluster(), REPORT_REF).plan)


def test_tracking_body_golden_starts_with_marker() -> None:
    body = tracking_body(make_cluster(), REPORT_REF, show_excerpts=True, run_url="https://example.test/run/1")
    assert body.splitlines()[0] == "<!-- trace-harness:cluster=runner-timeout schema=1 -->"
    assert marker_cluster_id(body) == "runner-timeout"
    assert_golden("render/tracking.md", body)


def test_public_bodies_carry_no_excerpts() -> None:
    cluster = make_cluster(excerpt="UNIQUE-EXCERPT-TEXT")
    assert "UNIQUE-EXCERPT-TEXT" in tracking_body(cluster, REPORT_REF, show_excerpts=True)
    assert "UNIQUE-EXCERPT-TEXT" not in tracking_body(cluster, REPORT_REF, show_excerpts=False)


def test_rendering_is_stable() -> None:
    assert render_issue(make_cluster(), REPORT_REF) == render_issue(make_cluster(), REPORT_REF)


def test_huge_cluster_degrades_in_steps_not_mid_markdown() -> None:
    cluster = make_cluster(evidence_count=400, ids_per_key=3000, excerpt="x" * 4000)
    body = tracking_body(cluster, REPORT_REF, show_excerpts=True)
    assert len(body) <= MAX_BODY_CHARS
    assert body.count("```") % 2 == 0
    assert "## Acceptance criteria" in body


def test_secrets_in_evidence_never_reach_the_body() -> None:
    token = "ghp_" + "A" * 36
    cluster = make_cluster(excerpt=f"clone https://x-access-token:{token}@github.com/o/r.git")
    body = tracking_body(cluster, REPORT_REF, show_excerpts=True)
    assert token not in body
    assert "x-access-token" not in body


def test_fenced_block_cannot_be_closed_by_content() -> None:
    block = fenced("before ```` after")
    assert block.startswith("`````text\n")
    assert md_code("a`b") == "`a'b`"


def test_operator_template_override(tmp_path: Path) -> None:
    (tmp_path / "issue.md.j2").write_text("Custom body for {{ cluster.id | code }} ghp_" + "B" * 36 + "\n")
    body = render_issue(make_cluster(), REPORT_REF, templates=tmp_path).body
    assert body.startswith("Custom body for `runner-timeout`")
    assert "ghp_" not in body


def test_special_body_and_comment_are_bounded() -> None:
    clusters = [make_cluster() for _ in range(3)]
    body = special_body("systemic", "Systemic failure", clusters, "One signature failed across many jobs.")
    assert body.startswith("<!-- trace-harness:special=systemic schema=1 -->")
    assert body.count("| `runner-timeout` |") == 3
    assert "regressed" in change_comment(clusters[0], "regressed", REPORT_REF)
    assert len(issue_title(clusters[0])) < 256


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    evidence_count=st.integers(0, 300),
    ids_per_key=st.integers(0, 5000),
    excerpt=st.text(min_size=0, max_size=4096),
)
def test_every_rendered_body_fits(evidence_count: int, ids_per_key: int, excerpt: str) -> None:
    cluster = make_cluster(evidence_count, ids_per_key, excerpt)
    assert len(render_issue(cluster, REPORT_REF).body) <= MAX_BODY_CHARS
    assert len(render_draft_pr(cluster, REPORT_REF).plan) <= MAX_BODY_CHARS
    assert len(tracking_body(cluster, REPORT_REF, show_excerpts=True)) <= MAX_BODY_CHARS


def test_a_broken_override_template_is_a_clear_usage_error(tmp_path: Path) -> None:
    from trace_harness.errors import UsageError

    (tmp_path / "issue.md.j2").write_text("{{ cluster.no_such_field }}\n")
    with pytest.raises(UsageError, match=r"template issue\.md\.j2 does not render: UndefinedError"):
        render_issue(make_cluster(), REPORT_REF, templates=tmp_path)
