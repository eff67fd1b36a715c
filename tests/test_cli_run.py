"""`trace-harness run`, `plan` and `issues` end to end, with the local forge and the fake GitHub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from driver_support import cluster, report
from trace_harness.cli import main
from trace_harness.forge import github as github_module
from trace_harness.report import report_json
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub

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


def test_github_run_uses_the_state_branch_and_files_once(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(github_module, "GitHubForge", QuietGitHubForge)
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/demo")
    with FakeGitHub("octo/demo") as gh:
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
