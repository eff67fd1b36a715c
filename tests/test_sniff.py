"""Sniffing evidence kinds from content, the lazy reader registry, and the deterministic evidence walk."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from trace_harness.cli import main
from trace_harness.errors import UsageError
from trace_harness.evidence import sniff as sniff_module
from trace_harness.evidence.actions_log import read_actions_log
from trace_harness.evidence.sniff import (
    READERS,
    _LazyReaders,
    expand_globs,
    group_by_kind,
    iter_evidence,
    sniff,
)

ACTIONS_FIXTURES = Path(__file__).parent / "fixtures" / "actions"


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("1_build.txt", "2026-01-01T00:00:00.0000000Z hello\n")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("head", "name", "kind"),
    [
        (b"\xef\xbb\xbf2026-01-19T14:21:04.3344262Z Current runner version: '2.331.0'\n", "x.txt", "actions_log"),
        (b"lint\tSet up job\t\xef\xbb\xbf2026-01-19T14:21:04.3344262Z Current runner\n", "x", "actions_log"),
        (b"?2026-01-19T14:21:04.3Z a\n2026-01-19T14:21:04.4Z b\n", "mangled-bom.txt", "actions_log"),
        (b'2026/06/18 09:00:00 event=runner_timeout task_id=t1 msg="x"\n', "worker.log", "worker_log"),
        (b'<?xml version="1.0"?>\n<testsuites name="pytest">\n', "r.xml", "junit"),
        (b'<testsuite name="a" tests="1">', "r", "junit"),
        (b"<TestRun id='1'>", "r.trx", None),
        (b'{"type": "error", "message": "x"}\n{"type": "result"}\n', "events", "jsonl"),
        (b'{"type": "error"}', "events.jsonl", "jsonl"),
        (b'{\n  "schema_version": "trace-evidence-manifest/v2",\n', "m.json", "evidence_manifest"),
        (b'{"schema_version":"trace-harness-manifest/v1","findings":[]}', "m.json", "th_manifest"),
        (b'{\n "bounds": {},\n "schema_version": "trace-harness-report/v3"\n}', "r.json", "report"),
        (b'{\n  "unrelated": true\n}', "settings.json", None),
        (b"just some prose\nwith lines\n", "notes.txt", None),
        (b"", "empty.txt", None),
    ],
)
def test_sniff_kinds(head: bytes, name: str, kind: str | None) -> None:
    assert sniff(head, name) == kind


def test_sniff_zip_is_artifact() -> None:
    assert sniff(zip_bytes()[:64], "logs.zip") == "artifact"


@given(st.binary(max_size=512), st.text(max_size=20))
def test_sniff_never_raises(head: bytes, name: str) -> None:
    assert sniff(head, name) in {None, *sniff_module.READER_PATHS, "evidence_manifest", "report"}


def test_readers_are_lazy_and_tolerate_missing_modules() -> None:
    assert READERS["actions_log"] is read_actions_log
    registry = _LazyReaders({"ours": "trace_harness.evidence.actions_log:read_actions_log", "later": "nope.mod:f"})
    assert "ours" in registry and "later" not in registry
    assert list(registry) == ["ours"] and len(registry) == 1
    with pytest.raises(KeyError):
        registry["later"]


def test_iter_evidence_walks_sorted_once_and_skips_hidden(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: x\n")
    (tmp_path / "b" / "job.txt").write_bytes((ACTIONS_FIXTURES / "cancelled.txt").read_bytes())
    (tmp_path / "a.jsonl").write_text('{"type": "x"}\n')
    (tmp_path / "z.zip").write_bytes(zip_bytes())
    (tmp_path / "README.md").write_text("# documentation beside the evidence\n")
    (tmp_path / "notes.txt").write_text("prose\n")
    walked = list(iter_evidence([tmp_path, tmp_path / "a.jsonl"]))
    assert [(path.relative_to(tmp_path).as_posix(), kind) for path, kind in walked] == [
        ("a.jsonl", "jsonl"),
        ("b/job.txt", "actions_log"),
        ("notes.txt", None),
        ("z.zip", "artifact"),
    ]


def test_group_by_kind_counts_unknown_and_non_evidence_files(tmp_path: Path) -> None:
    (tmp_path / "job.txt").write_bytes((ACTIONS_FIXTURES / "cancelled.txt").read_bytes())
    (tmp_path / "notes.txt").write_text("prose\n")
    (tmp_path / "report.json").write_text(json.dumps({"schema_version": "trace-harness-report/v3"}))
    grouped, problems = group_by_kind([tmp_path, tmp_path / "missing.txt"])
    assert grouped == {"actions_log": [tmp_path / "job.txt"]}
    reasons = sorted((Path(p.path).name, p.reason) for p in problems)
    assert reasons == [
        ("missing.txt", "unreadable"),
        ("notes.txt", "unrecognized_format"),
        ("report.json", "no_reader"),
    ]


@pytest.mark.skipif(not (SHARED / "data").exists(), reason="shared sample data not present")
def test_shared_samples_sniff_as_their_kind() -> None:
    logs = list(iter_evidence([SHARED / "data" / "actions-logs"]))
    assert {kind for path, kind in logs if path.suffix == ".txt"} == {"actions_log"}
    zips = list(iter_evidence([SHARED / "data" / "actions-log-archives"]))
    assert {kind for path, kind in zips if path.suffix == ".zip"} == {"artifact"}


def test_expand_globs_sorts_matches_and_rejects_empty_globs(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", "c.log"):
        (tmp_path / name).write_text("x")
    assert expand_globs([str(tmp_path / "*.txt"), str(tmp_path / "c.log")]) == [
        tmp_path / "a.txt",
        tmp_path / "b.txt",
        tmp_path / "c.log",
    ]
    with pytest.raises(UsageError):
        expand_globs([str(tmp_path / "*.none")])


def test_report_cli_reads_typed_flags_and_evidence_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "job.txt").write_bytes((ACTIONS_FIXTURES / "pytest_module_missing.txt").read_bytes())
    (folder / "notes.txt").write_text("not evidence\n")
    jest = str(ACTIONS_FIXTURES / "jest_order_*.txt")
    out = tmp_path / "report.json"
    assert main(["report", "--evidence", str(folder), "--actions-log", jest, "--json-out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert len(report["inputs"]) == 3
    assert [problem["reason"] for problem in report["evidence_problems"]] == ["unrecognized_format"]
    occurrences = sorted(cluster["occurrences"] for cluster in report["clusters"])
    assert occurrences == [1, 2]  # the two jest runs share one cluster


def test_sniff_tar_and_tar_gz_are_artifacts() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("0_build.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"abc"))
    assert sniff(buffer.getvalue()[:512], "log.tar.gz") == "artifact"
    assert sniff(gzip.decompress(buffer.getvalue())[:1024], "log.tar") == "artifact"
    assert sniff(gzip.compress(b"plain text\n"), "notes.gz") is None
