"""`trace-harness report` and `trace-harness manifest` end to end through the CLI entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trace_harness.cli import exit_process, main

FIXTURES = Path(__file__).parent / "fixtures" / "worker"
TOKEN = "ghp_R2d5Zk9sQ1x8Vb7Nm3Lp0Tq4Wc6Yh2Jf8Dsx"


def test_report_writes_json_and_evaluator_results(tmp_path: Path) -> None:
    out, results = tmp_path / "r.json", tmp_path / "e.json"
    code = main(["report", "--worker-log", str(FIXTURES / "mixed.log"), "--json-out", str(out),
                 "--evaluator-results-out", str(results)])  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text())
    ids = [cluster["id"] for cluster in report["clusters"]]
    assert ids == ["input-required", "malformed-protocol", "runner-failure", "runner-timeout", "tool-unsupported"]
    assert "ghs_AAAA" not in out.read_text() and "x-access-token" not in out.read_text()
    assert json.loads(results.read_text())["schema_version"] == "trace-harness-advisory-evaluator-results/v1"


def test_report_to_stdout_and_manifest_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "m.json"
    assert main(["manifest", "--worker-log", str(FIXTURES / "mixed.log"), "--json-out", str(manifest)]) == 0
    assert main(["report", "--evidence-manifest", str(manifest)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["clusters"]) == 5
    assert report["inputs"][0]["type"] == "evidence_manifest"


def test_missing_inputs_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == 2
    assert main(["manifest"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert errors == [
        "trace-harness: error: at least one --worker-log or --evidence-manifest is required",
        "trace-harness: error: at least one --worker-log or other evidence input is required",
    ]


def test_errors_are_one_redacted_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret_dir = tmp_path / TOKEN
    secret_dir.mkdir()
    report = secret_dir / "report.json"
    report.write_text('{"schema_version": "trace-harness-report/v3", "clusters": []}')
    assert main(["report", "--evidence-manifest", str(report)]) == 2
    assert main(["report", "--worker-log", str(secret_dir / "missing.log")]) == 2
    err = capsys.readouterr().err
    assert TOKEN not in err and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 2
    assert "not a trace-evidence-manifest/v2 evidence manifest" in lines[0]
    assert "[redacted-token]" in lines[1]


@pytest.mark.parametrize("command", ["report", "manifest"])
@pytest.mark.parametrize("output", ["missing-folder/out.json", "."], ids=["no folder", "a folder"])
def test_an_output_that_cannot_be_written_is_refused_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, output: str
) -> None:
    """A bad output path fails at once: the (missing) input is never opened, however long it would take."""
    target = tmp_path / output
    assert main([command, "--worker-log", str(tmp_path / f"{TOKEN}.log"), "--json-out", str(target)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"trace-harness: error: cannot write {target}") and TOKEN not in line


EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "evidence"


def _cluster_counts(path: Path) -> list[tuple[str, int]]:
    return sorted((c["id"], c["occurrences"]) for c in json.loads(path.read_text())["clusters"])


def test_manifest_of_mixed_evidence_reads_back_as_the_same_clusters(tmp_path: Path) -> None:
    manifest, direct, replayed = tmp_path / "m.json", tmp_path / "direct.json", tmp_path / "replayed.json"
    assert main(["manifest", "--evidence", str(EXAMPLES), "--json-out", str(manifest)]) == 0
    assert json.loads(manifest.read_text())["schema_version"] == "trace-harness-manifest/v1"
    assert main(["report", "--evidence", str(EXAMPLES), "--json-out", str(direct)]) == 0
    assert main(["report", "--evidence", str(manifest), "--json-out", str(replayed)]) == 0
    assert _cluster_counts(replayed) == _cluster_counts(direct) != []


def _failing_job_log(minute: int) -> str:
    lines = ["##[group]Run pytest", "##[endgroup]", "E   ModuleNotFoundError: No module named 'requests'"]
    lines.append("##[error]Process completed with exit code 1.")
    return "".join(f"2026-03-01T10:{minute:02d}:{i:02d}.0000000Z {line}\n" for i, line in enumerate(lines))


def test_report_flags_one_signature_across_many_jobs_as_systemic(tmp_path: Path) -> None:
    for run in range(3):
        job = tmp_path / "evidence" / f"logs_{9000 + run}" / "test.txt"
        job.parent.mkdir(parents=True)
        job.write_text(_failing_job_log(run))
    config = tmp_path / "config.yml"
    config.write_text("systemic: {min_jobs: 3, within: 1h}\n")
    out = tmp_path / "report.json"
    args = ["report", "--config", str(config), "--evidence", str(tmp_path / "evidence"), "--json-out", str(out)]
    assert main(args) == 0
    [cluster] = json.loads(out.read_text())["clusters"]
    assert (cluster["systemic"], cluster["occurrences"]) == (True, 3)
    config.write_text("systemic: {min_jobs: 4, within: 1h}\n")
    assert main(args) == 0
    assert json.loads(out.read_text())["clusters"][0]["systemic"] is False


def test_only_unreadable_evidence_is_a_usage_error_that_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert main(["report", "--evidence", str(readme)]) == 2
    assert "no readable evidence among the inputs (1 skipped: " in capsys.readouterr().err


def test_the_executable_exits_quickly_with_its_output_flushed(tmp_path: Path) -> None:
    """`report` skips interpreter teardown (``exit_process``): stdout, stderr and the exit code still arrive."""
    command = [sys.executable, "-m", "trace_harness", "report", "--worker-log", str(FIXTURES / "mixed.log")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert len(json.loads(done.stdout)["clusters"]) == 5
    failed = subprocess.run([*command[:4], "--worker-log", str(tmp_path / "absent.log")], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert failed.returncode == 2 and failed.stderr.startswith("trace-harness: error:")


def test_other_commands_exit_through_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run` holds a forge and a state store: it exits normally, so their finalizers run."""
    quick: list[int] = []
    monkeypatch.setattr(os, "_exit", quick.append)
    with pytest.raises(SystemExit) as raised:
        exit_process(["run", "--dry-run"], 3)
    assert raised.value.code == 3 and quick == []
    exit_process(["report"], 0)  # os._exit is the stub here: it returns
    assert quick == [0]
