"""The recurrence window on the state BRANCH: manifests are read back in the run's one GraphQL batch and
pruned from the branch, on the fake GitHub (the directory case is in ``test_window``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from driver_support import START
from trace_harness.config import Config
from trace_harness.driver import Driver, RunResult
from trace_harness.forge.github import GitHubForge
from trace_harness.ledger import Ledger
from trace_harness.state import MANIFESTS, MAX_PRUNE_PER_RUN, BranchStore
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_git import blob_sha
from trace_harness.testing.fake_github import FakeGitHub
from trace_harness.testing.faults import Fault
from trace_harness.window import EvidenceWindow

REPO, BRANCH, TIMEOUT = "octo/demo", "trace-harness/state", "runner-timeout"


@dataclass
class Ran:
    result: RunResult
    state_requests: list[tuple[str, str]]  # (method, path) of the state client's requests

    def outcome(self) -> tuple[str, str, int]:
        (only,) = [o for o in self.result.outcomes if o.cluster_id == TIMEOUT]
        action = self.result.plan.action_for(TIMEOUT) if self.result.plan else None
        assert action is not None
        return only.action, only.reason, action.occurrences


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(REPO, clock=FakeClock(START)) as gh:
        yield gh


def worker_log(path: Path, *runs: str) -> Path:
    lines = [f'2026/01/10 09:0{n}:00 event=runner_timeout task_id={run} msg="timeout"' for n, run in enumerate(runs)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_once(fake: FakeGitHub, tmp_path: Path, log: Path, now: datetime = START, **config: object) -> Ran:
    """One run as the CLI wires it: the forge and the state branch each have their own client."""
    clock = FakeClock(now)
    state_client = GitHubForge(REPO, "t", clock=clock, sleep=clock.sleep, throttle=False)
    store = BranchStore(state_client, BRANCH)
    forge = GitHubForge(REPO, "t", clock=clock, sleep=clock.sleep, throttle=False, list_cache=store)
    cfg = Config.model_validate(config)
    window = EvidenceWindow(store, cfg, lambda: now)
    driver = Driver(forge, store, cfg, ledger=Ledger(store, tmp_path / "spool.jsonl"), clock=lambda: now,
                    public=False, window=window)  # fmt: skip
    before = len(fake.requests)
    result = driver.run(lambda: window.collect({"worker_log": [log]}))
    requests = [(r.method, r.path) for r in fake.requests[before:] if _is_state(r.path)]
    assert len(requests) == state_client.requests_made
    return Ran(result, requests)


def _is_state(path: str) -> bool:
    return not path.startswith((f"/repos/{REPO}/issues", f"/repos/{REPO}/labels"))  # what the issue forge asks


def manifests(fake: FakeGitHub) -> list[str]:
    return sorted(path for branch, path in fake.git.files if branch == BRANCH and path.startswith(f"{MANIFESTS}/"))


def put(path: str) -> tuple[str, str]:
    return ("PUT", f"/repos/{REPO}/contents/{path}")


def test_a_manifest_on_the_branch_makes_the_next_run_recur(fake: FakeGitHub, tmp_path: Path) -> None:
    first = run_once(fake, tmp_path, worker_log(tmp_path / "a.log", "run-1"))
    assert first.outcome() == ("skip", "below-threshold", 1)
    (stored,) = manifests(fake)
    assert first.result.ledger.run_id in stored
    second = run_once(fake, tmp_path, worker_log(tmp_path / "b.log", "run-2"), START + timedelta(hours=6))
    assert second.outcome() == ("create", "recurring", 2)
    assert [o.result for o in second.result.outcomes] == ["created"] and len(fake.issues) == 1
    new = f"{MANIFESTS}/{(START + timedelta(hours=6)).date().isoformat()}-{second.result.ledger.run_id}.json"
    assert manifests(fake) == sorted([stored, new])
    read, *writes = second.state_requests
    assert read == ("POST", "/graphql") and all(method == "PUT" for method, _path in writes)  # one read, then writes
    assert [path for _m, path in writes if f"/{MANIFESTS}/" in path] == [put(new)[1]]


def test_a_run_with_nothing_new_costs_two_state_requests(fake: FakeGitHub, tmp_path: Path) -> None:
    log = worker_log(tmp_path / "a.log", "run-1")
    run_once(fake, tmp_path, log)
    run_once(fake, tmp_path, worker_log(tmp_path / "b.log", "run-2"), START + timedelta(hours=1))
    steady = run_once(fake, tmp_path, log, START + timedelta(hours=2))
    assert steady.outcome()[2] == 2 and len(manifests(fake)) == 2  # still recurs; no manifest written
    assert steady.state_requests == [("POST", "/graphql"), put("ledger.jsonl")]


def test_manifests_past_the_window_are_deleted_from_the_branch(fake: FakeGitHub, tmp_path: Path) -> None:
    run_once(fake, tmp_path, worker_log(tmp_path / "a.log", "run-1"))
    (old,) = manifests(fake)
    fake.faults.on("DELETE", "/contents/", Fault.APPLIED_BAD_GATEWAY)  # deleted, answer lost: the retry's 404 is fine
    later = START + timedelta(days=3)
    ran = run_once(fake, tmp_path, worker_log(tmp_path / "b.log", "run-2"), later, window="2d")
    assert ran.outcome() == ("skip", "below-threshold", 1)
    assert [name.split("/")[1][:10] for name in manifests(fake)] == [later.date().isoformat()]
    assert [r for r in ran.state_requests if r[0] == "DELETE"] == [("DELETE", f"/repos/{REPO}/contents/{old}")] * 2
    assert ran.result.exit_code == 0


def test_a_neglected_branch_is_pruned_a_few_files_per_run(fake: FakeGitHub, tmp_path: Path) -> None:
    run_once(fake, tmp_path, worker_log(tmp_path / "a.log", "run-1"))  # creates the branch
    for index in range(MAX_PRUNE_PER_RUN + 3):
        content = b'{"schema": "not even read"}'
        fake.git.files[(BRANCH, f"{MANIFESTS}/2025-06-01-old{index:02d}.json")] = (content, blob_sha(content))
    log = worker_log(tmp_path / "b.log", "run-2")
    first = run_once(fake, tmp_path, log, START + timedelta(hours=1))
    assert sum(method == "DELETE" for method, _path in first.state_requests) == MAX_PRUNE_PER_RUN
    assert len(manifests(fake)) == 2 + 3
    second = run_once(fake, tmp_path, log, START + timedelta(hours=2))
    assert sum(method == "DELETE" for method, _path in second.state_requests) == 3
    assert all("2025-06-01" not in name for name in manifests(fake))
    assert first.outcome()[2] == second.outcome()[2] == 2  # the stale ones never counted


def test_a_manifest_too_big_for_graphql_is_read_through_the_contents_api(fake: FakeGitHub, tmp_path: Path) -> None:
    run_once(fake, tmp_path, worker_log(tmp_path / "a.log", "run-1"))
    fake.git.graphql_text_limit = 64  # the stored manifest now comes back truncated
    ran = run_once(fake, tmp_path, worker_log(tmp_path / "b.log", "run-2"), START + timedelta(hours=6))
    assert ran.outcome() == ("create", "recurring", 2)
    (old,) = [name for name in manifests(fake) if ran.result.ledger.run_id not in name]
    reads = [request for request in ran.state_requests if request[0] in ("GET", "POST")]
    assert reads[0] == ("POST", "/graphql") and ("GET", f"/repos/{REPO}/contents/{old}") in reads[1:]
    assert reads.count(("POST", "/graphql")) == 1  # the truncated blobs (run files too, here) are read one by one
