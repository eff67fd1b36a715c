"""API cost of a steady-state run: 50 known clusters, nothing new, against the fake GitHub.

Counts the HTTP requests of the issue forge and of the state branch separately (each has its own client),
for the third run, after a first run filed the issues and a second one settled the caches.
Run: `.venv/bin/python bench/api_cost.py`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from driver_support import cluster, report
from trace_harness.config import Config
from trace_harness.driver import Driver
from trace_harness.forge.github import GitHubForge
from trace_harness.ledger import Ledger
from trace_harness.state import BranchStore, DirectoryStore, StateStore
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub

CLUSTERS = 50


def _client(clock: FakeClock, cache: Any = None) -> GitHubForge:
    return GitHubForge("octo/demo", "t", clock=clock, sleep=clock.sleep, throttle=False, list_cache=cache)


def measure(branch: bool, state_dir: Path) -> dict[str, int]:
    clock = FakeClock()
    rep = report(*(cluster(f"validation-failure-{index:08x}", 3) for index in range(CLUSTERS)))
    with FakeGitHub("octo/demo", clock=clock) as gh:
        for _ in range(3):
            state_client = _client(clock)
            store: StateStore = BranchStore(state_client) if branch else DirectoryStore(state_dir)
            forge = _client(clock, store)
            config = Config(max_new_issues_per_run=CLUSTERS)
            driver = Driver(forge, store, config, ledger=Ledger(store, state_dir / "spool.jsonl"), clock=clock)
            before = len(gh.requests)
            result = driver.run(lambda: rep)
        assert result.exit_code == 0 and result.ledger.counts.created == 0
        return {
            "forge_requests": forge.requests_made,
            "state_requests": state_client.requests_made if branch else store.requests_made,
            "http_total": len(gh.requests) - before,
            "issues": len(gh.issues),
        }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, branch in (("state branch (Contents API)", True), ("state directory", False)):
            figures = measure(branch, Path(tmp) / name.split()[1])
            print(f"{name}: {figures}")


if __name__ == "__main__":
    main()
