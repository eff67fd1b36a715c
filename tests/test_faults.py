"""Fault injection: hundreds of seeded runs against the fake GitHub with faults at random requests.

Faults hit the issue forge and the state branch alike: 5xx, 403 secondary limits with Retry-After, 429,
timeouts, connection resets, and writes applied whose response is lost. After the faults stop (one clean
run), every qualifying cluster has exactly one open tracking issue and the ledger holds every run once.
Nothing sleeps: the adapters wait on a fake clock.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from driver_support import cluster, report
from trace_harness.config import Config
from trace_harness.driver import Driver
from trace_harness.forge.github import GitHubForge
from trace_harness.ledger import Ledger, parse_lines
from trace_harness.models import Cluster, Report
from trace_harness.state import BranchStore
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub
from trace_harness.testing.faults import TRANSIENT_FAULTS, FaultPlan

REPO = "octo/demo"
SEEDS = 125  # x (3 faulty runs + 1 clean run) = 500 runs
FAULTY_RUNS = 3
IDS = [f"validation-failure-{index:08x}" for index in range(1, 7)]


def _client(clock: FakeClock, cache: Any = None) -> GitHubForge:
    return GitHubForge(REPO, "t", clock=clock, sleep=clock.sleep, throttle=False, list_cache=cache)


def _run(clock: FakeClock, spool: Path, rep: Report, config: Config | None = None) -> tuple[str, int]:
    """One run as a fresh process would do it: new clients, new store, same spool and branch."""
    store = BranchStore(_client(clock))
    driver = Driver(_client(clock, store), store, config or Config(max_new_issues_per_run=10),
                    ledger=Ledger(store, spool), clock=clock, public=False)  # fmt: skip
    result = driver.run(lambda: rep)
    return result.ledger.run_id, result.exit_code


def _random_report(rng: random.Random) -> Report:
    chosen = rng.sample(IDS, rng.randint(1, len(IDS)))
    return report(*(_cluster(rng, cluster_id) for cluster_id in sorted(chosen)))


def _cluster(rng: random.Random, cluster_id: str) -> Cluster:
    refs = tuple(f"logs/{cluster_id}-{n}.log:1" for n in range(rng.randint(1, 3)))
    return cluster(cluster_id, rng.randint(1, 4), refs=refs)


def _open_by_cluster(gh: FakeGitHub) -> dict[str, list[int]]:
    issues = _client(FakeClock()).tracked_issues()
    grouped: dict[str, list[int]] = {}
    for issue in issues:
        if issue.state == "open" and issue.cluster_id:
            grouped.setdefault(issue.cluster_id, []).append(issue.number)
    return grouped


def _one_seed(seed: int, tmp: Path) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    faults = FaultPlan(seed=seed, rate=rng.choice([0.05, 0.15, 0.3]), kinds=TRANSIENT_FAULTS)
    spool = tmp / f"spool-{seed}.jsonl"
    with FakeGitHub(REPO, clock=clock, faults=faults) as gh:
        run_ids = [_run(clock, spool, _random_report(rng))[0] for _ in range(FAULTY_RUNS)]
        faults.rate = 0.0
        final = report(*(cluster(cluster_id, 5, refs=("logs/final.log:1",)) for cluster_id in IDS))
        final_id, code = _run(clock, spool, final)
        context = f"seed {seed}: injected {len(faults.injected)} fault(s)"
        assert code == 0, context
        grouped = _open_by_cluster(gh)
        assert grouped.keys() == set(IDS), f"{context}: open issues {grouped}"
        assert all(len(numbers) == 1 for numbers in grouped.values()), f"{context}: twins left {grouped}"
        ledger = [line.run_id for line in parse_lines(BranchStore(_client(clock)).ledger_text())]
        assert sorted(ledger) == sorted([*run_ids, final_id]), f"{context}: ledger {ledger}"


@pytest.mark.slow
@pytest.mark.parametrize("block", range(5))
def test_faults_then_a_clean_run_leave_exactly_one_issue_per_cluster(block: int, tmp_path: Path) -> None:
    for seed in range(block * SEEDS // 5, (block + 1) * SEEDS // 5):
        _one_seed(seed, tmp_path)


class Interleaving:
    """A forge that runs another whole run just before its first create: the classic overlap."""

    def __init__(self, inner: GitHubForge, other_run: Any) -> None:
        self.inner = inner
        self.other_run = other_run

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create_issue(self, title: str, body: str, labels: Any) -> Any:
        if self.other_run is not None:
            other, self.other_run = self.other_run, None
            other()
        return self.inner.create_issue(title, body, labels)


@pytest.mark.parametrize("seed", range(20))
def test_overlapping_runs_leave_one_issue_per_cluster(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    rep = report(*(cluster(cluster_id, 3) for cluster_id in IDS[: rng.randint(1, 4)]))
    with FakeGitHub(REPO, clock=clock) as gh:
        store = BranchStore(_client(clock))
        forge = Interleaving(_client(clock, store), lambda: _run(clock, tmp_path / "b.jsonl", rep))
        driver = Driver(forge, store, Config(), ledger=Ledger(store, tmp_path / "a.jsonl"), clock=clock, public=False)
        assert driver.run(lambda: rep).exit_code == 0, f"seed {seed}"
        grouped = _open_by_cluster(gh)
        assert all(len(numbers) == 1 for numbers in grouped.values()), f"seed {seed}: {grouped}"
        assert set(grouped) == {c.id for c in rep.clusters}, f"seed {seed}"
        _run(clock, tmp_path / "c.jsonl", rep)
        assert _open_by_cluster(gh) == grouped, f"seed {seed}: a later run changed the issues"
        assert len(parse_lines(BranchStore(_client(clock)).ledger_text())) == 3, f"seed {seed}"
