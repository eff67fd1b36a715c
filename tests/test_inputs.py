"""Input refs and dedup: byte-identical inputs are read once, whatever their kind, digested off the main thread."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from trace_harness.errors import UsageError
from trace_harness.evidence.inputs import InputDigests


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_only_byte_identical_inputs_are_skipped(tmp_path: Path) -> None:
    first = _write(tmp_path, "a.log", b"same bytes\n")
    copy = _write(tmp_path, "copy.log", b"same bytes\n")
    same_size = _write(tmp_path, "b.log", b"other byte\n")
    unique_size = _write(tmp_path, "c.xml", b"<testsuite/>")
    entries = [("worker_log", first), ("actions_log", copy), ("worker_log", same_size), ("junit", unique_size)]
    with InputDigests(entries) as digests:
        kept = [digests.keep(index) for index in range(len(entries))]
        refs = digests.refs()
    assert kept == [True, False, True, True]
    assert [(ref.type, Path(ref.path).name) for ref in refs] == [
        ("worker_log", "a.log"),
        ("worker_log", "b.log"),
        ("junit", "c.xml"),
    ]
    assert refs[0].sha256 == hashlib.sha256(b"same bytes\n").hexdigest() and refs[0].bytes == 11


def test_an_unreadable_input_fails_before_anything_is_read(tmp_path: Path) -> None:
    present = _write(tmp_path, "a.log", b"x\n")
    with pytest.raises(UsageError, match=r"cannot read worker_log input .*missing\.log"):
        InputDigests([("worker_log", present), ("worker_log", tmp_path / "missing.log")])
