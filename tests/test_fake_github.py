"""The fake GitHub itself: Actions listings, 302 downloads, fault recording and seeded determinism."""

from __future__ import annotations

import io
import zipfile

import requests

from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub
from trace_harness.testing.faults import Fault, FaultPlan

API = "https://api.github.com/repos/octo/demo"


def test_runs_jobs_logs_and_artifacts_download_through_redirects() -> None:
    with FakeGitHub("octo/demo", clock=FakeClock()) as fake:
        run = fake.git.add_run("ci.yml")
        job = fake.git.add_job(run, "test", "##[error]Process completed with exit code 1.")
        fake.git.add_artifact(run, "worker-logs", b"PK\x05\x06" + bytes(18))
        runs = requests.get(f"{API}/actions/workflows/ci.yml/runs", timeout=5).json()
        jobs = requests.get(f"{API}/actions/runs/{run}/jobs", timeout=5).json()
        log = requests.get(f"{API}/actions/jobs/{job}/logs", timeout=5)
        archive = requests.get(f"{API}/actions/runs/{run}/logs", timeout=5)
        artifacts = requests.get(f"{API}/actions/runs/{run}/artifacts", timeout=5).json()
    assert [r["id"] for r in runs["workflow_runs"]] == [run]
    assert [j["name"] for j in jobs["jobs"]] == ["test"]
    assert log.history[0].status_code == 302 and log.text.startswith("##[error]")
    assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist() == ["test.txt"]
    assert artifacts["artifacts"][0]["size_in_bytes"] == 22


def test_same_seed_injects_the_same_faults() -> None:
    def run(seed: int) -> list[tuple[int, str, str, Fault]]:
        plan = FaultPlan(seed=seed, rate=0.5, kinds=(Fault.SERVER_ERROR, Fault.TOO_MANY))
        with FakeGitHub("octo/demo", faults=plan):
            for _ in range(20):
                requests.get(f"{API}/issues", timeout=5)
        return plan.injected

    assert run(3) == run(3) and run(3) != run(4)
    assert 0 < len(run(3)) < 20


def test_every_request_is_recorded_even_when_it_fails() -> None:
    with FakeGitHub("octo/demo", faults=FaultPlan().at(0, Fault.TOO_MANY)) as fake:
        first = requests.post(f"{API}/issues", json={"title": "t"}, timeout=5)
        second = requests.post(f"{API}/issues", json={"title": "t"}, timeout=5)
    assert (first.status_code, second.status_code) == (429, 201)
    assert [r.json for r in fake.requests] == [{"title": "t"}, {"title": "t"}]
    assert len(fake.issues) == 1
