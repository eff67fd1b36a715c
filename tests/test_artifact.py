"""The zip artifact reader: dispatch by sniffing, hard caps on bytes actually read, unsafe names, log archives."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from trace_harness.evidence.artifact import (
    ArtifactLimits,
    Budget,
    CappedStream,
    LimitExceeded,
    duplicate_step_members,
    is_safe_name,
    read_artifact,
    read_artifact_with,
)
from trace_harness.evidence.base import ReaderOptions
from trace_harness.models import EvidenceProblem, Finding

ACTIONS_FIXTURES = Path(__file__).parent / "fixtures" / "actions"
ARCHIVES = SHARED / "data" / "actions-log-archives"
FAILING_LOG = (ACTIONS_FIXTURES / "pytest_module_missing.txt").read_bytes()
JUNIT = (
    b'<?xml version="1.0"?><testsuites><testsuite name="s" tests="1">'
    b'<testcase classname="tests.test_a" name="test_x"><failure type="AssertionError" message="boom"/>'
    b"</testcase></testsuite></testsuites>\n"
)


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def read(data: bytes, limits: ArtifactLimits | None = None) -> tuple[list[Finding], list[EvidenceProblem]]:
    items = list(read_artifact_with(io.BytesIO(data), "art.zip", ReaderOptions(), limits or ArtifactLimits()))
    findings = [item for item in items if isinstance(item, Finding)]
    problems = [item for item in items if isinstance(item, EvidenceProblem)]
    return findings, problems


def reasons(problems: list[EvidenceProblem]) -> dict[str, str]:
    return {problem.path: problem.reason for problem in problems}


def test_members_are_dispatched_by_content_with_bang_display_paths() -> None:
    data = make_zip({"logs/1_test.txt": FAILING_LOG, "results.xml": JUNIT, "README": b"just prose\n"})
    findings, problems = read(data)
    refs = sorted(finding.ref.rsplit(":", 1)[0] for finding in findings)
    assert "art.zip!logs/1_test.txt" in refs
    assert any(finding.source != "actions_log" for finding in findings)  # the JUnit member went to its reader
    assert reasons(problems) == {"art.zip!README": "unrecognized_format"}


def test_unsafe_member_names_are_counted_problems_not_crashes() -> None:
    data = make_zip({"../evil.txt": FAILING_LOG, "/abs.txt": FAILING_LOG, "ok/../../x.txt": FAILING_LOG})
    findings, problems = read(data)
    assert findings == []
    assert set(reasons(problems).values()) == {"unsafe_member_name"}
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("a/b.txt", True),
        ("a..b.txt", True),
        ("../a", False),
        ("a/../../b", False),
        ("/etc/x", False),
        ("C:evil", False),
        ("\\\\host\\share", False),
        ("a\\..\\b", False),
    ],
)
def test_is_safe_name(name: str, safe: bool) -> None:
    assert is_safe_name(name) is safe


def test_zip_bomb_is_stopped_by_the_ratio_on_bytes_read() -> None:
    data = make_zip({"bomb.txt": b"2026-01-01T00:00:00.0000000Z " + b"0" * 8_000_000})
    assert len(data) < 100_000
    findings, problems = read(data)
    assert findings == []
    assert reasons(problems) == {"art.zip!bomb.txt": "compression_ratio"}


def test_member_cap_applies_to_bytes_actually_read_not_the_header_claim() -> None:
    limits = ArtifactLimits(max_member_bytes=1000)  # a header claiming 10 bytes is never consulted here
    stream = CappedStream(io.BytesIO(b"x\n" * 3000), 4000, Budget(limits))
    with pytest.raises(LimitExceeded) as raised:
        while stream.readline(100):
            pass
    assert raised.value.reason == "member_too_large"
    assert stream.read_bytes <= 1000 + 100


def test_header_claiming_too_much_is_refused_without_reading() -> None:
    data = make_zip({"big.txt": FAILING_LOG})
    _, problems = read(data, ArtifactLimits(max_member_bytes=100))
    assert reasons(problems) == {"art.zip!big.txt": "member_too_large"}


def test_total_uncompressed_cap_stops_the_archive() -> None:
    members = {f"{n}_job{n}.txt": FAILING_LOG for n in range(5)}
    findings, problems = read(make_zip(members), ArtifactLimits(max_total_bytes=len(FAILING_LOG) * 2 + 10))
    assert len(findings) == 2
    assert list(reasons(problems).values()) == ["archive_too_large"]


def test_member_count_cap_reads_only_the_first_members() -> None:
    members = {f"{n}_job{n}.txt": FAILING_LOG for n in range(5)}
    findings, problems = read(make_zip(members), ArtifactLimits(max_members=3))
    assert len(findings) == 3
    assert [problem.reason for problem in problems] == ["too_many_members"]


def test_nested_archive_and_bad_zip_are_problems() -> None:
    _, problems = read(make_zip({"inner.zip": make_zip({"a.txt": b"x"})}))
    assert reasons(problems) == {"art.zip!inner.zip": "nested_archive"}
    _, problems = read(b"PK\x03\x04 this is not really a zip")
    assert [problem.reason for problem in problems] == ["bad_archive"]


def test_log_archive_reads_whole_job_files_and_skips_their_step_copies() -> None:
    step_lines = FAILING_LOG.splitlines(keepends=True)
    members = {"0_build.txt": FAILING_LOG, "build/1_Set up job.txt": b"".join(step_lines[:5])}
    members["build/3_Run pytest -q.txt"] = b"".join(step_lines[5:])
    members["build/system.txt"] = b"system info\n"
    assert duplicate_step_members(list(members)) == {
        "build/1_Set up job.txt",
        "build/3_Run pytest -q.txt",
        "build/system.txt",
    }
    findings, problems = read(make_zip(members))
    assert [finding.ref.rsplit(":", 1)[0] for finding in findings] == ["art.zip!0_build.txt"]
    assert problems == []


def test_step_files_alone_are_read_with_job_and_step_from_names() -> None:
    members = {"test/5_Run tests.txt": b"".join(FAILING_LOG.splitlines(keepends=True)[24:])}
    [finding], _ = read(make_zip(members))
    assert (finding.job, finding.metadata["step"]) == ("test", "Run tests")


@pytest.mark.skipif(not ARCHIVES.exists(), reason="shared log archives not present")
def test_same_jest_failure_across_three_real_runs_has_one_id() -> None:
    ids = set()
    for name in ("logs.zip", "run_logs.zip", "run_logs_new.zip"):
        with (ARCHIVES / "qubitquilt_simple-scavenger-hunt" / name).open("rb") as stream:
            items = list(read_artifact(stream, name, ReaderOptions()))
        tests = [item for item in items if isinstance(item, Finding) and item.job == "test"]
        assert len(tests) == 1, name
        ids.add(tests[0].cluster_id)
    assert len(ids) == 1


@pytest.mark.skipif(not ARCHIVES.exists(), reason="shared log archives not present")
def test_real_archive_with_emoji_jobs_and_cancelled_playwright() -> None:
    path = ARCHIVES / "autokitteh_web-platform" / "logs_42551283358.zip"
    with path.open("rb") as stream:
        items = list(read_artifact(stream, path.name, ReaderOptions()))
    # Every job was cancelled (a superseded run) without an error of its own: nothing to report, nothing broken.
    assert [item for item in items if isinstance(item, Finding)] == []
    assert [item for item in items if isinstance(item, EvidenceProblem)] == []


@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash_the_artifact_reader(data: bytes) -> None:
    items = list(read_artifact(io.BytesIO(b"PK\x03\x04" + data), "x.zip", ReaderOptions()))
    assert all(isinstance(item, Finding | EvidenceProblem) for item in items)


@given(
    st.dictionaries(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=30),
        st.binary(max_size=300),
        max_size=6,
    )
)
def test_any_member_names_and_contents_end_as_findings_or_problems(members: dict[str, bytes]) -> None:
    items = list(read_artifact(io.BytesIO(make_zip(members)), "x.zip", ReaderOptions()))
    problems = [item for item in items if isinstance(item, EvidenceProblem)]
    assert all(problem.path.startswith("x.zip!") for problem in problems)


def test_corrupted_member_data_is_a_problem() -> None:
    data = bytearray(make_zip({"0_job.txt": FAILING_LOG * 20}))
    middle = len(data) // 2
    data[middle : middle + 40] = b"\x00" * 40
    _, problems = read(bytes(data))
    assert problems and problems[0].reason in {"unreadable_member", "bad_archive"}


def make_tar(members: dict[str, bytes], mode: str = "w:gz", links: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name in links:
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(link)
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["w:gz", "w"])
def test_tar_log_archive_reads_job_files_once(mode: str) -> None:
    members = {"0_build.txt": FAILING_LOG, "build/3_Run pytest -q.txt": FAILING_LOG}
    findings, problems = read(make_tar(members, mode))
    assert [finding.ref.rsplit(":", 1)[0] for finding in findings] == ["art.zip!0_build.txt"]
    assert problems == []


def test_tar_unsafe_names_and_links_are_problems() -> None:
    _, problems = read(make_tar({"../up.txt": FAILING_LOG}, links=("link.txt",)))
    assert reasons(problems) == {"art.zip!../up.txt": "unsafe_member_name", "art.zip!link.txt": "unsupported_member"}


def test_tar_bomb_is_refused_from_its_headers() -> None:
    data = make_tar({"bomb.txt": b"0" * 20_000_000})
    assert len(data) < 100_000
    findings, problems = read(data)
    assert findings == []
    assert [problem.reason for problem in problems] == ["compression_ratio"]


def test_neither_zip_nor_tar_is_a_bad_archive() -> None:
    _, problems = read(b"\x1f\x8b not really gzip")
    assert [problem.reason for problem in problems] == ["bad_archive"]


@pytest.mark.skipif(not ARCHIVES.exists(), reason="shared log archives not present")
def test_real_tar_gz_log_archive_of_a_successful_run_is_silent() -> None:
    path = ARCHIVES / "ghalogs_pytables_run" / "log.tar.gz"
    with path.open("rb") as stream:
        assert list(read_artifact(stream, path.name, ReaderOptions())) == []


def test_unseekable_stream_is_a_problem_not_a_crash() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            buffer[:2] = b"PK"
            return 2

    items = list(read_artifact(Pipe(), "pipe.zip", ReaderOptions()))  # type: ignore[arg-type]
    assert [item.reason for item in items if isinstance(item, EvidenceProblem)] == ["bad_archive"]
