"""Flaky and systemic attributes of clusters. They describe a cluster; they never change its id.

* Flaky: a test failed in some runs and passed in others of the same workflow at the same commit.
  The evidence given is already limited to the look-back window. A result that names only its run (JUnit)
  is placed by that run's ``RunFacts`` (from its job log) when asked; a failure and a pass in the same run
  (matrix legs) are not flakiness.
* Systemic: one cluster failing across >= ``systemic_min_jobs`` distinct jobs within ``systemic_within``.

Memory is bounded: a cap on distinct keys per cluster (jobs, workflow/commit pairs) and on the number
of tests whose passes are remembered. Answers are computed when asked, so arrival order does not matter
while the caps are not reached.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .fingerprint import normalize
from .models import Finding, RunFacts, TestPass
from .test_ids import canonical_test_id

_DEFAULT_KEYS_PER_CLUSTER = 256
_DEFAULT_MAX_TESTS = 100_000
_TEST_PREFIX = "test:"

Place = tuple[str, str]  # (workflow, commit), or (_BY_RUN, run) until the run's facts are known
Result = tuple[Place, str]  # where a test result was seen, and in which run ("" when unknown)
_BY_RUN = "\0run"


def result_place(workflow: str, commit: str, run: str) -> Result | None:
    """Where a result counts for flakiness; None when neither its commit nor its run is known."""
    if commit:
        return (workflow, commit), run
    return ((_BY_RUN, run), run) if run else None


def parse_timestamp(text: str) -> datetime | None:
    """An aware datetime from an ISO-8601 timestamp (naive means UTC), or None when unreadable."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def failure_test_key(finding: Finding) -> str | None:
    """The test a finding is about: the raw id from metadata, else the id inside a `test:` signature."""
    raw = finding.metadata.get("test_id", "")
    if raw:
        return f"raw:{raw}"
    if finding.signature.startswith(_TEST_PREFIX):
        return "norm:" + finding.signature[len(_TEST_PREFIX) :].rsplit("|", 1)[0]
    return None


def pass_test_keys(test_pass: TestPass) -> tuple[str, str]:
    """A pass answers both exact (raw id) and canonical (any tool's spelling, parametrize-free) lookups."""
    return f"raw:{test_pass.test_id}", f"norm:{normalize(canonical_test_id(test_pass.test_id))}"


def has_window(times: list[datetime], min_count: int, within: timedelta) -> bool:
    """Whether some span of length ``within`` holds at least ``min_count`` of ``times``."""
    ordered = sorted(times)
    return any(ordered[i + min_count - 1] - ordered[i] <= within for i in range(len(ordered) - min_count + 1))


class AttributeTracker:
    """Collects the observations behind ``flaky`` and ``systemic``; duck-typed by ``cluster``."""

    # Agent-worker events carry no job and no commit, so they never change an answer: the pipeline may fold
    # worker logs on its bulk path without handing each event here.
    wants_worker_findings = False

    def __init__(
        self,
        systemic_min_jobs: int = 10,
        systemic_within: timedelta = timedelta(hours=1),
        *,
        keys_per_cluster: int = _DEFAULT_KEYS_PER_CLUSTER,
        max_tests: int = _DEFAULT_MAX_TESTS,
    ) -> None:
        self._min_jobs = systemic_min_jobs
        self._within = systemic_within
        self._cap = max(keys_per_cluster, systemic_min_jobs)
        self._max_tests = max_tests
        self._failed_at: dict[str, set[tuple[str, Result]]] = {}
        self._passed_at: dict[str, set[Result]] = {}
        self._run_places: dict[str, Place] = {}
        self._job_times: dict[str, dict[str, datetime]] = {}
        self._systemic: set[str] = set()

    def observe(self, finding: Finding) -> None:
        self._observe_failure_place(finding)
        self._observe_job(finding)

    def observe_pass(self, test_pass: TestPass) -> None:
        result = result_place(test_pass.workflow, test_pass.commit, test_pass.run)
        if result is None:
            return
        for key in pass_test_keys(test_pass):
            results = self._passed_at.get(key)
            if results is None:
                if len(self._passed_at) >= self._max_tests:
                    continue
                results = self._passed_at[key] = set()
            if len(results) < self._cap:
                results.add(result)

    def observe_run(self, facts: RunFacts) -> None:
        if facts.run and facts.commit and len(self._run_places) < self._max_tests:
            self._run_places.setdefault(facts.run, (facts.workflow, facts.commit))

    def flaky(self, cluster_id: str) -> bool:
        for key, (place, run) in self._failed_at.get(cluster_id, ()):
            where = self._resolve(place)
            passes = self._passed_at.get(key, ())
            if where is not None and any(self._resolve(p) == where and _other_run(run, r) for p, r in passes):
                return True
        return False

    def _resolve(self, place: Place) -> Place | None:
        return self._run_places.get(place[1]) if place[0] == _BY_RUN else place

    def systemic(self, cluster_id: str) -> bool:
        if cluster_id in self._systemic:
            return True
        times = list(self._job_times.get(cluster_id, {}).values())
        if len(times) >= self._min_jobs and has_window(times, self._min_jobs, self._within):
            self._latch_systemic(cluster_id)
            return True
        return False

    def flaky_clusters(self) -> frozenset[str]:
        return frozenset(cid for cid in self._failed_at if self.flaky(cid))

    def systemic_clusters(self) -> frozenset[str]:
        return frozenset(cid for cid in (*self._job_times, *self._systemic) if self.systemic(cid))

    def _observe_failure_place(self, finding: Finding) -> None:
        key = failure_test_key(finding)
        result = result_place(finding.workflow, finding.commit, finding.run)
        if key is None or result is None:
            return
        results = self._failed_at.setdefault(finding.cluster_id, set())
        if len(results) < self._cap:
            results.add((key, result))

    def _observe_job(self, finding: Finding) -> None:
        # Only CI jobs fan out: agent-worker events (no job) are separate tasks, never one systemic breakage.
        job = f"{finding.run}/{finding.job}" if finding.job else ""
        when = parse_timestamp(finding.timestamp) if finding.timestamp else None
        if not job or when is None or finding.cluster_id in self._systemic:
            return
        jobs = self._job_times.setdefault(finding.cluster_id, {})
        jobs[job] = min(when, jobs.get(job, when))
        if len(jobs) > self._cap:
            self._shrink(finding.cluster_id, jobs)

    def _shrink(self, cluster_id: str, jobs: dict[str, datetime]) -> None:
        # Over the cap: settle the answer now, else forget the oldest job (least likely to matter).
        if self.systemic(cluster_id):
            return
        oldest = min(jobs, key=lambda job: (jobs[job], job))
        del jobs[oldest]

    def _latch_systemic(self, cluster_id: str) -> None:
        # Systemic is monotone in the observations, so once true the job times can be dropped.
        self._systemic.add(cluster_id)
        self._job_times.pop(cluster_id, None)


def _other_run(failed_in: str, passed_in: str) -> bool:
    """Results from two different runs; an unknown run cannot be told apart, so it counts as another."""
    return not failed_in or not passed_in or failed_in != passed_in
