"""Assembling the ``trace-harness-report/v3`` report from finished clusters (pure), and reading one back.

Proposals are rendered from the bounded cluster, and the cluster bound (262,144 bytes of compact JSON,
proposals included) is enforced again after rendering; since proposals quote the cluster, the two steps
repeat until the evidence and affected ids stop changing. Trimming drops the largest-key evidence first,
then the longest affected-id lists, recording every drop as an ``omitted`` count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from . import evaluator, render
from .bounds import MAX_CLUSTER_BYTES, MAX_PROPOSAL_INPUT_REFS, MAX_RUN_EVIDENCE_BYTES
from .cluster import EVIDENCE_OMITTED_KEY, trimmed_id_count
from .errors import InputFormatError
from .fingerprint import current_version
from .models import (
    AFFECTED_KEYS,
    REPORT_SCHEMA,
    Bounds,
    Cluster,
    EvidenceProblem,
    InputRef,
    Proposals,
    Report,
)
from .redact import mask
from .taxonomy import WORKER_CLASSES, FailureClass


def report_reference(inputs: Sequence[InputRef]) -> str:
    """How proposals cite their report: the schema and the first inputs' digests, never a timestamp."""
    refs = [
        f"{ref.type} {render.md_code(ref.path)} sha256:{ref.sha256[:12]} bytes:{ref.bytes}"
        for ref in inputs[:MAX_PROPOSAL_INPUT_REFS]
    ]
    if len(inputs) > MAX_PROPOSAL_INPUT_REFS:
        refs.append(f"plus {len(inputs) - MAX_PROPOSAL_INPUT_REFS} more input(s) in report.inputs")
    return f"{REPORT_SCHEMA}; inputs: " + "; ".join(refs)


def build_report(
    clusters: Iterable[Cluster],
    inputs: Sequence[InputRef],
    *,
    generated_at: str,
    evidence_problems: Iterable[EvidenceProblem] = (),
    id_aliases: Mapping[str, str] | None = None,
    prior_results: Iterable[dict[str, Any]] = (),
    templates: Path | None = None,
    fingerprint_version: int | None = None,
) -> Report:
    """The report: clusters sorted by id, each with proposals (rendered here unless already) and within its
    byte bound."""
    report_ref = report_reference(inputs)
    prior = evaluator.prior_positive(prior_results)
    finished: list[Cluster] = []
    escalations: list[dict[str, Any]] = []
    for cluster in sorted(clusters, key=lambda item: item.id):
        if cluster.proposals is None:
            cluster = with_proposals(cluster, report_ref, templates)
        escalation = evaluator.recurrence_escalation(cluster, prior.get(cluster.id, []))
        if escalation is not None:
            cluster = evaluator.fit_escalation(cluster, escalation)
            escalations.append(escalation)
        finished.append(cluster)
    problems = sorted(evidence_problems, key=lambda item: (item.path, item.reason, item.detail))
    return Report(
        generated_at=generated_at,
        inputs=tuple(inputs),
        bounds=Bounds(max_run_evidence_bytes=MAX_RUN_EVIDENCE_BYTES, max_cluster_bytes=MAX_CLUSTER_BYTES),
        clusters=tuple(finished),
        recurrence_escalations=tuple(escalations),
        fingerprint_version=current_version(fingerprint_version),
        id_aliases=dict(sorted((id_aliases or {}).items())),
        evidence_problems=tuple(problems),
    )


def with_proposals(cluster: Cluster, report_ref: str, templates: Path | None = None) -> Cluster:
    """Render proposals and re-fit the bound until what the proposals quote no longer changes."""
    cluster = enforce_cluster_bound(cluster)
    while True:
        context = render.proposal_context(cluster, report_ref)  # one dump of this version for both
        proposals = Proposals(
            github_issue=render.render_issue(cluster, report_ref, templates, context=context),
            draft_pr=render.render_draft_pr(cluster, report_ref, templates, context=context),
            advisory_evaluator=evaluator.advisory_evaluator(cluster, report_ref),
        )
        rendered = cluster.model_copy(update={"proposals": proposals})
        bounded = enforce_cluster_bound(rendered)
        if (bounded.affected, bounded.evidence) == (rendered.affected, rendered.evidence):
            return bounded
        cluster = bounded


def cluster_bytes(cluster: Cluster) -> int:
    return json_bytes(cluster)


def json_bytes(model: BaseModel) -> int:
    """``encoded_bytes(model.model_dump(mode="json"))``, from pydantic's own serializer: the same compact UTF-8
    bytes (key order aside), without building the dicts; the bound is checked several times per cluster."""
    return len(type(model).__pydantic_serializer__.to_json(model))


def enforce_cluster_bound(cluster: Cluster) -> Cluster:
    if cluster_bytes(cluster) <= MAX_CLUSTER_BYTES:
        return cluster
    cluster = _trim_evidence(cluster)
    if cluster_bytes(cluster) <= MAX_CLUSTER_BYTES:
        return cluster
    return _trim_evidence(_trim_affected(cluster))


def _trim_evidence(cluster: Cluster) -> Cluster:
    """Keep the longest key-ordered evidence prefix (at least one entry) that fits, counting the rest."""
    keep, total, count = 0, cluster_bytes(cluster.model_copy(update={"evidence": ()})), len(cluster.evidence)
    for entry in cluster.evidence:  # sized one by one, up to the first that does not fit
        size = json_bytes(entry) + (1 if keep else 0)
        if total + size > MAX_CLUSTER_BYTES:
            break
        total += size
        keep += 1
    keep = max(keep, min(1, count))
    if keep == count:
        return cluster
    omitted = dict(cluster.affected.omitted)
    omitted[EVIDENCE_OMITTED_KEY] = omitted.get(EVIDENCE_OMITTED_KEY, 0) + count - keep
    affected = cluster.affected.model_copy(update={"omitted": omitted})
    return cluster.model_copy(update={"evidence": cluster.evidence[:keep], "affected": affected})


def _trim_affected(cluster: Cluster) -> Cluster:
    """Shorten the longest id lists first, each to the most values that still fit (binary search)."""
    originals = {name: cluster.affected.values(name) for name in AFFECTED_KEYS}
    base_omitted = dict(cluster.affected.omitted)
    for name in sorted(AFFECTED_KEYS, key=lambda item: (-len(originals[item]), item)):
        if cluster_bytes(cluster) <= MAX_CLUSTER_BYTES or not originals[name]:
            continue
        values = originals[name]
        low, high, best = 0, len(values), 0
        while low <= high:
            middle = (low + high) // 2
            if cluster_bytes(_with_ids(cluster, name, values, middle, base_omitted)) <= MAX_CLUSTER_BYTES:
                best, low = middle, middle + 1
            else:
                high = middle - 1
        cluster = _with_ids(cluster, name, values, best, base_omitted)
        base_omitted = dict(cluster.affected.omitted)
    return cluster


def _with_ids(cluster: Cluster, name: str, values: tuple[str, ...], keep: int, omitted: dict[str, int]) -> Cluster:
    counts = dict(omitted)
    if len(values) > keep:
        counts[name] = counts.get(name, 0) + len(values) - keep
    affected = cluster.affected.model_copy(update={name: values[:keep], "omitted": counts})
    return cluster.model_copy(update={"affected": affected})


def report_json(report: Report) -> str:
    """Compact JSON, `schema_version` first; non-ASCII kept as UTF-8 so bytes match the bound accounting.
    pydantic's serializer writes what ``json.dumps`` of the dump writes (the report holds no floats), without
    building the dump (a large report's is ~100k objects)."""
    return report.model_dump_json() + "\n"


def load_report(path: Path) -> Report:
    """A v3 report from disk, ours or aiops-made (our additional fields are filled in)."""
    where = mask(str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{where}: not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("schema_version") != REPORT_SCHEMA:
        raise InputFormatError(f"{where}: not a {REPORT_SCHEMA} report")
    data.setdefault("fingerprint_version", current_version())
    clusters = data.get("clusters")
    if isinstance(clusters, list):
        data["clusters"] = [_with_our_fields(item) if isinstance(item, dict) else item for item in clusters]
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        raise InputFormatError(f"{where}: invalid report at {location}: {first['msg']}") from None


def _with_our_fields(cluster: dict[str, Any]) -> dict[str, Any]:
    filled = dict(cluster)
    if "failure_class" not in filled:
        known = WORKER_CLASSES.get(str(filled.get("id", "")))
        filled["failure_class"] = known[0] if known else FailureClass.UNKNOWN
    if "occurrences" not in filled:
        filled["occurrences"] = occurrences_from_evidence(filled)
    return filled


def occurrences_from_evidence(cluster: Mapping[str, Any]) -> int:
    """aiops' count: evidence entries merged when they share an affected id, plus ids known only as counts."""
    parent: dict[str, str] = {}

    def find(token: str) -> str:
        while parent.setdefault(token, token) != token:
            token = parent[token]
        return token

    for entry in cluster.get("evidence", []) or []:
        affected = entry.get("affected", {}) if isinstance(entry, dict) else {}
        tokens = [f"{name}:{value}" for name in AFFECTED_KEYS for value in affected.get(name, []) or [] if value]
        roots = [find(token) for token in tokens]
        for root in roots[1:]:
            parent[find(root)] = find(roots[0])
    components = sum(1 for token in parent if find(token) == token)
    omitted = (cluster.get("affected") or {}).get("omitted") or {}
    return components + trimmed_id_count(omitted if isinstance(omitted, dict) else {})
