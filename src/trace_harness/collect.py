"""Collecting GitHub Actions evidence for the window: failed runs' job logs and matching artifacts, bounded.

``plan_runs`` (pure) picks the runs newer than the cursor, within the per-workflow cap. ``ActionsCollector``
writes what it downloads under one folder, bounded per log, per artifact and in total. File names come from
ids only (``run-<id>/job-<id>-<slug>.log``, ``run-<id>/artifact-<id>-<slug>.zip``), never from raw server
strings. A failed download is a counted ``EvidenceProblem``, never a failed run. ``cursor.json`` in the state
store keeps the newest run id collected per workflow, so a run is downloaded once; ``ActionsEvidence`` is the
loader the CLI hands to the driver, and it advances the cursor only once the run succeeded.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from .config import Config
from .errors import ForgeError
from .forge.base import ActionsSource, Artifact, WorkflowJob, WorkflowRun
from .models import EvidenceProblem, Report
from .redact import mask
from .report import build_report
from .state import CURSOR, StateStore

CURSOR_SCHEMA = "trace-harness-cursor/v1"
MiB = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Limits:
    max_runs_per_workflow: int = 20
    max_log_bytes: int = 8 * MiB  # the tail is kept: a job's root cause is near its end
    max_artifact_bytes: int = 32 * MiB  # a cut zip is unreadable: larger ones are skipped, counted
    max_total_bytes: int = 256 * MiB
    log_read_factor: int = 64  # a log is read up to 64x its cap, keeping the tail, before giving up


class Cursor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: str = Field(CURSOR_SCHEMA, alias="schema")
    actions: dict[str, int] = Field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"schema": CURSOR_SCHEMA, "actions": dict(sorted(self.actions.items()))}


class Collected(BaseModel):
    model_config = ConfigDict(frozen=True)

    files: tuple[str, ...] = ()
    problems: tuple[EvidenceProblem, ...] = ()
    cursor: Cursor = Cursor()
    bytes_written: int = 0


def plan_runs(runs: Iterable[WorkflowRun], after_id: int, limits: Limits) -> list[WorkflowRun]:
    """The runs to collect, oldest first: newer than the cursor, the newest ``max_runs_per_workflow``."""
    fresh = sorted((run for run in runs if run.id > after_id), key=lambda run: run.id)
    return fresh[-limits.max_runs_per_workflow :] if limits.max_runs_per_workflow > 0 else []


def slug(name: str) -> str:
    """A file-name-safe, bounded form of a server-given name (masked first: names can carry tokens too)."""
    return _UNSAFE.sub("-", mask(name)).strip("-.")[:60] or "unnamed"


def keep_tail(chunks: Iterable[bytes], cap: int, read_cap: int) -> tuple[bytes, bool]:
    """The last ``cap`` bytes read (at most ``read_cap`` are read), from a line start; and whether it was cut."""
    kept, read, cut = bytearray(), 0, False
    for chunk in chunks:
        kept += chunk
        read += len(chunk)
        if len(kept) > cap:
            del kept[: len(kept) - cap]
            cut = True
        if read >= read_cap:
            cut = True
            break
    if cut and b"\n" in kept:
        del kept[: kept.index(b"\n") + 1]  # a partial first line would be noise
    return bytes(kept), cut


class ActionsCollector:
    """Downloads into ``dest`` within the byte budget; records files and problems."""

    def __init__(self, source: ActionsSource, dest: Path, limits: Limits = Limits()) -> None:
        self.source, self.dest, self.limits = source, dest, limits
        self.budget = limits.max_total_bytes
        self.files: list[str] = []
        self.problems: list[EvidenceProblem] = []

    def collect(self, workflows: Sequence[str], patterns: Sequence[str], since: datetime, cursor: Cursor) -> Collected:
        newest = dict(cursor.actions)
        for workflow in workflows:
            for run in self._runs(workflow, since, newest.get(workflow, 0)):
                if not self._collect_run(run, patterns):
                    break  # the byte budget ran out: this run stays uncollected for the next time
                newest[workflow] = max(newest.get(workflow, 0), run.id)
        spent = self.limits.max_total_bytes - self.budget
        return Collected(
            files=tuple(self.files), problems=tuple(self.problems), cursor=Cursor(actions=newest), bytes_written=spent
        )

    def _runs(self, workflow: str, since: datetime, after_id: int) -> list[WorkflowRun]:
        try:
            return plan_runs(self.source.failed_runs(workflow, since, after_id), after_id, self.limits)
        except ForgeError as exc:
            self._problem(f"actions:{workflow}", "workflow runs unavailable", str(exc))
            return []

    def _collect_run(self, run: WorkflowRun, patterns: Sequence[str]) -> bool:
        """Collect one run; False when the budget is spent before it was complete."""
        folder = self.dest / f"run-{run.id}"
        try:
            jobs, artifacts = self.source.failed_jobs(run.id), self.source.artifacts(run.id, patterns)
        except ForgeError as exc:
            self._problem(f"actions:run-{run.id}", "run details unavailable", str(exc))
            return True
        for job in jobs:
            if self.budget <= 0 or not self._save_log(folder, job):
                return False
        return all(self.budget > 0 and self._save_artifact(folder, artifact) for artifact in artifacts)

    def _save_log(self, folder: Path, job: WorkflowJob) -> bool:
        target = folder / f"job-{job.id}-{slug(job.name)}.log"
        cap = min(self.limits.max_log_bytes, self.budget)
        try:
            with closing(_lazy(lambda: self.source.job_log(job.id))) as chunks:
                data, cut = keep_tail(chunks, cap, cap * self.limits.log_read_factor)
        except ForgeError as exc:
            self._problem(_rel(target, self.dest), "job log download failed", str(exc))
            return True
        if cut and cap < self.limits.max_log_bytes:  # cut by the total budget: left for the next run
            self._problem(_rel(target, self.dest), "byte budget spent", f"{self.limits.max_total_bytes} bytes in all")
            return False
        self._write(target, data)
        if cut:
            self._problem(_rel(target, self.dest), "job log cut", f"kept the last {len(data)} bytes")
        return True

    def _save_artifact(self, folder: Path, artifact: Artifact) -> bool:
        target = folder / f"artifact-{artifact.id}-{slug(artifact.name)}.zip"
        cap = min(self.limits.max_artifact_bytes, self.budget)
        if artifact.size_in_bytes > cap:
            self._problem(_rel(target, self.dest), "artifact too large", f"{artifact.size_in_bytes} bytes > {cap}")
            return cap == self.limits.max_artifact_bytes
        try:
            with closing(_lazy(lambda: self.source.artifact_zip(artifact.id))) as chunks:
                data = _at_most(chunks, cap)
        except ForgeError as exc:
            self._problem(_rel(target, self.dest), "artifact download failed", str(exc))
            return True
        if data is None:
            self._problem(_rel(target, self.dest), "artifact too large", f"more than {cap} bytes")
            return cap == self.limits.max_artifact_bytes
        self._write(target, data)
        return True

    def _write(self, target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.budget -= len(data)
        self.files.append(_rel(target, self.dest))

    def _problem(self, path: str, reason: str, detail: str) -> None:
        self.problems.append(EvidenceProblem(path=mask(path), reason=reason, detail=mask(detail)[:500]))


def _lazy(start: Callable[[], Iterator[bytes]]) -> Generator[bytes, None, None]:
    """A generator that makes the API request on first use, so ``closing`` covers its errors too."""
    yield from start()


def _at_most(chunks: Iterable[bytes], cap: int) -> bytes | None:
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > cap:
            return None
    return bytes(data)


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# -- the cursor and the loader the CLI uses ---------------------------------------------------------


def load_cursor(store: StateStore) -> Cursor:
    data = store.read_json(CURSOR)
    try:
        return Cursor.model_validate(data) if isinstance(data, dict) else Cursor()
    except ValueError:
        return Cursor()  # a damaged cursor collects the window again; inputs are deduplicated by sha256


def save_cursor(store: StateStore, cursor: Cursor) -> None:
    if cursor != load_cursor(store):
        store.write_json(CURSOR, cursor.to_json())


def with_problems(report: Report, problems: Sequence[EvidenceProblem]) -> Report:
    if not problems:
        return report
    return report.model_copy(update={"evidence_problems": (*report.evidence_problems, *problems)})


class ActionsEvidence:
    """The driver's report loader when evidence comes from Actions: collect into a temp folder, then read it."""

    def __init__(
        self,
        source: ActionsSource | None,
        store: StateStore,
        config: Config,
        read: Callable[[list[Path]], Report],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limits: Limits = Limits(),
    ) -> None:
        self.source, self.store, self.config, self.read = source, store, config, read
        self.clock, self.limits = clock, limits
        self.collected: Collected | None = None

    def __call__(self) -> Report:
        now = self.clock()
        with tempfile.TemporaryDirectory(prefix="trace-harness-actions-") as folder:
            self.collected = self._collect(Path(folder), now)
            report = self.read([Path(folder)]) if self.collected.files else _empty(now)
        return with_problems(report, self.collected.problems)

    def _collect(self, folder: Path, now: datetime) -> Collected:
        if self.source is None:  # the local forge has no Actions
            return Collected()
        actions = self.config.evidence.actions
        collector = ActionsCollector(self.source, folder, self.limits)
        since = now - self.config.window
        return collector.collect(actions.workflows, actions.artifacts, since, load_cursor(self.store))

    def commit(self) -> None:
        """Advance the cursor; call it after a successful run so failed runs collect again."""
        if self.collected is not None and self.source is not None:
            save_cursor(self.store, self.collected.cursor)


def _empty(now: datetime) -> Report:
    stamp = now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return build_report([], [], generated_at=stamp)
