"""Advisory evaluators (aiops M4) and recurrence escalations (aiops M6).

Every cluster carries a report-only evaluator candidate: bounded fixtures copied from its redacted
evidence, the expected true/false-positive behaviour, and a ``current_signal``. The results artifact
(``trace-harness-advisory-evaluator-results/v1``) records one result per cluster; when a later report
sees a positive signal that a prior artifact also had, the cluster gets one recurrence escalation whose
dedupe marker is ``trace-harness-recurrence:<source_cluster_id>:<evaluator_id>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .bounds import (
    MAX_CLUSTER_BYTES,
    MAX_EVALUATOR_FIXTURE_EXCERPT_BYTES,
    MAX_EVALUATOR_FIXTURES,
    MAX_PROPOSAL_AFFECTED_VALUES,
    MAX_PROPOSAL_EVIDENCE_REFS,
    MAX_PROPOSAL_FIELD_BYTES,
    MAX_PROPOSAL_INPUT_REFS,
    encoded_bytes,
    truncate,
)
from .errors import BoundsError, InputFormatError
from .models import AFFECTED_KEYS, Cluster, InputRef, Report
from .redact import mask
from .render import md_code

RESULT_SCHEMA = "trace-harness-advisory-evaluator-result/v1"
RESULTS_ARTIFACT_SCHEMA = "trace-harness-advisory-evaluator-results/v1"
POSITIVE_SIGNAL = "positive-recurring-cluster"
CANDIDATE_SIGNAL = "candidate-only-needs-more-evidence"
RESULT_FIELDS = (
    "schema",
    "evaluator_id",
    "source_cluster_id",
    "mode",
    "signal",
    "evidence_refs",
    "false_positive_notes",
)
FIXTURE_METADATA_KEYS = (
    "timestamp", "method", "model", "exit_code", "timeout_ms", "elapsed_ms", "duration_ms", "output_bytes",
    "output_dropped",
)  # fmt: skip
FALSE_POSITIVE_NOTES = (
    "Do not fire on successful or unrelated events that only mention the failure in opaque payload text.",
    "Do not parse raw logs, forge comments, prompts, model output, GraphQL payloads, or other natural language "
    "as a machine contract.",
)


def current_signal(cluster: Cluster, min_occurrences: int = 2) -> str:
    return POSITIVE_SIGNAL if cluster.occurrences >= min_occurrences else CANDIDATE_SIGNAL


def advisory_evaluator(cluster: Cluster, report_ref: str) -> dict[str, Any]:
    """The report-only evaluator candidate of one cluster (``proposals.advisory_evaluator``)."""
    return {
        "id": f"{cluster.id}-advisory-evaluator",
        "title": f"Advisory evaluator candidate for {cluster.id} trace cluster",
        "mode": "report-only/advisory",
        "target_failure_class": cluster.symptom_class,
        "source": {"report": report_ref, "cluster_id": cluster.id},
        "current_signal": current_signal(cluster),
        "recovered_affected_ids": _recovered_affected_ids(cluster),
        "fixtures": _fixtures(cluster),
        "expected_signal_behavior": {
            "true_positive": [
                f"Report {cluster.symptom_class} when a future grouped report has at least two independent recovered "
                f"issue, run, session, or PR references for {cluster.id}.",
                "Use only trusted metadata and redacted evidence references already present in trace harness reports.",
            ],
            "false_positive": list(FALSE_POSITIVE_NOTES),
        },
        "execution": {"mode": "report-only", "blocks_ci": False, "blocks_runtime": False, "blocks_merge": False},
        "future_report_output": {"schema": RESULT_SCHEMA, "fields": list(RESULT_FIELDS[1:])},
        "gate_promotion_evidence": [
            "Multiple reviewed reports show stable true positives for the same failure class.",
            "False positives are triaged and documented with fixtures or examples.",
            "A separate PR explicitly proposes gate promotion after review history exists.",
        ],
    }


def _recovered_affected_ids(cluster: Cluster) -> dict[str, Any]:
    recovered: dict[str, Any] = {}
    omitted: dict[str, int] = {}
    for name in AFFECTED_KEYS:
        values = cluster.affected.values(name)
        recovered[name] = list(values[:MAX_PROPOSAL_AFFECTED_VALUES])
        count = len(values) - len(recovered[name]) + cluster.affected.omitted.get(name, 0)
        if count > 0:
            omitted[name] = count
    if omitted:
        recovered["omitted"] = omitted
    return recovered


def _fixtures(cluster: Cluster) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{cluster.id}-positive-{index}",
            "source_ref": entry.ref,
            "event_kind": entry.kind,
            "expected": "match",
            "bounded_excerpt": truncate(entry.excerpt, MAX_EVALUATOR_FIXTURE_EXCERPT_BYTES),
            "metadata": {key: entry.metadata[key] for key in FIXTURE_METADATA_KEYS if entry.metadata.get(key)},
        }
        for index, entry in enumerate(cluster.evidence[:MAX_EVALUATOR_FIXTURES], 1)
    ]


def _field(value: Any) -> str:
    return truncate(mask(str(value)), MAX_PROPOSAL_FIELD_BYTES)


def evaluator_result(cluster: Cluster) -> dict[str, Any]:
    """One ``trace-harness-advisory-evaluator-result/v1`` record."""
    candidate = cluster.proposals.advisory_evaluator if cluster.proposals else advisory_evaluator(cluster, "")
    notes = candidate.get("expected_signal_behavior", {}).get("false_positive", [])
    return {
        "schema": RESULT_SCHEMA,
        "evaluator_id": _field(candidate.get("id", f"{cluster.id}-advisory-evaluator")),
        "source_cluster_id": _field(cluster.id),
        "mode": _field(candidate.get("execution", {}).get("mode", "report-only")),
        "signal": _field(candidate.get("current_signal", current_signal(cluster))),
        "evidence_refs": [_field(entry.ref) for entry in cluster.evidence[:MAX_PROPOSAL_EVIDENCE_REFS] if entry.ref],
        "false_positive_notes": [_field(note) for note in notes[:MAX_PROPOSAL_EVIDENCE_REFS]],
    }


def results_artifact(report: Report) -> dict[str, Any]:
    """The ``--evaluator-results-out`` artifact, bounded to the cluster byte bound."""
    artifact: dict[str, Any] = {
        "schema_version": RESULTS_ARTIFACT_SCHEMA,
        "generated_at": report.generated_at,
        "source_report": {"schema_version": report.schema_version, "inputs": _artifact_inputs(report.inputs)},
        "bounds": {
            "max_artifact_bytes": MAX_CLUSTER_BYTES,
            "max_evidence_refs": MAX_PROPOSAL_EVIDENCE_REFS,
            "max_note_bytes": MAX_PROPOSAL_FIELD_BYTES,
        },
        "results": [evaluator_result(cluster) for cluster in report.clusters],
    }
    if encoded_bytes(artifact) > MAX_CLUSTER_BYTES:
        for result in artifact["results"]:
            result["evidence_refs"] = result["evidence_refs"][:1]
            result["false_positive_notes"] = [truncate(note, 80) for note in result["false_positive_notes"][:1]]
    if encoded_bytes(artifact) > MAX_CLUSTER_BYTES:
        raise BoundsError("the evaluator results artifact exceeds max_artifact_bytes even after trimming")
    return artifact


def _artifact_inputs(inputs: Sequence[InputRef]) -> list[dict[str, Any]]:
    return [
        {
            "type": ref.type,
            "path": truncate(ref.path, MAX_PROPOSAL_FIELD_BYTES),
            "bytes": ref.bytes,
            "sha256": ref.sha256,
        }
        for ref in inputs[:MAX_PROPOSAL_INPUT_REFS]
    ]


def load_results(path: Path) -> list[dict[str, Any]]:
    """Validated, redacted results of a prior artifact; anything else is a clear InputFormatError."""
    where = mask(str(path))
    if path.stat().st_size > MAX_CLUSTER_BYTES:
        raise InputFormatError(f"{where}: evaluator result artifact exceeds max_artifact_bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{where}: not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("schema_version") != RESULTS_ARTIFACT_SCHEMA:
        raise InputFormatError(f"{where}: not a {RESULTS_ARTIFACT_SCHEMA} evaluator result artifact")
    results = data.get("results")
    if not isinstance(results, list):
        raise InputFormatError(f"{where}: evaluator result artifact 'results' must be a list")
    return [_validated_result(where, result) for result in results]


def _validated_result(where: str, result: Any) -> dict[str, Any]:
    if not isinstance(result, dict) or result.get("schema") != RESULT_SCHEMA:
        raise InputFormatError(f"{where}: evaluator result has a wrong or missing schema")
    missing = [name for name in RESULT_FIELDS if name not in result]
    if missing:
        raise InputFormatError(f"{where}: evaluator result missing {', '.join(missing)}")
    if not isinstance(result["evidence_refs"], list) or not isinstance(result["false_positive_notes"], list):
        raise InputFormatError(f"{where}: evaluator result refs and false-positive notes must be lists")
    validated: dict[str, Any] = {name: mask(str(result[name])) for name in RESULT_FIELDS[:5]}
    for name in RESULT_FIELDS[5:]:
        validated[name] = [_field(value) for value in result[name][:MAX_PROPOSAL_EVIDENCE_REFS]]
    return validated


def prior_positive(results: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_cluster: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        if result["signal"] == POSITIVE_SIGNAL:
            by_cluster.setdefault(result["source_cluster_id"], []).append(result)
    return by_cluster


def recurrence_marker(source_cluster_id: str, evaluator_id: str) -> str:
    return f"trace-harness-recurrence:{source_cluster_id}:{evaluator_id}"


def recurrence_escalation(cluster: Cluster, prior: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The escalation for a positive cluster that prior artifacts also saw positive; else None."""
    result = evaluator_result(cluster)
    if result["signal"] != POSITIVE_SIGNAL or not prior:
        return None
    escalation: dict[str, Any] = {
        "action": "reopen-or-comment",
        "dedupe_marker": recurrence_marker(result["source_cluster_id"], result["evaluator_id"]),
        "source_cluster_id": result["source_cluster_id"],
        "evaluator_id": result["evaluator_id"],
        "signal": result["signal"],
        "prior_positive_results": len(prior),
        "current_evidence_refs": result["evidence_refs"][:MAX_PROPOSAL_EVIDENCE_REFS],
        "prior_evidence_refs": _unique_refs(ref for item in prior for ref in item["evidence_refs"]),
    }
    escalation["forge_comment"] = recurrence_comment(cluster.id, escalation)
    return escalation


def _unique_refs(values: Iterable[str]) -> list[str]:
    refs: list[str] = []
    for value in values:
        ref = _field(value)
        if ref and ref not in refs:
            refs.append(ref)
        if len(refs) >= MAX_PROPOSAL_EVIDENCE_REFS:
            break
    return refs


def recurrence_comment(cluster_id: str, escalation: dict[str, Any], compact: bool = False) -> str:
    marker = md_code(escalation["dedupe_marker"])
    if compact:
        return (
            f"Trace harness recurrence for {md_code(cluster_id)}; marker {marker}. Reopen or comment once through "
            "forge tooling. Report-only; no CI/runtime/merge gate.\n"
        )
    lines = [
        "## Trace harness recurrence",
        "",
        f"Cluster {md_code(cluster_id)} has a stable positive advisory evaluator signal again.",
        "",
        f"- Dedupe marker: {marker}",
        f"- Evaluator: {md_code(escalation['evaluator_id'])}",
        f"- Signal: {md_code(escalation['signal'])}",
        f"- Prior positive result artifacts matched: {escalation['prior_positive_results']}",
        "",
        "Current evidence refs:",
        *_bullets(escalation["current_evidence_refs"]),
        "",
        "Prior evidence refs:",
        *_bullets(escalation["prior_evidence_refs"]),
        "",
        "Recommended forge action: reopen the existing tracking issue for this marker if it is closed, "
        "otherwise add this comment once.",
        "",
        "Boundary: this is report-only advisory output. It does not block CI, runtime, or merge.",
    ]
    return "\n".join(lines) + "\n"


def _bullets(refs: list[str]) -> list[str]:
    return [f"- {md_code(ref)}" for ref in refs] or ["- No bounded evidence refs were retained."]


def fit_escalation(cluster: Cluster, escalation: dict[str, Any]) -> Cluster:
    """Attach the escalation, dropping refs, then detail, then the escalation itself to keep the bound."""
    assert cluster.proposals is not None
    for shrink in _escalation_shrinks(cluster.id, escalation):
        proposals = cluster.proposals.model_copy(update={"recurrence_escalation": shrink})
        candidate = cluster.model_copy(update={"proposals": proposals})
        if shrink is None or encoded_bytes(candidate.model_dump(mode="json")) <= MAX_CLUSTER_BYTES:
            return candidate
    return cluster


def _escalation_shrinks(cluster_id: str, escalation: dict[str, Any]) -> Iterable[dict[str, Any] | None]:
    current = dict(escalation)
    yield dict(current)
    for key in ("current_evidence_refs", "prior_evidence_refs"):
        while current[key]:
            current[key] = current[key][:-1]
            current["forge_comment"] = recurrence_comment(cluster_id, current)
            yield dict(current)
    current["forge_comment"] = recurrence_comment(cluster_id, current, compact=True)
    yield dict(current)
    yield None
