"""`trace-harness run`, `plan` and `issues` end to end, with the local forge and the fake GitHub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from driver_support import cluster, report
from trace_harness import fingerprint
from trace_harness.cli import main
from trace_harness.cli.run_cmd import SHORT_ID_CHARS, short_id
from trace_harness.forge import github as github_module
from trace_harness.forge.local import LocalForge
from trace_harness.report import report_json
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub
from trace_harness.testing.fake_http import API
from trace_harness.testing.faults import Fault, FaultPlan

A, B = "validation-failure-0000000a", "validation-failure-0000000b"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL", "GITHUB_EVENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.json").write_text(report_json(report(cluster(A), cluster(B, 1))))
    return tmp_path


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_first_run_files_and_second_run_says_why_not(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "run", "--report", "report.json")
    assert code == 0 and "Filed 1" in out and f"{A}" in out and "created" in out
    code, out, _ = _cli(capsys, "run", "--report", "report.json")
    assert code == 0
    assert "Nothing new to file (below-threshold: 1, duplicate-unchanged: 1)" in out
    lines = (workdir / ".trace-harness" / "ledger.jsonl").read_text().splitlines()
    assert [json.loads(line)["trigger"] for line in lines] == ["manual", "manual"]


def test_plan_prints_json_and_writes_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "plan", "--report", "report.json")
    plan = json.loads(out)
    assert code == 0 and plan["schema"] == "trace-harness-plan/v1"
    assert {action["cluster_id"]: action["action"] for action in plan["actions"]} == {A: "create", B: "skip"}
    assert not (workdir / ".trace-harness").exists()
    code, out, _ = _cli(capsys, "run", "--dry-run", "--report", "report.json")
    assert code == 0 and "Dry run" in out and not (workdir / ".trace-harness").exists()


def test_issues_lists_the_design_shape(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _cli(capsys, "run", "--report", "report.json")
    code, out, _ = _cli(capsys, "issues", "--json")
    (row,) = json.loads(out)
    assert code == 0
    assert set(row) == {"number", "title", "state", "state_reason", "labels", "cluster_id", "url"}
    assert row["cluster_id"] == A and row["state"] == "open"
    code, out, _ = _cli(capsys, "issues")
    assert A in out and "open" in out


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["run", "--report", "missing.json"], 2),
        (["run", "--report", "report.json", "--evidence", "x"], 2),
        (["run", "--forge", "github", "--report", "report.json"], 2),
        (["run", "--evidence", "no-such-dir"], 2),
    ],
)
def test_usage_errors_exit_two_without_traceback(
    workdir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int
) -> None:
    got, _, err = _cli(capsys, *argv)
    assert got == code
    assert err.startswith("trace-harness: error:") and "Traceback" not in err


def test_disabled_config_exits_zero(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "off.yml").write_text("enabled: false\n")
    code, out, _ = _cli(capsys, "run", "--config", "off.yml", "--report", "report.json")
    assert code == 0 and "disabled" in out


def test_bad_config_exits_two(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "bad.yml").write_text("bogus: 1\n")
    code, _, err = _cli(capsys, "run", "--config", "bad.yml", "--report", "report.json")
    assert code == 2 and "unknown key" in err


def test_trigger_comes_from_the_actions_event(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_EVENT_NAME", "schedule")
    _cli(capsys, "run", "--report", "report.json")
    line = json.loads((workdir / ".trace-harness" / "ledger.jsonl").read_text())
    assert line["trigger"] == "schedule"


class QuietGitHubForge(github_module.GitHubForge):
    """The real adapter with the pacer off and a fake clock: the CLI test never sleeps."""

    def __init__(self, repo: str, token: str, **kwargs: Any) -> None:
        clock = FakeClock()
        super().__init__(repo, token, clock=clock, sleep=clock.sleep, throttle=False, **kwargs)


@pytest.fixture
def github_env(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A token and repository in the environment, served by the quiet adapter (then the fake GitHub)."""
    monkeypatch.setattr(github_module, "GitHubForge", QuietGitHubForge)
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/demo")
    return monkeypatch


@pytest.mark.parametrize("api", [API, "https://ghe.example.com/api/v3"])  # github.com, GitHub Enterprise Server
def test_github_run_uses_the_state_branch_and_files_once(
    workdir: Path, capsys: pytest.CaptureFixture[str], github_env: pytest.MonkeyPatch, api: str
) -> None:
    github_env.setenv("GITHUB_API_URL", api)  # the fake answers only there: any other host fails the run
    with FakeGitHub("octo/demo", api=api) as gh:
        first, out, err = _cli(capsys, "run", "--report", "report.json")
        assert first == 0, err
        second, out, _ = _cli(capsys, "run", "--report", "report.json")
        assert second == 0 and "Nothing new to file" in out
        assert len(gh.issues) == 1
        code, out, _ = _cli(capsys, "issues", "--json")
        assert code == 0 and [row["cluster_id"] for row in json.loads(out)] == [A]
    assert not (workdir / ".trace-harness").exists()  # state lives on the branch


@pytest.mark.skipif(not any(Path("examples/evidence").glob("*")), reason="bundled sample evidence not present")
def test_bundled_evidence_shows_the_whole_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "state"
    code, out, _ = _cli(capsys, "run", "--state-dir", str(state))
    assert code == 0 and "Filed" in out
    code, out, _ = _cli(capsys, "run", "--state-dir", str(state))
    assert code == 0 and "Nothing new to file" in out


FIXTURES = Path(__file__).parent / "fixtures"
ROUTED = {
    "worker/mixed.log": "worker_log",
    "actions/pytest_module_missing.txt": "actions_log",
    "junit/pytest_suites.xml": "junit",
    "jsonl/ops_events.jsonl": "jsonl",
}


@pytest.fixture
def evidence(workdir: Path) -> Path:
    folder = workdir / "evidence"
    (folder / "nested").mkdir(parents=True)
    for name in ROUTED:
        (folder / "nested" / Path(name).name).write_bytes((FIXTURES / name).read_bytes())
    (folder / "notes.txt").write_text("a note no reader takes\n")
    return folder


def test_every_kind_of_evidence_is_read_once_and_the_rerun_says_why(
    workdir: Path, evidence: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, "run", "--state-dir", "st", "--evidence", str(evidence))
    assert code == 0 and "Filed 1" in out
    header = out.splitlines()[0].split()
    assert header == ["cluster", "action", "reason", "issue", "occurrences", "result"]
    assert "Why:" in out and out.strip().splitlines()[-1].startswith("Totals: ")
    line = json.loads((workdir / "st" / "ledger.jsonl").read_text())
    assert sorted(i["type"] for i in line["inputs"]) == sorted(ROUTED.values())  # each file by one reader
    assert line["evidence_problems"] >= 1  # notes.txt is counted, never silently skipped
    code, out, _ = _cli(capsys, "run", "--state-dir", "st", "--evidence", str(evidence))
    assert code == 0 and "Nothing new to file" in out
    assert "duplicate-unchanged: its issue already shows this evidence" in out
    assert "below-threshold: not recurring yet" in out


def test_plan_out_is_written_by_plan_and_dry_run(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed, _ = _cli(capsys, "plan", "--report", "report.json", "--plan-out", "out/plan.json")
    assert code == 0 and json.loads((workdir / "out" / "plan.json").read_text()) == json.loads(printed)
    code, _, _ = _cli(capsys, "run", "--dry-run", "--report", "report.json", "--plan-out", "dry.json")
    plan = json.loads((workdir / "dry.json").read_text())
    assert code == 0 and plan["schema"] == "trace-harness-plan/v1" and plan == json.loads(printed)
    assert not (workdir / ".trace-harness").exists()


def test_issues_reads_the_local_forge_of_a_state_dir(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _cli(capsys, "run", "--state-dir", "elsewhere", "--report", "report.json")
    code, out, _ = _cli(capsys, "issues", "--state-dir", "elsewhere", "--json")
    assert code == 0 and [row["cluster_id"] for row in json.loads(out)] == [A]
    _, out, _ = _cli(capsys, "issues", "--json")
    assert json.loads(out) == []


def test_issue_bodies_link_the_actions_run(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("GITHUB_SERVER_URL", "https://github.com"), ("GITHUB_REPOSITORY", "octo/demo"),
                        ("GITHUB_RUN_ID", "77")):  # fmt: skip
        monkeypatch.setenv(name, value)
    _cli(capsys, "run", "--report", "report.json")
    with LocalForge(workdir / ".trace-harness" / "forge.sqlite") as forge:
        (issue,) = forge.tracked_issues()
    assert "https://github.com/octo/demo/actions/runs/77" in issue.body


def test_recurrence_counts_the_evidence_of_earlier_runs(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for run in ("run-1", "run-2"):
        log = workdir / f"{run}.log"
        log.write_text(f'2026/01/10 09:00:00 event=runner_timeout task_id={run} msg="timeout"\n')
        code, out, _ = _cli(capsys, "run", "--evidence", str(log))
    assert code == 0 and "runner-timeout" in out and "recurring" in out and "Filed 1" in out


def test_short_ids_keep_the_identifying_hex() -> None:
    assert short_id("validation-failure-0000000a") == "validation-failure-0000000a"
    long_id = "context-limit-and-something-long-1234abcd"
    assert short_id(long_id).endswith("-1234abcd") and len(short_id(long_id)) == SHORT_ID_CHARS


def test_a_malformed_repository_name_is_refused_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    assert main(["run", "--repo", "not a repo", "--state-dir", str(tmp_path), "--dry-run"]) == 2
    assert "not a repository name: 'not a repo'" in capsys.readouterr().err


def test_a_fingerprint_version_bump_adopts_the_tracking_issues_of_the_old_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every non-worker id moves with the version (it is hashed in); the report's ``id_aliases`` map the old
    ids to the new ones, so the next run plans against the existing issues instead of filing duplicates."""
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "state"
    assert _cli(capsys, "run", "--state-dir", str(state))[0] == 0
    with LocalForge(state / "forge.sqlite") as forge:
        before = {issue.number: issue.cluster_id for issue in forge.tracked_issues()}
    monkeypatch.setitem(fingerprint.NORMALIZERS, 2, fingerprint.normalize_v1)
    monkeypatch.setitem(fingerprint.CANONICALIZERS, 2, fingerprint.CANONICALIZERS[1])
    monkeypatch.setattr(fingerprint, "FINGERPRINT_VERSION", 2)
    code, out, _ = _cli(capsys, "plan", "--state-dir", str(state))
    assert code == 0
    actions = json.loads(out)["actions"]
    adopted = {action["issue"]: action["cluster_id"] for action in actions if action["issue"] is not None}
    assert not [action for action in actions if action["action"] == "create"]
    assert set(adopted) == set(before)
    moved = {number for number, cluster_id in before.items() if adopted[number] != cluster_id}
    assert moved and all(not before[number].startswith(("runner-", "input-")) for number in moved)


def test_a_rejected_token_is_one_clear_error_and_exit_one(
    capsys: pytest.CaptureFixture[str], github_env: pytest.MonkeyPatch
) -> None:
    github_env.setenv("GITHUB_TOKEN", "ghp_" + "R" * 36)
    with FakeGitHub("octo/demo", faults=FaultPlan().on("GET", r".*", Fault.BAD_CREDENTIALS, times=100)) as gh:
        code, out, err = _cli(capsys, "run", "--report", "report.json")
        assert not gh.issues
    assert code == 1
    assert "401" in err and "Bad credentials" in err and "Traceback" not in err + out
    assert "R" * 36 not in err + out


@pytest.mark.usefixtures("github_env")
def test_a_connect_timeout_on_a_write_is_retried_once_sent(capsys: pytest.CaptureFixture[str]) -> None:
    """A connect time-out means the request never left: unlike a read time-out, a create is safe to retry."""
    faults = FaultPlan().on("POST", r"/repos/octo/demo/issues$", Fault.CONNECT_TIMEOUT, times=2)
    with FakeGitHub("octo/demo", faults=faults) as gh:
        code, _, err = _cli(capsys, "run", "--report", "report.json")
        assert code == 0, err
        assert len(gh.issues) == 1 and gh.count("POST", r"/repos/octo/demo/issues$") == 3
    assert [fault for *_, fault in faults.injected] == [Fault.CONNECT_TIMEOUT] * 2
