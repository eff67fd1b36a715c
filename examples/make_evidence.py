"""Regenerate ``examples/evidence/``: sample evidence produced by really running our own tooling.

Usage: ``.venv/bin/python examples/make_evidence.py [OUT_DIR]`` (default: ``examples/evidence`` next to this file).

A tiny project ``widgets`` is written to a temp dir with planted defects (an unused import, a type error, a
failing test, a test importing a module that is not installed). pytest, ruff, mypy, ``python -m pip`` and
bash are run on it for real; their output is captured and wrapped in the GitHub Actions raw job-log format
(timestamps are synthetic and fixed, so runs are ordered; tool output is real). pytest's ``--junitxml``
file is kept as is. The worker log and the JSONL events are written here in the aiops formats.
The mix is designed for the demo: some failures recur across runs, one event is severe, the rest is noise.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE = datetime(2026, 6, 18, 9, 0, tzinfo=UTC)
WORKDIR = "/home/runner/work/widgets/widgets"
TOOLCACHE = "/opt/hostedtoolcache/Python/3.11/x64"  # where a runner's Python lives, instead of ours
COMMITS = {1: "4f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a", 2: "9b8a7c6d5e4f30112233445566778899aabbccdd"}

PROJECT = {
    "src/widgets/__init__.py": "",
    "src/widgets/api.py": (
        "import os\n\n\ndef total(prices: list[float]) -> float:\n    return round(sum(prices), 1)\n\n\n"
        "def label(count: int) -> str:\n    return count\n"
    ),
    "tests/test_api.py": (
        "from widgets.api import total\n\n\ndef test_total() -> None:\n    assert total([0.1, 0.2]) == 0.35\n\n\n"
        "def test_total_empty() -> None:\n    assert total([]) == 0\n"
    ),
    "tests/test_client.py": "import requests_toolbelt\n\n\ndef test_client() -> None:\n    assert requests_toolbelt\n",
}


@dataclass(frozen=True)
class Step:
    name: str
    output: str
    exit_code: int


def write_project(root: Path, extra_header: str = "") -> None:
    for name, text in PROJECT.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(extra_header + text if name == "src/widgets/api.py" else text)


def run(root: Path, command: Sequence[str], name: str) -> Step:
    """Run a real command in the project; its output is kept with the temp path replaced by a runner path."""
    env = {"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(root)}
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, env=env, check=False)
    output = (done.stdout + done.stderr).replace(str(root), WORKDIR).replace(sys.executable, "python")
    return Step(name, output.replace(sys.base_prefix, TOOLCACHE), done.returncode)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def actions_log(run_index: int, steps: Sequence[Step], commit: str) -> str:
    """Wrap real step outputs in the Actions raw job-log form; the job stops at its first failing step."""
    clock = iter(BASE + timedelta(hours=run_index, seconds=second * 0.37) for second in range(10_000))
    lines = ["Current runner version: '2.330.0'", "##[group]Operating System", "Ubuntu", "24.04", "##[endgroup]"]
    lines += ["Uses: example-org/widgets/.github/workflows/ci.yml@refs/heads/main (" + commit + ")"]
    lines += ["##[group]Run actions/checkout@v4", "with:", "  repository: example-org/widgets", "##[endgroup]"]
    lines += ["[command]/usr/bin/git log -1 --format=%H", commit]
    for step in steps:
        lines += [f"##[group]Run {step.name}", f"\x1b[36;1m{step.name}\x1b[0m", "shell: /usr/bin/bash -e {0}"]
        lines += ["##[endgroup]", *step.output.rstrip("\n").splitlines()]
        if step.exit_code:
            lines.append(f"##[error]Process completed with exit code {step.exit_code}.")
            break
    lines += [
        "Post job cleanup.",
        "[command]/usr/bin/git version",
        "git version 2.49.0",
        "Cleaning up orphan processes",
    ]
    stamped = [f"{next(clock).strftime('%Y-%m-%dT%H:%M:%S.%f')}0Z {line}" for line in lines]
    return "\ufeff" + "\n".join(stamped) + "\n"


def worker_log() -> str:
    """aiops worker records: two runner time-outs (recurring), one input-required stop, successful noise."""
    records = [
        ("09:00:00", "runner_start", "task_id=run-71-1 issue_id=issue-71 issue_identifier=GH-71", 'msg="start"', ""),
        ("09:30:00", "runner_timeout", "task_id=run-71-1 issue_id=issue-71 issue_identifier=GH-71", 'msg="timeout"',
         " payload=map[elapsed_ms:1800000 timeout_ms:1800000]"),
        ("10:05:00", "turn_input_required", "task_id=run-72-1 issue_id=issue-72 issue_identifier=GH-72",
         'msg="input required"', " payload=map[method:approval]"),
        ("11:00:00", "runner_end", "task_id=run-73-1 issue_id=issue-73 issue_identifier=GH-73",
         'msg="runner completed"', " payload=map[ok:true elapsed_ms:52000]"),
        ("12:40:00", "runner_timeout", "task_id=run-74-2 issue_id=issue-74 issue_identifier=GH-74",
         'msg="timeout"', " payload=map[elapsed_ms:1800000 timeout_ms:1800000]"),
    ]  # fmt: skip
    return "".join(f"2026/06/18 {at} event={kind} {ids} {msg}{tail}\n" for at, kind, ids, msg, tail in records)


def events_jsonl() -> str:
    """Agent events: one severe scope violation, one quota event, and informational noise."""
    events = [
        {"timestamp": "2026-06-18T13:00:00Z", "event": "turn_started", "session_id": "sess-81", "task_id": "run-81-1"},
        {"timestamp": "2026-06-18T13:02:10Z", "event": "scope_violation", "session_id": "sess-81",
         "task_id": "run-81-1", "message": "write outside allowed paths refused: .github/workflows/release.yml"},
        {"timestamp": "2026-06-18T13:05:00Z", "event": "quota_event", "session_id": "sess-82", "task_id": "run-82-1",
         "message": "429 rate limit: retry after 60s"},
        {"timestamp": "2026-06-18T13:06:00Z", "event": "turn_completed", "session_id": "sess-82",
         "task_id": "run-82-1"},
    ]  # fmt: skip
    return "".join(json.dumps(event, sort_keys=True) + "\n" for event in events)


def log_archive(job_logs: dict[str, str]) -> bytes:
    """A "Download log archive" zip: ``N_job.txt`` per job (the per-step copies are left out)."""
    out = Path(tempfile.mkdtemp()) / "archive.zip"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, (job, text) in enumerate(job_logs.items()):
            archive.writestr(zipfile.ZipInfo(f"{index}_{job}.txt", (2026, 6, 18, 16, 0, 0)), text)
    return out.read_bytes()


def pytest(*args: str) -> list[str]:
    return python("-m", "pytest", "-q", "-p", "no:cacheprovider", *args)


def tool_outputs(root: Path) -> tuple[dict[str, Step], bytes]:
    """Each planted defect, really run; plus pytest's JUnit XML of the failing test run."""
    write_project(root)
    junit = root / "junit.xml"
    steps = {
        "module_missing": run(root, pytest("tests/test_client.py"), "pytest -q"),
        "ruff": run(root, python("-m", "ruff", "check", "--no-cache", "src"), "ruff check src"),
        "mypy": run(root, python("-m", "mypy", "--no-incremental", "--cache-dir=/dev/null", "src"), "mypy src"),
        "assertion": run(root, pytest(f"--junitxml={junit}", "tests/test_api.py"), "pytest -q tests/test_api.py"),
        "pip": run(root, python("-m", "pip", "install", "-r", "requirements.txt"), "python -m pip install -r req.txt"),
        "not_found": run(root, ["/bin/bash", "-c", "widgets-cli --version"], "widgets-cli --version"),
        "green": run(
            root, pytest("tests/test_api.py::test_total_empty"), "pytest -q tests/test_api.py::test_total_empty"
        ),
    }
    junit_xml = junit.read_bytes().replace(str(root).encode(), WORKDIR.encode())
    write_project(root, extra_header='"""Widgets API."""\n\n')  # the unused import moves down two lines
    steps["ruff_moved"] = run(root, python("-m", "ruff", "check", "--no-cache", "src"), "ruff check src")
    return steps, junit_xml


# Which step each job runs in which run: ModuleNotFoundError, F401 and test_total recur across runs.
JOBS = {
    "actions/run-15500000101/test.txt": (1, "module_missing", 1),
    "actions/run-15500000101/lint.txt": (1, "ruff", 1),
    "actions/run-15500000102/test.txt": (2, "module_missing", 1),
    "actions/run-15500000102/typecheck.txt": (2, "mypy", 1),
    "actions/run-15500000103/test.txt": (3, "assertion", 2),
    "actions/run-15500000103/lint.txt": (3, "ruff_moved", 2),
    "actions/run-15500000104/build.txt": (4, "pip", 2),
    "actions/run-15500000104/cli.txt": (4, "not_found", 2),
    "actions/run-15500000104/smoke.txt": (4, "green", 2),
}
ARCHIVE_JOBS = {"test": (6, "assertion", 2), "smoke": (6, "green", 2)}


def generate() -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        steps, junit_xml = tool_outputs(Path(tmp))
    files = {
        name: actions_log(run, [steps[step]], COMMITS[commit]).encode() for name, (run, step, commit) in JOBS.items()
    }
    archive = {
        job: actions_log(run, [steps[step]], COMMITS[commit]) for job, (run, step, commit) in ARCHIVE_JOBS.items()
    }
    files["artifacts/logs_15500000106.zip"] = log_archive(archive)
    files["junit/run-15500000105-pytest.xml"] = junit_xml
    files["worker/worker.log"] = worker_log().encode()
    files["events/agent-events.jsonl"] = events_jsonl().encode()
    return files


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "evidence"
    for name, data in generate().items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{len(data):>7} {path}")


if __name__ == "__main__":
    main()
