"""Actions evidence collection against the fake GitHub: failed runs in the window, logs, artifacts, caps, cursor."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trace_harness.cli import main
from trace_harness.collect import (
    ActionsCollector,
    ActionsEvidence,
    Collected,
    Cursor,
    Limits,
    keep_tail,
    load_cursor,
    plan_runs,
    slug,
)
from trace_harness.config import Config
from trace_harness.forge import github as github_module
from trace_harness.forge.base import WorkflowRun
from trace_harness.forge.github import GitHubForge
from trace_harness.models import Report
from trace_harness.report import build_report
from trace_harness.state import DirectoryStore
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub
from trace_harness.testing.fake_http import API
from trace_harness.testing.faults import Fault

REPO = "octo/demo"
LOG = "2026-01-01T00:00:00.0000000Z ##[group]Run pytest\n2026-01-01T00:00:01.0000000Z ##[error]Process completed\n"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeGitHub]:
    with FakeGitHub(REPO, clock=clock) as gh:
        yield gh


@pytest.fixture
def forge(fake: FakeGitHub, clock: FakeClock) -> GitHubForge:
    return GitHubForge(REPO, "secret-token", clock=clock, sleep=clock.sleep, throttle=False)


def zipped(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def seed_failed_run(fake: FakeGitHub, workflow: str = "ci.yml", job_name: str = "test (3.12)") -> tuple[int, int]:
    run_id = fake.git.add_run(workflow)
    job_id = fake.git.add_job(run_id, job_name, LOG)
    fake.git.add_job(run_id, "lint", LOG, conclusion="success")
    return run_id, job_id


def collect(forge: GitHubForge, dest: Path, clock: FakeClock, cursor: Cursor | None = None, **limits: int) -> Collected:
    collector = ActionsCollector(forge.actions, dest, Limits(**limits))
    return collector.collect(["ci.yml"], ["worker-logs*"], clock() - timedelta(days=7), cursor or Cursor())


def test_only_failed_runs_of_the_workflow_inside_the_window_are_listed(
    fake: FakeGitHub, forge: GitHubForge, clock: FakeClock
) -> None:
    old = fake.git.add_run("ci.yml", created_at="2025-12-01T00:00:00Z")
    wanted = [fake.git.add_run("ci.yml"), fake.git.add_run("ci.yml", conclusion="timed_out")]
    fake.git.add_run("ci.yml", conclusion="success")
    fake.git.add_run("ci.yml", conclusion="cancelled")
    fake.git.add_run("release.yml")
    runs = forge.actions.failed_runs("ci.yml", clock() - timedelta(days=7))
    assert sorted(run.id for run in runs) == sorted(wanted) and old not in [run.id for run in runs]
    listing = next(r for r in fake.requests if r.path.endswith("/workflows/ci.yml/runs"))
    assert listing.params["status"] == "completed" and listing.params["created"] == ">=2025-12-25T00:00:00Z"


def test_failed_job_logs_and_matching_artifacts_are_saved_under_id_names(
    fake: FakeGitHub, forge: GitHubForge, clock: FakeClock, tmp_path: Path
) -> None:
    run_id, job_id = seed_failed_run(fake, job_name="../../etc/passwd ghp_" + "a" * 36)
    kept = fake.git.add_artifact(run_id, "worker-logs-1", zipped("worker.log", "x"))
    fake.git.add_artifact(run_id, "coverage", zipped("c.xml", "y"))
    result = collect(forge, tmp_path, clock)
    [log_name] = [name for name in result.files if name.endswith(".log")]
    assert log_name.startswith(f"run-{run_id}/job-{job_id}-") and ".." not in log_name and "ghp_" not in log_name
    assert (tmp_path / log_name).read_text() == LOG
    assert result.files == (log_name, f"run-{run_id}/artifact-{kept}-worker-logs-1.zip")
    assert result.cursor == Cursor(actions={"ci.yml": run_id})


def test_the_token_never_reaches_the_blob_host(fake: FakeGitHub, forge: GitHubForge, tmp_path: Path) -> None:
    run_id, job_id = seed_failed_run(fake)
    fake.git.add_artifact(run_id, "worker-logs", zipped("w.log", "x"))
    assert b"".join(forge.actions.job_log(job_id)) == LOG.encode()
    assert b"".join(forge.actions.artifact_zip(next(iter(fake.git.artifacts)))).startswith(b"PK")
    assert len(fake.download_requests) == 2
    assert all("authorization" not in headers for _key, headers in fake.download_requests)
    assert all("secret-token" not in str(headers) for _key, headers in fake.download_requests)


def test_a_second_collection_with_the_cursor_downloads_nothing_new(
    fake: FakeGitHub, forge: GitHubForge, clock: FakeClock, tmp_path: Path
) -> None:
    seed_failed_run(fake)
    first = collect(forge, tmp_path / "1", clock)
    downloads = len(fake.download_requests)
    second = collect(forge, tmp_path / "2", clock, cursor=first.cursor)
    assert second.files == () and len(fake.download_requests) == downloads
    assert second.cursor == first.cursor
    newer, _job = seed_failed_run(fake)
    third = collect(forge, tmp_path / "3", clock, cursor=first.cursor)
    assert [name.split("/")[0] for name in third.files] == [f"run-{newer}"]


def test_a_long_log_keeps_its_tail_and_is_counted(
    fake: FakeGitHub, forge: GitHubForge, clock: FakeClock, tmp_path: Path
) -> None:
    run_id = fake.git.add_run("ci.yml")
    fake.git.add_job(run_id, "big", "".join(f"line {n:05d}\n" for n in range(2_000)))
    result = collect(forge, tmp_path, clock, max_log_bytes=1000)
    [name] = result.files
    text = (tmp_path / name).read_text()
    assert len(text) <= 1000 and text.endswith("line 01999\n") and text.startswith("line ")
    assert [p.reason for p in result.problems] == ["job log cut"]


def test_a_too_large_artifact_is_skipped_and_counted(
    fake: FakeGitHub, forge: GitHubForge, clock: FakeClock, tmp_path: Path
) -> None:
    run_id, _job = seed_failed_run(fake)
    fake.git.add_artifact(run_id, "worker-logs", b"PK" + b"0" * 5000)
    result = collect(forge, tmp_path, clock, max_artifact_bytes=1000)
    assert [p.reason for p in result.problems] == ["artifact too large"]
    assert not any(name.endswith(".zip") for name in result.files)
    assert not any(key.startswith("artifacts/") for key, _h in fake.download_requests)  # skipped before download


def test_the_total_budget_stops_collection_and_holds_the_cursor(
    fake: FakeGitHub, forge: GitHubForge, clock: FakeClock, tmp_path: Path
) -> None:
    first, _ = seed_failed_run(fake)
    seed_failed_run(fake)
    result = collect(forge, tmp_path, clock, max_total_bytes=len(LOG) + 10)
    assert [name.split("/")[0] for name in result.files] == [f"run-{first}"]
    assert [p.reason for p in result.problems] == ["byte budget spent"]
    assert result.cursor == Cursor(actions={"ci.yml": first})
    assert sum((tmp_path / name).stat().st_size for name in result.files) <= len(LOG) + 10


def test_a_failed_download_is_a_counted_problem_not_a_failure(
    fake: FakeGitHub, forge: GitHubForge, clock: FakeClock, tmp_path: Path
) -> None:
    run_id, job_id = seed_failed_run(fake)
    gone = fake.git.add_job(run_id, "expired", LOG)
    del fake.git.downloads[f"logs/job-{gone}.txt"]
    fake.faults.on("GET", rf"/jobs/{job_id}/logs$", Fault.SERVER_ERROR, times=5)
    result = collect(forge, tmp_path, clock)
    assert result.files == ()
    assert [p.reason for p in result.problems] == ["job log download failed"] * 2
    assert result.cursor == Cursor(actions={"ci.yml": run_id})


def test_an_unknown_workflow_is_a_counted_problem(forge: GitHubForge, clock: FakeClock, tmp_path: Path) -> None:
    collector = ActionsCollector(forge.actions, tmp_path)
    result = collector.collect(["ci.yml", "nope.yml"], [], clock() - timedelta(days=7), Cursor())
    assert result.files == ()
    assert [(p.path, p.reason) for p in result.problems] == [("actions:nope.yml", "workflow runs unavailable")]


def test_plan_runs_keeps_the_newest_past_the_cursor(clock: FakeClock) -> None:
    runs = [WorkflowRun(id=n, workflow="ci.yml", created_at=clock()) for n in (5, 1, 9, 7, 3)]
    assert [run.id for run in plan_runs(runs, 3, Limits(max_runs_per_workflow=2))] == [7, 9]
    assert plan_runs(runs, 9, Limits()) == []


@given(st.lists(st.binary(max_size=50), max_size=30), st.integers(1, 200))
def test_keep_tail_is_a_bounded_suffix(chunks: list[bytes], cap: int) -> None:
    data = b"".join(chunks)
    kept, cut = keep_tail(chunks, cap, len(data) + 1)
    assert len(kept) <= cap and data.endswith(kept) and cut == (len(data) > cap)


@given(st.text(max_size=100))
def test_slug_is_always_a_safe_file_name(name: str) -> None:
    safe = slug(name)
    assert safe and "/" not in safe and safe not in (".", "..") and len(safe) <= 60


# -- the loader the CLI uses ---------------------------------------------------------------------------


def folder_reader(seen: list[list[str]]) -> Callable[[list[Path]], Report]:
    def read(paths: list[Path]) -> Report:
        seen.append(sorted(p.relative_to(paths[0]).as_posix() for p in paths[0].rglob("*") if p.is_file()))
        return build_report([], [], generated_at="2026-01-01T00:00:00Z")

    return read


def test_loader_reads_the_folder_and_commits_the_cursor_only_when_asked(
    fake: FakeGitHub, forge: GitHubForge, clock: FakeClock, tmp_path: Path
) -> None:
    run_id, job_id = seed_failed_run(fake)
    gone = fake.git.add_job(run_id, "expired", LOG)
    del fake.git.downloads[f"logs/job-{gone}.txt"]
    store, seen = DirectoryStore(tmp_path / "state"), list[list[str]]()
    loader = ActionsEvidence(forge.actions, store, Config(), folder_reader(seen), clock=clock)
    report = loader()
    assert seen == [[f"run-{run_id}/job-{job_id}-test-3.12.log"]]
    assert [p.reason for p in report.evidence_problems] == ["job log download failed"]
    assert load_cursor(store) == Cursor()
    loader.commit()
    assert load_cursor(DirectoryStore(tmp_path / "state")) == Cursor(actions={"ci.yml": run_id})
    again = ActionsEvidence(forge.actions, DirectoryStore(tmp_path / "state"), Config(), folder_reader(seen))
    assert again().clusters == () and len(seen) == 1  # nothing new: an empty report, the reader not called


def test_without_actions_the_loader_collects_nothing(tmp_path: Path) -> None:
    seen: list[list[str]] = []
    loader = ActionsEvidence(None, DirectoryStore(tmp_path), Config(), folder_reader(seen))
    assert loader().clusters == () and seen == []
    loader.commit()
    assert not (tmp_path / "cursor.json").exists()


# -- `trace-harness run` on the GitHub forge without --evidence ------------------------------------------

FAILING_LOG = (
    "2026-01-01T00:00:00.0000000Z ##[group]Run pytest -q\n"
    "2026-01-01T00:00:01.0000000Z FAILED tests/test_api.py::test_login - AssertionError: assert 401 == 200\n"
    "2026-01-01T00:00:02.0000000Z ##[error]Process completed with exit code 1.\n"
)


class QuietGitHubForge(github_module.GitHubForge):
    """The real adapter with the pacer off and a fake clock: the CLI test never sleeps."""

    def __init__(self, repo: str, token: str, **kwargs: Any) -> None:
        clock = FakeClock()
        super().__init__(repo, token, clock=clock, sleep=clock.sleep, throttle=False, **kwargs)


@pytest.mark.parametrize("api", [API, "https://ghe.example.com/api/v3"])  # github.com, GitHub Enterprise Server
def test_run_collects_actions_evidence_once_and_keeps_the_cursor_on_the_branch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, api: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(github_module, "GitHubForge", QuietGitHubForge)
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", api)  # the fake answers only there: any other host fails the run
    with FakeGitHub(REPO, api=api) as gh:
        run_id = gh.git.add_run("ci.yml")
        gh.git.add_job(run_id, "test", FAILING_LOG)
        assert main(["run", "--dry-run"]) == 0 and ("trace-harness/state", "cursor.json") not in gh.git.files
        assert main(["run"]) == 0, capsys.readouterr().err
        assert gh.count("POST", "^/graphql$") and gh.download_requests  # the state read, the log download
        cursor = json.loads(gh.git.files[("trace-harness/state", "cursor.json")][0])
        assert cursor == {"schema": "trace-harness-cursor/v1", "actions": {"ci.yml": run_id}}
        ledger = [json.loads(line) for line in gh.git.files[("trace-harness/state", "ledger.jsonl")][0].splitlines()]
        assert [i["type"] for i in ledger[-1]["inputs"]] == ["actions_log"] and ledger[-1]["window"] == "7d"
        downloads = len(gh.download_requests)
        assert main(["run"]) == 0
        assert (
            len(gh.download_requests) == downloads
            and json.loads(gh.git.files[("trace-harness/state", "ledger.jsonl")][0].splitlines()[-1])["exit_code"] == 0
        )
    assert not (tmp_path / ".trace-harness").exists()
