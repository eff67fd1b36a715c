"""Recurrence across runs: each run's findings are kept in the state store and counted by later runs.

A scheduled run usually sees only the logs of its own period, so recurrence must count what earlier runs
saw. After a run, its findings are written as a `trace-harness-manifest/v1` to
`manifests/<date>-<run>.json` (redacted and bounded by ``evidence.th_manifest``), and manifests dated
before the window are pruned. The next run folds the manifests inside the window into its report.

Only one finding is kept per cluster and set of affected ids (per input when a finding has no ids): that
is all the occurrence count (a union-find over affected ids) needs, and it bounds memory on huge logs
(``occurrences``: at most ``MAX_KEPT_FINDINGS``, chosen by evidence key, not by arrival order).
Nothing is counted twice: a stored finding whose input (by sha256) is also a current input is skipped,
a run writes no finding from an input already stored, and the same run id seen twice is one occurrence.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .attributes import AttributeTracker
from .config import Config
from .errors import InputFormatError
from .evidence.base import ReaderOptions
from .evidence.th_manifest import build_manifest, list_or_empty, load_manifest, manifest_json, read_th_manifest
from .models import EvidenceProblem, Finding, InputRef, Report, RunFacts, TestPass
from .occurrences import OccurrenceKeeper
from .pipeline import collect_report
from .redact import mask
from .state import MANIFESTS, StateStore

MAX_KEPT_FINDINGS = 5_000  # distinct occurrences stored per run: keeps a manifest far below th_manifest's 8 MB
FULL_RECORDS_PER_CLUSTER = 5  # the rest are stored as ids only: all the occurrence count needs
Stored = Iterator[Finding | TestPass | RunFacts | EvidenceProblem]


class FindingRecorder:
    """Wraps the attribute tracker and keeps this run's findings until ``close`` (earlier runs' follow).
    Worker logs' bulk path feeds ``keeper`` directly (``pipeline``), building only the findings it keeps."""

    def __init__(self, inner: AttributeTracker | None = None, limit: int = MAX_KEPT_FINDINGS) -> None:
        self.inner = inner
        self.keeper = OccurrenceKeeper(limit)
        self.closed = False

    @property
    def occurrence_keeper(self) -> OccurrenceKeeper | None:
        return None if self.closed else self.keeper

    def observe(self, finding: Finding) -> None:
        if self.inner is not None:
            self.inner.observe(finding)
        if not self.closed:
            self.keeper.keep(finding)

    def observe_pass(self, test_pass: TestPass) -> None:
        if self.inner is not None:
            self.inner.observe_pass(test_pass)

    def observe_run(self, facts: RunFacts) -> None:
        if self.inner is not None:
            self.inner.observe_run(facts)

    def flaky(self, cluster_id: str) -> bool:
        return self.inner is not None and self.inner.flaky(cluster_id)

    def systemic(self, cluster_id: str) -> bool:
        return self.inner is not None and self.inner.systemic(cluster_id)

    def close(self) -> None:
        self.closed = True

    def findings(self) -> list[Finding]:
        return self.keeper.findings()


def cutoff_date(now: datetime, window: timedelta) -> str:
    """Manifests dated before this day (YYYY-MM-DD) are outside the window."""
    return (now.astimezone(UTC) - window).date().isoformat()


def input_of(ref: str, inputs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The input a ref (`<path>:<line>`, or `<zip>!<member>:<line>`) came from: the longest path prefix."""
    matches = [i for i in inputs if isinstance(i, Mapping) and ref.startswith(str(i.get("path") or "\0"))]
    return max(matches, key=lambda i: len(str(i.get("path"))), default=None)


def without_inputs(manifest: dict[str, Any], shas: set[str]) -> dict[str, Any]:
    """The manifest minus findings from inputs in ``shas``; a finding of no known input goes with them
    only when every input of the manifest does (it cannot be told apart)."""
    inputs = [i for i in list_or_empty(manifest.get("inputs")) if isinstance(i, Mapping)]
    all_gone = bool(inputs) and all(i.get("sha256") in shas for i in inputs)

    def keep(record: Any) -> bool:
        source = input_of(str(record.get("ref", "")), inputs) if isinstance(record, Mapping) else None
        return not all_gone if source is None else source.get("sha256") not in shas

    runs = [
        {**run, "findings": [r for r in list_or_empty(run.get("findings")) if keep(r)]}
        for run in manifest["runs"]
        if isinstance(run, dict)
    ]
    return {**manifest, "runs": runs}


class EvidenceWindow:
    """Reads the stored manifests inside the window into a report, and stores this run's findings."""

    def __init__(self, store: StateStore, config: Config, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.recorder: FindingRecorder | None = None
        self.inputs: tuple[InputRef, ...] = ()
        self.stored_shas: set[str] = set()
        self.listed: list[str] | None = None  # the manifest names read, so a steady run lists once

    def collect(self, paths_by_kind: Mapping[str, Sequence[Path]]) -> Report:
        """The report of the current evidence plus the stored findings inside the window."""
        systemic = self.config.systemic
        self.recorder = FindingRecorder(AttributeTracker(systemic.min_jobs, systemic.within))
        report = collect_report(paths_by_kind, self.config, tracker=self.recorder, stored=self.stored)
        self.inputs = report.inputs
        return report

    def stored(self, inputs: Sequence[InputRef]) -> Stored:
        """Earlier runs' findings; the recorder closes first, so they are never stored again as this run's."""
        if self.recorder is not None:
            self.recorder.close()
        current = {ref.sha256 for ref in inputs}
        cutoff = cutoff_date(self.clock(), self.config.window)
        self.listed = self.store.manifest_names()
        for name in self.listed:
            if Path(name).name[:10] >= cutoff:
                yield from self._read(name, current)

    def _read(self, name: str, current: set[str]) -> Stored:
        text = self.store.read(name) or ""
        try:
            manifest = load_manifest(io.BytesIO(text.encode()), name)
        except InputFormatError as exc:
            yield EvidenceProblem(path=name, reason="damaged stored manifest", detail=mask(str(exc)))
            return
        inputs = list_or_empty(manifest.get("inputs"))
        self.stored_shas.update(str(i.get("sha256")) for i in inputs if isinstance(i, Mapping))
        kept = manifest_json(without_inputs(manifest, current)).encode()
        yield from read_th_manifest(io.BytesIO(kept), name, ReaderOptions.from_config(self.config))

    def persist(self, run_id: str) -> str | None:
        """Store this run's new findings (none from an input already stored) and prune old manifests."""
        if self.recorder is None:
            return None
        now = self.clock().astimezone(UTC)
        new_inputs = [ref for ref in self.inputs if ref.sha256 not in self.stored_shas]
        fresh = [f for f in self.recorder.findings() if _from_new_input(f, self.inputs, self.stored_shas)]
        name = None
        if fresh:
            manifest = build_manifest(slim(fresh), new_inputs, now.isoformat().replace("+00:00", "Z"))
            name = f"{MANIFESTS}/{now.date().isoformat()}-{run_id}.json"
            self.store.update(name, lambda _old: manifest_json(manifest))  # compact: manifests are the bulk
        cutoff = cutoff_date(now, self.config.window)
        if self.listed is None or any(Path(old).name[:10] < cutoff for old in self.listed):
            self.store.prune_manifests(cutoff)
        return name


def slim(findings: Sequence[Finding]) -> list[Finding]:
    """The first few findings of each cluster whole, the rest without excerpt and metadata."""
    seen: dict[str, int] = {}
    slimmed = []
    for finding in findings:
        seen[finding.cluster_id] = seen.get(finding.cluster_id, 0) + 1
        full = seen[finding.cluster_id] <= FULL_RECORDS_PER_CLUSTER
        slimmed.append(finding if full else dataclasses.replace(finding, excerpt="", metadata={}))
    return slimmed


def _from_new_input(finding: Finding, inputs: Sequence[InputRef], stored: set[str]) -> bool:
    source = input_of(finding.ref, [ref.model_dump() for ref in inputs])
    return source is None or source["sha256"] not in stored
