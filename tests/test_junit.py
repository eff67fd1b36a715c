"""JUnit XML reader: findings, passes, refs, malformed and hostile files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from conftest import SHARED
from trace_harness.classify import diagnose_test
from trace_harness.config import Config
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.junit import read_junit
from trace_harness.models import EvidenceProblem, Finding, TestPass
from trace_harness.pipeline import collect_report
from trace_harness.taxonomy import FailureClass

FIXTURES = Path(__file__).parent / "fixtures" / "junit"
TEST_OUTPUTS = SHARED / "data" / "test-outputs"


def _read(name: str) -> list[Finding | TestPass | EvidenceProblem]:
    with (FIXTURES / name).open("rb") as stream:
        return list(read_junit(stream, f"reports/{name}", ReaderOptions()))


def test_failures_and_errors_become_findings_with_classified_ids() -> None:
    findings = [item for item in _read("pytest_suites.xml") if isinstance(item, Finding)]
    assert [f.kind for f in findings] == ["junit_failure", "junit_error"]
    failure = findings[0]
    expected = diagnose_test("tests.test_login::test_bad_password[admin-42]", "AssertionError", "assert 401 == 200")
    assert failure.cluster_id == expected.cluster_id
    assert failure.signature == expected.signature
    assert failure.metadata["exception_type"] == "AssertionError"
    assert failure.excerpt.startswith("tests.test_login::test_bad_password[admin-42]: assert 401 == 200")
    assert "tests/test_login.py:17" in failure.excerpt


def test_refs_point_at_the_testcase_line() -> None:
    findings = [item for item in _read("pytest_suites.xml") if isinstance(item, Finding)]
    assert [f.ref for f in findings] == ["reports/pytest_suites.xml:5", "reports/pytest_suites.xml:11"]


def test_passes_are_yielded_and_skips_ignored() -> None:
    passes = [item for item in _read("pytest_suites.xml") if isinstance(item, TestPass)]
    assert [p.test_id for p in passes] == ["tests.test_login::test_ok"]


def test_bare_testsuite_root_is_read() -> None:
    items = _read("bare_suite.xml")
    assert [type(item).__name__ for item in items] == ["TestPass", "Finding"]
    finding = items[1]
    assert isinstance(finding, Finding)
    assert finding.ref == "reports/bare_suite.xml:3"
    assert "timed out after 30s" in finding.excerpt


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("malformed.xml", "junit-malformed"),
        ("not_junit.xml", "junit-not-junit"),
        ("billion_laughs.xml", "junit-unsafe-xml"),
        ("xxe.xml", "junit-unsafe-xml"),
    ],
)
def test_bad_files_are_one_evidence_problem(name: str, reason: str) -> None:
    items = _read(name)
    assert len(items) == 1
    assert isinstance(items[0], EvidenceProblem)
    assert items[0].reason == reason
    assert items[0].path == f"reports/{name}"


def test_empty_and_binary_input_never_raise() -> None:
    for data in (b"", b"\x00\xff\xfe garbage", "<testsuite><testcase name='é'/></testsuite>".encode("latin-1")):
        items = list(read_junit(io.BytesIO(data), "x.xml", ReaderOptions()))
        assert all(isinstance(item, EvidenceProblem | TestPass) for item in items)
        assert items


def test_excerpt_is_bounded() -> None:
    big = "x" * 20000
    xml = f'<testsuite><testcase classname="c" name="n"><failure message="m">{big}</failure></testcase></testsuite>'
    (finding,) = read_junit(io.BytesIO(xml.encode()), "big.xml", ReaderOptions())
    assert isinstance(finding, Finding)
    assert len(finding.excerpt.encode()) <= 4096


@pytest.mark.skipif(not TEST_OUTPUTS.exists(), reason="shared test outputs not present")
def test_real_junit_samples_read_without_crashing() -> None:
    counts = {"Finding": 0, "TestPass": 0, "EvidenceProblem": 0}
    for path in sorted(TEST_OUTPUTS.rglob("*.xml")):
        with path.open("rb") as stream:
            for item in read_junit(stream, str(path), ReaderOptions()):
                counts[type(item).__name__] += 1
                if isinstance(item, Finding):
                    assert item.ref.startswith(str(path) + ":")
                    assert item.cluster_id and item.source == "junit"
    assert counts["Finding"] > 50
    assert counts["TestPass"] > counts["Finding"]


SHA = "3f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
JOB_LOG = (
    "\ufeff2026-06-18T09:00:00.0000000Z ##[group]Run actions/checkout@v4\n"
    "2026-06-18T09:00:01.0000000Z ##[endgroup]\n"
    "2026-06-18T09:00:02.0000000Z HEAD is now at {sha} Merge pull request #{run}\n"
    "2026-06-18T09:00:03.0000000Z Uses: acme/app/.github/workflows/ci.yml@refs/heads/main\n"
    "2026-06-18T09:00:04.0000000Z Cleaning up orphan processes\n"
)
JUNIT_RESULT = (
    '<testsuite name="s"><testcase classname="tests.test_api" name="test_total">{result}</testcase></testsuite>'
)


def _run_folder(root: Path, run: int, sha: str, failed: bool) -> dict[str, list[Path]]:
    folder = root / f"run-{run}"
    folder.mkdir()
    (folder / "job-1-test.log").write_text(JOB_LOG.format(sha=sha, run=run), encoding="utf-8")
    result = '<failure message="assert 2 == 3" type="AssertionError"/>' if failed else ""
    (folder / "junit.xml").write_text(JUNIT_RESULT.format(result=result), encoding="utf-8")
    return {"actions_log": [folder / "job-1-test.log"], "junit": [folder / "junit.xml"]}


@pytest.mark.parametrize(("second_sha", "flaky"), [(SHA, True), ("0" * 40, False)])
def test_junit_results_of_two_runs_at_one_commit_make_a_flaky_cluster(
    tmp_path: Path, second_sha: str, flaky: bool
) -> None:
    """JUnit files carry no commit: the run folder names the run, and that run's job log tells its commit."""
    failed_run = _run_folder(tmp_path, 1000001, SHA, failed=True)
    passed_run = _run_folder(tmp_path, 1000002, second_sha, failed=False)
    paths = {kind: failed_run[kind] + passed_run[kind] for kind in failed_run}
    (cluster,) = collect_report(paths, Config()).clusters
    assert cluster.flaky is flaky
    assert (cluster.failure_class is FailureClass.FLAKY_TEST) is flaky
    assert cluster.affected.runs == ("1000001",)
