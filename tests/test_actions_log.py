"""The GitHub Actions job-log reader: steps, root causes, terminal conditions, bounds and robustness."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from golden_files import assert_golden
from trace_harness.bounds import MAX_EVIDENCE_EXCERPT_BYTES, byte_len, excerpt
from trace_harness.evidence.actions_log import decode, parse_line, read_actions_log
from trace_harness.evidence.actions_rootcause import PATTERNS, better, candidate, rank_line
from trace_harness.evidence.actions_scan import line_blocks
from trace_harness.evidence.base import ReaderOptions, path_identity
from trace_harness.models import Finding, RunFacts

FIXTURES = Path(__file__).parent / "fixtures" / "actions"
REAL_LOGS = SHARED / "data" / "actions-logs"
# Logs with no failure of the project: green runs with error-looking lines, and plain cancellations.
SUCCEEDING_REAL_LOGS = (
    "dynnamitt_3d-vibe-bevy__922192b__job-logs.txt",
    "obra_lace__3c7924a__job-logs.txt",
    "krzycuh_kma-poker-stats__c455a7f__job-logs.txt",
    "hooyao_qnap-rtl8159-driver__5b1b6a9__job-logs.txt",
    "ryzendew_winetricks__ebf5bb3__job-logs.txt",
    "anchapin_pAIssive_income__df8ddae__job_logs.txt",
)


def read(data: bytes, display_path: str = "job.txt") -> list[Finding]:
    items = list(read_actions_log(io.BytesIO(data), display_path, ReaderOptions()))
    assert all(isinstance(item, Finding | RunFacts) for item in items)
    assert not any(isinstance(item, RunFacts) for item in items[:-1])  # the run's facts come last, once
    return [item for item in items if isinstance(item, Finding)]


def read_fixture(name: str) -> list[Finding]:
    return read((FIXTURES / name).read_bytes(), f"fixtures/{name}")


def root_line(finding: Finding, path: Path) -> str:
    line_no = int(finding.ref.rsplit(":", 1)[1])
    raw = path.read_bytes().splitlines()[line_no - 1]
    return parse_line(line_no, decode(raw), "\t" in decode(raw)[:80]).text


def test_module_missing_is_the_root_cause_and_exit_code_is_metadata() -> None:
    [finding] = read_fixture("pytest_module_missing.txt")
    assert "ModuleNotFoundError: No module named 'requests_toolbelt'" in root_line(
        finding, FIXTURES / "pytest_module_missing.txt"
    )
    assert finding.kind == "step_failure"
    assert finding.metadata["exit_code"] == "2"
    assert finding.metadata["step"] == "Run pytest -q"
    assert finding.metadata["warnings"] == "1"
    assert finding.commit == "4f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
    assert finding.workflow == "ci.yml"
    assert finding.timestamp.endswith("Z") and finding.timestamp.startswith("2026-03-01T10:")


def test_script_echo_in_step_header_is_never_evidence() -> None:
    lines = ["##[group]Run ./check.sh", "echo 'Error: FAILED fatal: never a root cause'", "##[endgroup]"]
    lines += ["checking", "##[error]Process completed with exit code 3."]
    data = "".join(f"2026-01-01T00:00:00.0000000Z {line}\n" for line in lines).encode()
    [finding] = read(data)
    assert finding.metadata["pattern"] == "last_output"
    assert finding.ref == "job.txt:4"


def test_successful_log_with_error_looking_lines_has_no_finding() -> None:
    assert read_fixture("success_noisy.txt") == []


def test_test_failure_plus_timeout_are_two_root_causes_in_line_order() -> None:
    findings = read_fixture("timeout_with_test_failure.txt")
    assert [f.kind for f in findings] == ["step_failure", "timeout"]
    assert "--- FAIL: TestReplication" in findings[0].excerpt
    # The time-out also printed "The operation was canceled."; it is one terminal condition, not two.
    assert "exceeded the maximum execution time" in findings[1].excerpt


def test_runner_loss_without_real_error_is_one_finding() -> None:
    [finding] = read_fixture("runner_lost.txt")
    assert finding.kind == "runner_lost"


def test_plain_cancellation_is_no_failure_of_the_project() -> None:
    assert read_fixture("cancelled.txt") == []


def test_each_failing_step_yields_exactly_one_finding() -> None:
    findings = read_fixture("two_failing_steps.txt")
    assert [f.metadata["step"] for f in findings] == ["Run ruff check .", "Run mypy src"]
    assert "F401" in findings[0].excerpt
    assert "Incompatible return value type" in findings[1].excerpt


def test_exit_code_without_error_text_falls_back_to_last_output_line() -> None:
    [finding] = read_fixture("exit_code_only.txt")
    assert finding.metadata["pattern"] == "last_output"
    assert finding.metadata["exit_code"] == "14"
    assert root_line(finding, FIXTURES / "exit_code_only.txt") == "no configuration file provided"


def test_continuation_lines_belong_to_the_error_entry() -> None:
    [finding] = read_fixture("multiline_continuation.txt")
    assert root_line(finding, FIXTURES / "multiline_continuation.txt") == "##[error]Error: config invalid"
    lines = finding.excerpt.splitlines()
    assert lines[lines.index("##[error]Error: config invalid") + 1].startswith("    at Object.<anonymous>")


def test_gh_run_view_form_uses_job_and_step_columns() -> None:
    [finding] = read_fixture("gh_run_view.txt")
    assert finding.job == "lint (3.12)"
    assert finding.metadata["step"] == "Run ruff check src"
    assert "E722" in finding.excerpt


def test_gh_run_view_with_several_jobs_reads_each_job() -> None:
    text = (FIXTURES / "gh_run_view.txt").read_text(encoding="utf-8")
    both = text + text.replace("lint (3.12)", "lint (3.13)")
    findings = read(both.encode(), "run.txt")
    assert [(f.job, f.metadata["step"]) for f in findings] == [
        ("lint (3.12)", "Run ruff check src"),
        ("lint (3.13)", "Run ruff check src"),
    ]


def test_parallel_test_order_does_not_change_the_root_cause() -> None:
    [first] = read_fixture("jest_order_a.txt")
    [second] = read_fixture("jest_order_b.txt")
    assert first.signature == second.signature
    assert first.cluster_id == second.cluster_id


def test_golden_findings_of_fixtures() -> None:
    rows = []
    for path in sorted(FIXTURES.glob("*.txt")):
        for finding in read(path.read_bytes(), f"fixtures/{path.name}"):
            rows.append(
                {
                    "ref": finding.ref,
                    "kind": finding.kind,
                    "timestamp": finding.timestamp,
                    "job": finding.job,
                    "workflow": finding.workflow,
                    "commit": finding.commit,
                    "run": finding.run,
                    "metadata": finding.metadata,
                    "root": root_line(finding, path),
                }
            )
    assert_golden("actions/fixture_findings.json", json.dumps(rows, indent=1, ensure_ascii=False) + "\n")


def test_ref_is_display_path_and_one_based_physical_line() -> None:
    data = b"2026-01-01T00:00:00.0000000Z ##[group]Run make\n2026-01-01T00:00:00.0000000Z ##[endgroup]\n"
    data += b"2026-01-01T00:00:01.0000000Z fatal: not a git repository\n"
    data += b"2026-01-01T00:00:02.0000000Z ##[error]Process completed with exit code 128.\n"
    [finding] = read(data, "logs/build.txt")
    assert finding.ref == "logs/build.txt:3"
    assert finding.timestamp == "2026-01-01T00:00:01Z"


def test_path_identity_of_archive_members_and_plain_files() -> None:
    assert path_identity("logs_42551283358.zip!2_build.txt") == ("42551283358", "build", "")
    assert path_identity("a.zip!🧪 Testing Edge/7_Run Playwright tests.txt") == (
        "a.zip",
        "🧪 Testing Edge",
        "Run Playwright tests",
    )
    assert path_identity("ci/0_lint.txt")[1] == "lint"


def test_step_file_member_uses_step_name_from_path() -> None:
    data = b"2026-01-01T00:00:00.0000000Z npm error code ERESOLVE\n"
    data += b"2026-01-01T00:00:01.0000000Z ##[error]Process completed with exit code 1.\n"
    [finding] = read(data, "run.zip!build/4_Install deps.txt")
    assert (finding.job, finding.metadata["step"]) == ("build", "Install deps")


def test_overlong_line_is_capped_and_memory_stays_bounded() -> None:
    class Endless(io.RawIOBase):
        """20 MB of one line without holding it: reads are served from a small block."""

        def __init__(self, size: int) -> None:
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            count = min(len(buffer), self.left)
            buffer[:count] = b"E" * count
            self.left -= count
            return count

    tail = b"\n2026-01-01T00:00:00.0000000Z ##[error]Process completed with exit code 1.\n"
    chained = _Chain(io.BufferedReader(Endless(20_000_000)), io.BytesIO(tail))
    tracemalloc.start()
    findings = list(read_actions_log(chained, "huge.txt", ReaderOptions()))  # type: ignore[arg-type]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5_000_000
    assert len(findings) == 1
    assert byte_len(findings[0].excerpt) <= MAX_EVIDENCE_EXCERPT_BYTES


class _Chain:
    """Two binary streams read one after the other through ``read`` or ``readline``."""

    def __init__(self, *streams: io.BufferedIOBase | io.BytesIO) -> None:
        self.streams = list(streams)

    def read(self, size: int = -1) -> bytes:
        while self.streams:
            chunk = self.streams[0].read(size)
            if chunk:
                return chunk
            self.streams.pop(0)
        return b""

    def readline(self, limit: int = -1) -> bytes:
        while self.streams:
            chunk = self.streams[0].readline(limit)
            if chunk:
                return chunk
            self.streams.pop(0)
        return b""


def test_line_blocks_count_an_overlong_line_once() -> None:
    data = b"a" * 100 + b"\nshort\n"
    lines = b"".join(line_blocks(io.BytesIO(data), limit=16, size=8)).split(b"\n")
    assert [len(line) for line in lines] == [16, 5, 0]


def test_invalid_utf8_nul_and_ansi_are_replaced_not_fatal() -> None:
    assert decode(b"\x1b[31mbad \xff\x00 byte\x1b[0m\r\n") == "bad \ufffd\ufffd byte"


def test_excerpt_keeps_root_and_nearest_context_within_bound() -> None:
    before = tuple(f"before {i}" * 40 for i in range(20))
    after = tuple(f"after {i}" * 40 for i in range(20))
    text = excerpt(before, "ROOT", after, limit=2048)
    lines = text.splitlines()
    assert "ROOT" in lines
    assert byte_len(text) <= 2048
    root_index = lines.index("ROOT")
    assert lines[root_index - 1] == before[-1] and lines[root_index + 1] == after[0]


def test_ranked_table_prefers_specific_over_generic_and_orders_tests_by_text() -> None:
    generic = candidate(1, "", "Error: something broke")
    module = candidate(2, "", "ModuleNotFoundError: No module named 'yaml'")
    assert generic is not None and module is not None
    assert better(module, generic) and not better(generic, module)
    late_a = candidate(9, "", "FAIL __tests__/a.test.ts")
    early_b = candidate(3, "", "FAIL __tests__/b.test.ts")
    assert late_a is not None and early_b is not None
    assert better(late_a, early_b)
    assert candidate(5, "", "all good here") is None


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    read(data)


@given(st.lists(st.sampled_from(["ok", "Error: x", "FAILED t::a", "##[warning]w", "fatal: y", ""]), max_size=30))
def test_log_without_error_marker_or_exit_code_has_no_finding(lines: list[str]) -> None:
    body = "".join(f"2026-01-01T00:00:00.0000000Z {line}\n" for line in [*lines, "Cleaning up orphan processes"])
    assert read(body.encode()) == []


@pytest.mark.skipif(not REAL_LOGS.exists(), reason="shared sample logs not present")
def test_real_logs_successes_are_silent_and_failures_have_one_finding_per_step() -> None:
    for path in sorted(REAL_LOGS.glob("*.txt")):
        findings = read(path.read_bytes(), path.name)
        if path.name in SUCCEEDING_REAL_LOGS:
            assert findings == [], path.name
            continue
        assert findings, path.name
        per_step = Counter((f.metadata["step"], f.kind) for f in findings)
        assert max(per_step.values()) == 1, path.name


@pytest.mark.skipif(not REAL_LOGS.exists(), reason="shared sample logs not present")
@pytest.mark.parametrize(
    ("name", "needle", "kind"),
    [
        ("pytorch_rl__12b7033__job-logs.txt", "No module named 'procgen'", "step_failure"),
        ("renanteixeira_odoo-await-auth-service__502af0b__job-logs.txt", "docker-compose: command not found", ""),
        ("spottymatt_rpi-hw-info__90200b5__job-logs.txt", "Command not found: pytest", ""),
        ("datakurre_devenv-vscode__1bbff20__job-logs.txt", "ERESOLVE", ""),
        ("github_dev__3f5fb34__0_build.txt", "Dependencies lock file is not found", ""),
        ("sia819_tessera__fecd3f1__job-logs.txt", "UNRESOLVED_IMPORT", ""),
        ("yamcodes_arkenv__c3fc46a__job_logs_ghrunview.txt", "ERR_PNPM_RECURSIVE_RUN_FIRST_FAIL", ""),
    ],
)
def test_real_log_root_causes(name: str, needle: str, kind: str) -> None:
    path = REAL_LOGS / name
    [finding] = read(path.read_bytes(), name)
    assert needle in root_line(finding, path)
    assert not kind or finding.kind == kind


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("E   ModuleNotFoundError: No module named 'x'", "missing_module"),
        ("bash: line 1: widgets-cli: command not found", "command_not_found"),
        ("sh: 1: docker-compose: not found", "command_not_found"),
        ("F401 [*] `os` imported but unused", "lint_rule"),
        ("src/a.py:1:8: F401 `os` imported but unused", "source_error"),
        ("src/a.go:3:1: warning: shadowed", None),
        ("error[E0308]: mismatched types", "rust_error"),
        ("src/a.ts(3,1): error TS2304: Cannot find name 'x'.", "compile_error"),
        ("RuntimeError: Command docker exec failed with exit code 1", "wrapper"),
        ("ValueError: bad input", "exception"),
        ("npm error code ERESOLVE", "npm_error"),
        ("fatal: not a git repository", "git_fatal"),
        ("FAILED tests/test_a.py::test_b - AssertionError", "pytest_failed"),
        ("--- FAIL: TestX (0.01s)", "go_test_failed"),
        ("  ● suite › case", "jest_failed"),
        ("make: *** [Makefile:3: all] Error 2", "build_failed"),
        ("Error: something", "generic_error"),
        ("##[error]Unexpected input 'foo'", "annotation"),
        ("everything is fine", None),
    ],
)
def test_pattern_table_rows(line: str, pattern: str | None) -> None:
    found = candidate(1, "", line)
    assert (found.pattern if found else None) == pattern


def _rank_without_gate(text: str) -> str | None:
    body = text.removeprefix("##[error]")
    row = next((row for row in PATTERNS if row.regex.search(body)), None)
    return row.name if row else ("annotation" if body is not text else None)


def test_rows_without_needles_are_anchored_at_the_line_start() -> None:
    for row in PATTERNS:
        assert row.needles or row.regex.pattern.startswith("^"), row.name


@pytest.mark.parametrize("source", ["fixtures", "real"])
def test_needle_gate_never_changes_a_rank(source: str) -> None:
    paths = sorted(FIXTURES.glob("*.txt")) if source == "fixtures" else sorted(REAL_LOGS.glob("*.txt"))[:12]
    if not paths:
        pytest.skip("shared sample logs not present")
    for path in paths:
        for raw in path.read_bytes().splitlines():
            text = parse_line(1, decode(raw), False).text
            found = rank_line(text)
            assert (found.name if found else None) == _rank_without_gate(text), text


def _log(lines: list[str]) -> bytes:
    return "".join(f"2026-01-01T00:00:{n % 60:02d}.0000000Z {line}\n" for n, line in enumerate(lines)).encode()


def test_step_failing_without_output_roots_at_its_exit_line() -> None:
    [finding] = read(_log(["##[group]Run timeout 1 sleep 5", "timeout 1 sleep 5", "##[endgroup]", EXIT_124]))
    assert finding.ref == "job.txt:4"
    assert finding.metadata["exit_code"] == "124"
    assert finding.excerpt.splitlines()[-1] == EXIT_124


def test_log_cut_off_inside_a_failing_step_is_reported_as_incomplete() -> None:
    [finding] = read(_log(["##[group]Run go test ./...", "##[endgroup]", "--- FAIL: TestLong (2.93s)"]))
    assert finding.metadata["incomplete_log"] == "true"
    assert read(_log(["##[group]Run go test ./...", "##[endgroup]", "ok", "Cleaning up orphan processes"])) == []


EXIT_124 = "##[error]Process completed with exit code 124."


def test_commit_and_workflow_from_the_step_environment() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    workflow_ref = "acme/app/.github/workflows/nightly.yml@refs/heads/main"
    env = ["env:", f"  GITHUB_SHA: {sha}", f"  GITHUB_WORKFLOW_REF: {workflow_ref}"]
    [finding] = read(_log(["##[group]Run make", *env, "##[endgroup]", "fatal: boom", "##[error]Process completed."]))
    assert (finding.commit, finding.workflow) == (sha, "nightly.yml")


def test_gh_form_columns_and_path_parts_are_masked() -> None:
    token = "ghp_" + "k3Tz8hLq2Wv9Xr4Nm7Bc1Dy6Fp0Gs5Hj2Ka"
    lines = ["2026-01-01T00:00:00.0000000Z fatal: boom", "2026-01-01T00:00:01.0000000Z ##[error]Process completed."]
    text = "".join(f"deploy {token}\tRun push {token}\t{line}\n" for line in lines)
    [finding] = read(text.encode(), f"logs/{token}.txt")
    assert token not in finding.job + finding.metadata["step"] + finding.run


def test_per_step_archive_file_is_never_called_incomplete() -> None:
    passing_step = _log(["--- FAIL: TestFlaky (0.10s)", "=== RUN   TestFlaky (retry)", "ok  pkg 1.2s"])
    assert read(passing_step, "run.zip!test/5_Run tests.txt") == []


def _timestamped(*lines: str) -> bytes:
    return "".join(f"2026-03-01T10:00:{i:02d}.0000000Z {line}\n" for i, line in enumerate(lines)).encode()


def test_a_job_end_right_after_the_failing_step_closes_it_once() -> None:
    log = _timestamped(
        "##[group]Run make", "make", "##[endgroup]", "make: *** [all] Error 2",
        "##[error]Process completed with exit code 2.", "Cleaning up orphan processes",
    )  # fmt: skip
    [finding] = read(log)
    assert "Error 2" in finding.excerpt


def test_prose_starting_with_a_capitalised_code_is_not_a_lint_finding() -> None:
    log = _timestamped(
        "##[group]Run python setup.py build", "##[endgroup]", "TF32 kernels will not be compiled.",
        "src/hash.cpp(12): error C2143: syntax error: missing ';' before '}'",
        "##[error]Process completed with exit code 1.",
    )  # fmt: skip
    [finding] = read(log)
    assert finding.metadata["pattern"] != "lint_rule"
    assert "C2143" in finding.signature
