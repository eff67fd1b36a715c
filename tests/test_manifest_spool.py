"""The spooled v2 manifest writer: the same bytes as the in-memory builder, in bounded memory, and no trace left."""

from __future__ import annotations

import io
from pathlib import Path
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_harness.cli import main
from trace_harness.evidence import manifest_spool
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.manifest import ManifestBuilder
from trace_harness.evidence.manifest_spool import MAX_BUCKETS, bucket_count
from trace_harness.evidence.worker_log import read_worker_log
from trace_harness.models import Finding

KINDS = ("runner_timeout", "turn_input_required", "unsupported_tool_call", "malformed")


def findings_of(log: str) -> list[Finding]:
    items = list(read_worker_log(io.BytesIO(log.encode()), "w.log", ReaderOptions()))
    assert all(isinstance(item, Finding) for item in items)
    return [item for item in items if isinstance(item, Finding)]


def written(findings: list[Finding], buckets: int) -> str:
    with ManifestBuilder(buckets) as builder:
        for finding in findings:
            builder.add(finding)
        return "".join(builder.json_pieces([], "2026-06-19T00:00:00Z"))


record = st.tuples(
    st.integers(0, 5),  # run
    st.integers(0, 20),  # minute: ties and disorder
    st.sampled_from(KINDS),
    st.integers(0, 9000),  # msg length: a few long records pass a run's 64 KiB
    st.sampled_from(["", "\t", "\u2028", "é", "\\n"]),  # texts the spool lines must carry intact
)


@settings(max_examples=60, deadline=None)
@given(st.lists(record, max_size=80), st.integers(2, 7), st.randoms(use_true_random=False))
def test_spooled_manifest_is_the_in_memory_manifest(
    records: list[tuple[int, int, str, int, str]], buckets: int, random: Random
) -> None:
    log = "".join(
        f"2026/06/18 09:{minute:02d}:00 event={kind} task_id=run-{run}{odd} issue_id=i-{n % 9} "
        f'msg="{"x" * size}{odd}"\n'
        for n, (run, minute, kind, size, odd) in enumerate(records)
    )
    findings = findings_of(log)
    shuffled = list(findings)
    random.shuffle(shuffled)
    assert written(shuffled, buckets) == written(findings, 1)


def test_an_in_order_run_past_its_prefix_is_spooled_without_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    spooled: list[int] = []
    original = manifest_spool._Admission.admits

    def counting(self: manifest_spool._Admission, key: tuple[str, str, int, str], size: int) -> bool:
        spooled.append(size if original(self, key, size) else 0)
        return spooled[-1] > 0

    monkeypatch.setattr(manifest_spool._Admission, "admits", counting)
    log = "".join(
        f"2026/06/18 09:{n // 60:02d}:{n % 60:02d} event=runner_timeout task_id=run-1 issue_id=i-{n} "
        f'msg="{"y" * 2000}"\n'
        for n in range(200)
    )
    text = written(findings_of(log), 2)
    assert sum(spooled) <= 64 * 1024  # texts past the prefix never reach the disk
    assert spooled.count(0) > 150
    assert '"dropped_events":' in text and text == written(findings_of(log), 1)


def test_the_spool_folder_goes_even_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    findings = findings_of('2026/06/18 09:00:00 event=malformed task_id=r issue_id=i msg="m"\n')
    with pytest.raises(RuntimeError), ManifestBuilder(3) as builder:
        builder.add(findings[0])
        pieces = builder.json_pieces([], "t")
        next(pieces)
        assert list(tmp_path.iterdir())  # the folder exists while the builder writes
        raise RuntimeError("disk full")
    assert not list(tmp_path.iterdir())


def test_the_command_spools_large_inputs_and_writes_the_same_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "w.log"
    log.write_text(
        "".join(
            f'2026/06/18 09:00:{n % 60:02d} event=malformed task_id=run-{n % 13} issue_id=i-{n} msg="m{n}"\n'
            for n in range(400)
        )
    )
    outputs = []
    for per_bucket in (10**9, 2000):  # in memory, then spooled to many buckets
        monkeypatch.setattr(manifest_spool, "BUCKET_INPUT_BYTES", per_bucket)
        out = tmp_path / f"m-{per_bucket}.json"
        assert main(["manifest", "--worker-log", str(log), "--json-out", str(out)]) == 0
        outputs.append(out.read_text().split('"generated_at"')[0] + out.read_text().split('"bounds"')[1])
    assert outputs[0] == outputs[1]
    assert outputs[0].count('"run":') == 13


def test_bucket_count() -> None:
    assert bucket_count(0) == 1
    assert bucket_count(manifest_spool.BUCKET_INPUT_BYTES * 2 - 1) == 1
    assert bucket_count(manifest_spool.BUCKET_INPUT_BYTES * 10) == 10
    assert bucket_count(10**15) == MAX_BUCKETS
