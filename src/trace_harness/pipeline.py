"""The evidence → report pipeline as a library call: ``collect_report(paths_by_kind, config)``.

Each kind of evidence names a reader with the common signature (``evidence.base.Reader``). Readers are
looked up by kind: our built-in table, then ``evidence.sniff.READERS`` when that module provides one, so a
new reader plugs in without changing this module. ``evidence_manifest`` (aiops v2) is folded directly,
because its per-class id summaries are not findings.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from . import attributes, render
from .cluster import AttributeTracker, ClusterAccumulator, wants_worker_findings
from .config import Config
from .errors import UsageError
from .evaluator import load_results
from .evidence import manifest as worker_manifest
from .evidence.base import Reader, ReaderOptions
from .evidence.inputs import InputDigests
from .evidence.worker_log import iso_converter, read_worker_log
from .evidence.worker_scan import fold_worker_log_file
from .finishing import finish_clusters
from .models import EvidenceProblem, Finding, InputRef, Report, RunFacts, TestPass
from .redact import mask
from .report import build_report, report_reference, with_proposals

WORKER_LOG = "worker_log"
EVIDENCE_MANIFEST = "evidence_manifest"
_BUILTIN_READERS = {
    WORKER_LOG: "trace_harness.evidence.worker_log:read_worker_log",
    "actions_log": "trace_harness.evidence.actions_log:read_actions_log",
    "th_manifest": "trace_harness.evidence.th_manifest:read_th_manifest",
}


def reader_for(kind: str) -> Reader:
    """The reader registered for ``kind``; an unknown kind is a usage error."""
    try:
        sniff = importlib.import_module("trace_harness.evidence.sniff")
        registered: Mapping[str, Reader] = getattr(sniff, "READERS", {})
    except ImportError:
        registered = {}
    if kind in registered:
        return registered[kind]
    if kind not in _BUILTIN_READERS:
        raise UsageError(f"no evidence reader for kind {kind!r}")
    module_name, _, function = _BUILTIN_READERS[kind].partition(":")
    reader: Reader = getattr(importlib.import_module(module_name), function)
    return reader


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def collect_report(
    paths_by_kind: Mapping[str, Sequence[Path]],
    config: Config,
    *,
    prior_results: Sequence[Path] = (),
    templates: Path | None = None,
    generated_at: str | None = None,
    tracker: AttributeTracker | None = None,
    stored: Callable[[Sequence[InputRef]], Iterable[Any]] | None = None,
) -> Report:
    """Read every input once (byte-identical inputs are deduplicated), cluster, and assemble the report.

    ``stored(inputs)`` yields earlier runs' findings (and problems), folded after the current inputs."""
    if not any(paths_by_kind.values()):
        raise UsageError("at least one --worker-log or --evidence-manifest is required")
    options = ReaderOptions.from_config(config)
    iso_converter(options.worker_log_tz)  # fail fast on a bad zone, before reading gigabytes
    if tracker is None:  # flaky and systemic are attributes of every report, not only of `run`
        tracker = attributes.AttributeTracker(config.systemic.min_jobs, config.systemic.within)
    accumulator = ClusterAccumulator(tracker)
    inputs, problems = fold_inputs(paths_by_kind, accumulator, options, tracker)
    if stored is not None:  # recurrence across runs: the state store's manifests inside the window
        problems += _consume(stored(inputs), accumulator, tracker)
    prior = [result for path in prior_results for result in load_results(path)]
    templates = templates or config.templates
    propose = partial(with_proposals, report_ref=report_reference(inputs), templates=templates)
    warm = partial(render.warm, templates)
    return build_report(
        finish_clusters(accumulator, propose, sum(ref.bytes for ref in inputs), warm),
        inputs,
        id_aliases=accumulator.id_aliases(),
        generated_at=generated_at or utc_now(),
        evidence_problems=problems,
        prior_results=prior,
        templates=templates or config.templates,
    )


def fold_inputs(
    paths_by_kind: Mapping[str, Sequence[Path]],
    accumulator: ClusterAccumulator,
    options: ReaderOptions,
    tracker: AttributeTracker | None = None,
) -> tuple[list[InputRef], list[EvidenceProblem]]:
    """Fold all inputs into ``accumulator``; returns the input refs and the evidence problems met."""
    entries = [(kind, path) for kind, paths in paths_by_kind.items() for path in paths]
    problems: list[EvidenceProblem] = []
    with InputDigests(entries) as digests:
        for index, (kind, path) in enumerate(entries):
            if not digests.keep(index):
                continue
            if kind == EVIDENCE_MANIFEST:
                worker_manifest.fold_manifest(worker_manifest.manifest_runs(path), accumulator, options)
                continue
            problems.extend(_read_one(reader_for(kind), path, accumulator, options, tracker))
        return digests.refs(), problems


def _read_one(
    reader: Reader, path: Path, accumulator: ClusterAccumulator, options: ReaderOptions, tracker: Any
) -> list[EvidenceProblem]:
    try:
        keeper = getattr(tracker, "occurrence_keeper", None)  # a run keeping findings to store
        if reader is read_worker_log and (keeper is not None or not wants_worker_findings(tracker)):
            fold_worker_log_file(path, str(path), options, accumulator, keeper=keeper)  # bulk: no Finding per record
            return []
        with path.open("rb") as stream:
            return _consume(reader(stream, str(path), options), accumulator, tracker)
    except OSError as exc:
        return [_problem(str(path), "unreadable", exc.strerror or type(exc).__name__)]


def _consume(items: Iterable[Any], accumulator: ClusterAccumulator, tracker: Any) -> list[EvidenceProblem]:
    problems: list[EvidenceProblem] = []
    for item in items:
        if isinstance(item, Finding):
            accumulator.add(item)
        elif isinstance(item, TestPass):
            if tracker is not None and hasattr(tracker, "observe_pass"):
                tracker.observe_pass(item)
        elif isinstance(item, RunFacts):
            if tracker is not None and hasattr(tracker, "observe_run"):
                tracker.observe_run(item)
        elif isinstance(item, EvidenceProblem):
            problems.append(_problem(item.path, item.reason, item.detail))
    return problems


def _problem(path: str, reason: str, detail: str) -> EvidenceProblem:
    return EvidenceProblem(path=mask(path), reason=mask(reason), detail=mask(detail))
