"""Advisory evaluator candidates, the results artifact, prior results, and recurrence escalations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trace_harness.config import Config
from trace_harness.errors import InputFormatError
from trace_harness.evaluator import load_results, recurrence_marker, results_artifact
from trace_harness.pipeline import collect_report

ONE = '2026/06/18 09:00:00 event=runner_timeout task_id=run-1 issue_id=issue-1 msg="t" payload=map[elapsed_ms:5]\n'
TWO = ONE + '2026/06/18 09:05:00 event=runner_timeout task_id=run-2 issue_id=issue-2 msg="t"\n'


def report_of(tmp_path: Path, log: str, prior: list[Path] | None = None) -> object:
    path = tmp_path / "w.log"
    path.write_text(log)
    return collect_report({"worker_log": [path]}, Config(), prior_results=prior or [], generated_at="t")


def artifact_file(tmp_path: Path, log: str, name: str = "prior.json") -> Path:
    report = report_of(tmp_path, log)
    path = tmp_path / name
    path.write_text(json.dumps(results_artifact(report)))  # type: ignore[arg-type]
    return path


def test_candidate_is_report_only_with_bounded_fixtures(tmp_path: Path) -> None:
    report = report_of(tmp_path, TWO)
    (cluster,) = report.clusters  # type: ignore[attr-defined]
    candidate = cluster.proposals.advisory_evaluator
    assert candidate["current_signal"] == "positive-recurring-cluster"
    assert candidate["execution"] == {
        "mode": "report-only",
        "blocks_ci": False,
        "blocks_runtime": False,
        "blocks_merge": False,
    }
    assert [fixture["source_ref"] for fixture in candidate["fixtures"]] == [
        f"{tmp_path}/w.log:1",
        f"{tmp_path}/w.log:2",
    ]
    assert candidate["fixtures"][0]["metadata"] == {"timestamp": "2026/06/18 09:00:00", "elapsed_ms": "5"}
    assert candidate["recovered_affected_ids"]["issues"] == ["issue-1", "issue-2"]
    assert candidate["expected_signal_behavior"]["false_positive"]


def test_single_occurrence_is_candidate_only(tmp_path: Path) -> None:
    (cluster,) = report_of(tmp_path, ONE).clusters  # type: ignore[attr-defined]
    assert cluster.proposals.advisory_evaluator["current_signal"] == "candidate-only-needs-more-evidence"


def test_results_artifact_round_trips(tmp_path: Path) -> None:
    (result,) = load_results(artifact_file(tmp_path, TWO))
    assert result["schema"] == "trace-harness-advisory-evaluator-result/v1"
    assert (result["source_cluster_id"], result["signal"]) == ("runner-timeout", "positive-recurring-cluster")
    assert result["evaluator_id"] == "runner-timeout-advisory-evaluator"


def test_recurrence_escalation_needs_a_prior_positive(tmp_path: Path) -> None:
    prior = artifact_file(tmp_path, TWO)
    report = report_of(tmp_path, TWO, [prior])
    (escalation,) = report.recurrence_escalations  # type: ignore[attr-defined]
    marker = recurrence_marker("runner-timeout", "runner-timeout-advisory-evaluator")
    assert (
        escalation["dedupe_marker"]
        == marker
        == "trace-harness-recurrence:runner-timeout:runner-timeout-advisory-evaluator"
    )
    assert escalation["prior_positive_results"] == 1
    assert marker in escalation["forge_comment"]
    assert report.clusters[0].proposals.recurrence_escalation == escalation  # type: ignore[attr-defined]

    candidate_prior = artifact_file(tmp_path, ONE, "candidate.json")
    assert report_of(tmp_path, TWO, [candidate_prior]).recurrence_escalations == ()  # type: ignore[attr-defined]
    assert report_of(tmp_path, ONE, [prior]).recurrence_escalations == ()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"schema_version": "trace-harness-report/v3"}', "not a trace-harness-advisory-evaluator-results/v1"),
        ('{"schema_version": "trace-harness-advisory-evaluator-results/v1"}', "'results' must be a list"),
        ('{"schema_version": "trace-harness-advisory-evaluator-results/v1", "results": [{"schema": "x"}]}', "schema"),
        (
            '{"schema_version": "trace-harness-advisory-evaluator-results/v1", "results": '
            '[{"schema": "trace-harness-advisory-evaluator-result/v1", "signal": "x"}]}',
            "missing evaluator_id",
        ),
        ("nope", "not JSON"),
    ],
)
def test_bad_prior_results_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prior.json"
    path.write_text(content)
    with pytest.raises(InputFormatError, match=message):
        load_results(path)
