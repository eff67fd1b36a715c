"""The worker-log bulk path (`evidence.worker_scan`): same clusters as the generic reader, byte-identical
reports with one or two processes (or scan threads), and a golden report of a small generated log. Every
test runs on the native scanner (where it is built) and on the pure-Python batch path."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_files import assert_golden
from trace_harness.cluster import ClusterAccumulator
from trace_harness.config import Config
from trace_harness.evidence import worker_log, worker_native, worker_scan, worker_split
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.worker_log import read_worker_log
from trace_harness.models import Finding
from trace_harness.pipeline import collect_report
from trace_harness.report import report_json

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "bench" / "gen_worker_log.py"
FIXTURES = Path(__file__).parent / "fixtures" / "worker"

KINDS = ["runner_timeout", "turn_input_required", "unsupported_tool_call", "malformed", "runner_end", "phase"]
MESSAGES = ['msg="runner failed"', 'msg="Runner FAILED now"', 'msg="ok"', 'msg="x payload=map[pr:5"', ""]
PAYLOADS = [
    "",
    " payload=map[ok:false error:exit status 1]",
    " payload=map[elapsed_ms:5 model:m session_id:ps-1 pr_url:https://x/pull/9 output_head:x]",
    ' payload=map[raw:{"a":',
    " payload=notamap",
    " payload=map[method:approval params:{}]",
]

CANONICAL_HEADS = [
    ["task_id=run-1", "issue_id=issue-2"],
    ["task_id=run-1", "issue_id=issue-2", "issue_identifier=GH-2"],
    ["task_id=run-5", "issue_id=issue-2", "session_id=s-3"],
    ["task_id=run-1", "issue_id=issue-6", "issue_identifier=GH-6", "session_id=s-3"],
]


SLOW_AND_PER_PATH = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]  # the path fixture is per test


@pytest.fixture(autouse=True, params=["native", "python"])
def scan_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The native scanner, or the pure-Python batch path it must agree with."""
    if request.param == "native" and worker_native.NATIVE is None:
        pytest.skip("the native scanner is not built here")
    if request.param == "python":
        monkeypatch.setattr(worker_native, "NATIVE", None)
    return str(request.param)


def generated_log(directory: Path, records: int, seed: int) -> Path:
    out = directory / "worker.log"
    subprocess.run([sys.executable, str(GENERATOR), str(out), str(records), str(seed)], check=True)
    return out


def report_text(paths: list[Path], *, processes_from: int) -> str:
    """The report JSON with the two-process split used from ``processes_from`` bytes on."""
    original = worker_scan.PARALLEL_MIN_BYTES
    worker_scan.PARALLEL_MIN_BYTES = processes_from
    try:
        return report_json(collect_report({"worker_log": paths}, Config(), generated_at="2026-01-01T00:00:00Z"))
    finally:
        worker_scan.PARALLEL_MIN_BYTES = original


def test_generated_log_report_matches_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generated_log(tmp_path, 800, 5)
    monkeypatch.chdir(tmp_path)  # the report quotes the path as given: keep it relative and stable
    assert_golden("worker/generated_800_seed5.json", report_text([Path("worker.log")], processes_from=1 << 60))


HALVES = None
BY_KINDS = [
    frozenset({"runner_end", "runner_timeout"}),
    frozenset({"malformed"}),
    frozenset(worker_log.FAILURE_KINDS) - {"turn_input_required"},
]


@pytest.mark.parametrize("main_kinds", [HALVES, *BY_KINDS])
def test_two_processes_give_a_byte_identical_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, main_kinds: frozenset[str] | None
) -> None:
    """By halves or by any partition of the kinds, the report is the one-process report."""
    log = generated_log(tmp_path, 3000, 11)
    with log.open("ab") as handle:  # odd records and line breaks, so both shares meet the general parser
        handle.write((FIXTURES / "mixed.log").read_bytes() + (FIXTURES / "crlf_invalid_utf8.log").read_bytes())
    one = report_text([log, FIXTURES / "mixed.log"], processes_from=1 << 60)
    monkeypatch.setattr(worker_split, "balanced_kinds", lambda _counts: _kinds_split(main_kinds))
    assert one == report_text([log, FIXTURES / "mixed.log"], processes_from=0)
    assert '"occurrences"' in one


def _kinds_split(main_kinds: frozenset[str] | None) -> tuple[frozenset[str], frozenset[str]] | None:
    return None if main_kinds is None else (main_kinds, frozenset(worker_log.FAILURE_KINDS) - main_kinds)


def test_balanced_kinds_split_the_generated_mix_and_refuse_a_dominant_kind(tmp_path: Path) -> None:
    log = generated_log(tmp_path, 3000, 11)
    main, helper = worker_split.plan(log, log.stat().st_size)
    assert main.kinds and helper.kinds and main.kinds | helper.kinds == set(worker_log.FAILURE_KINDS)
    assert (main.start, main.limit, helper.start, helper.limit) == (0, None, 0, None)
    counts = worker_split.sampled_kinds(log, log.stat().st_size)
    share = sum(counts[kind] for kind in main.kinds) / sum(counts.values())
    assert 0.3 <= share <= 0.6
    skewed = Counter({"runner_timeout": 900, "malformed": 50, "runner_end": 50})
    assert worker_split.balanced_kinds(skewed) is None
    assert worker_split.balanced_kinds(Counter({"malformed": 5, "runner_end": 5})) is None  # too few to tell
    empty = tmp_path / "empty.log"
    empty.touch()
    main, helper = worker_split.plan(empty, 0)
    assert main.kinds is None and helper.kinds is None  # nothing sampled: by halves


def _die(*_args: object) -> list[tuple[str, int, int]]:
    os._exit(9)  # the forked half is killed (as by the OOM killer): no result, no exception to pickle


def test_a_dead_helper_process_costs_time_not_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = generated_log(tmp_path, 3000, 11)
    one = report_text([log], processes_from=1 << 60)
    monkeypatch.setattr(worker_scan, "_scan_range", _die)
    assert report_text([log], processes_from=0) == one


def clusters_both_ways(data: bytes) -> tuple[list[object], list[object]]:
    options = ReaderOptions()
    generic = ClusterAccumulator()
    for item in read_worker_log(io.BytesIO(data), "w.log", options):
        assert isinstance(item, Finding)
        generic.add(item)
    bulk = ClusterAccumulator()
    worker_scan.fold_worker_log(io.BytesIO(data), "w.log", options, bulk)
    return list(generic.clusters()), list(bulk.clusters())


record = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(["2026/06/10 00:00:01", "2026/06/10 00:00:01.5", "2026/06/11 09:30:00"]),
    st.sampled_from([" ", "\t"]),
    st.one_of(
        st.sampled_from(CANONICAL_HEADS),  # the bulk path's own shape, with and without the optional ids
        st.lists(st.sampled_from(["task_id=run-1", "issue_id=issue-2", 'issue_identifier="GH-2"', "session_id=s-3",
                                  "issue_identifier=GH-4", "session_id=ghp_" + "C" * 36, "pr_url=u", "x=a=b"]),
                 max_size=5, unique=True),
    ),
    st.sampled_from(MESSAGES),
    st.sampled_from(PAYLOADS),
    st.sampled_from(["\n", "\r\n", "\r", "\n  continuation event=runner_timeout issue_id=fake\n"]),
)  # fmt: skip


def render_records(records: list[tuple[str, str, str, list[str], str, str, str]]) -> bytes:
    lines = []
    for kind, stamp, gap, fields, message, payload, end in records:
        head = " ".join([f"event={kind}", *fields, *([message] if message else [])])
        lines.append(f"{stamp}{gap}{head}{payload}{end}")
    return "".join(lines).encode()


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_AND_PER_PATH)
@given(st.lists(record, max_size=25))
def test_bulk_path_folds_what_the_generic_reader_yields(records: list[tuple[str, ...]]) -> None:
    generic, bulk = clusters_both_ways(render_records(records))  # type: ignore[arg-type]
    assert bulk == generic


def test_canonical_records_fold_without_the_general_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    line = (
        "2026/06/18 09:00:00 event=runner_timeout task_id=run-1 issue_id=issue-1 issue_identifier=GH-1 "
        'session_id=s-1 msg="timeout" payload=map[elapsed_ms:5 output_head:x]\n'
    )
    parsed: list[str] = []

    def counting_parse(timestamp: str, text: str, path: str, line_no: int) -> Finding | None:
        parsed.append(text)
        return worker_log.parse_record(timestamp, text, path, line_no)

    monkeypatch.setattr(worker_scan, "parse_record", counting_parse)
    accumulator = ClusterAccumulator()
    worker_scan.fold_worker_log(io.BytesIO(line.encode() * 3000), "w.log", ReaderOptions(), accumulator)
    (cluster,) = accumulator.clusters()
    assert cluster.occurrences == 1 and len(cluster.evidence) < 3000
    assert parsed == []  # canonical records never take the general parser, not even for their entries


def test_line_breaks_count_crlf_split_between_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lines.log"
    path.write_bytes(b"a\r\nb\rc\nd\r\ne")
    monkeypatch.setattr(worker_split, "_COUNT_CHUNK", 2)  # "a\r" | "\nb" | ...: the \r\n straddles a read
    assert worker_split.line_breaks(path, path.stat().st_size) == 4


def test_a_daemonic_process_scans_in_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A multiprocessing.Pool worker may not fork: the scan stays in-process, with the same report."""
    log = generated_log(tmp_path, 500, 3)
    one = report_text([log], processes_from=1 << 60)
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    monkeypatch.setattr(worker_scan.multiprocessing, "get_context", _no_fork)
    assert report_text([log], processes_from=0) == one


def _no_fork(*_args: object) -> None:
    raise AssertionError("daemonic processes are not allowed to have children")


@pytest.mark.parametrize("chunk", [4096, 65536])
def test_small_chunks_fold_what_the_generic_reader_yields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Many chunks: pending entries are cut and placed chunk by chunk, ids join across chunks."""
    log = generated_log(tmp_path, 3000, 13)
    data = log.read_bytes() + (FIXTURES / "mixed.log").read_bytes() + log.read_bytes()[:40000]
    monkeypatch.setattr(worker_log, "CHUNK_BYTES", chunk)
    generic, bulk = clusters_both_ways(data)
    assert bulk == generic
    assert max(len(cluster.evidence) for cluster in bulk) > 100  # the byte bound, not the input, ends the lists


def test_twin_lines_are_each_numbered(tmp_path: Path) -> None:
    """Identical lines in one chunk: each evidence ref points at its own line, as the generic reader's do."""
    lines = generated_log(tmp_path, 400, 17).read_bytes().splitlines(keepends=True)
    generic, bulk = clusters_both_ways(b"".join(line + line for line in lines))
    assert bulk == generic
    refs = [entry.ref for cluster in bulk for entry in cluster.evidence]
    assert len(refs) == len(set(refs)) > 50


shared_record = st.tuples(
    st.sampled_from([*KINDS, '"runner_timeout"', '"malformed"']),  # a quoted kind is another shape
    st.sampled_from(["2026/06/10 00:00:01", "2026/06/11 09:30:00"]),
    st.sampled_from([" ", "\t"]),
    st.one_of(
        st.sampled_from(CANONICAL_HEADS),
        st.lists(st.sampled_from(["task_id=run-1", "issue_id=issue-2", "event=malformed", "session_id=s-3",
                                  "issue_identifier=GH-4"]), max_size=4, unique=True),  # a second event field
    ),
    st.sampled_from(MESSAGES),
    st.sampled_from(PAYLOADS),
    st.sampled_from(["\n", "\r\n", "\n  continuation event=runner_timeout issue_id=fake\n"]),
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_AND_PER_PATH)
@given(st.lists(shared_record, max_size=25), st.sets(st.sampled_from(worker_log.FAILURE_KINDS)))
def test_two_kind_shares_fold_what_one_scan_folds(records: list[tuple[str, ...]], main_kinds: set[str]) -> None:
    """Each record goes to the share owning the kind its start names (even when the parser files it under
    another class), so the two shares merged are the one-process scan."""
    data = render_records(records)  # type: ignore[arg-type]
    options, mine = ReaderOptions(), frozenset(main_kinds)
    one, main, helper = ClusterAccumulator(), ClusterAccumulator(), ClusterAccumulator()
    worker_scan.fold_worker_log(io.BytesIO(data), "w.log", options, one)
    worker_scan.fold_worker_log(io.BytesIO(data), "w.log", options, main, kinds=mine)
    worker_scan.fold_worker_log(
        io.BytesIO(data), "w.log", options, helper, kinds=frozenset(worker_log.FAILURE_KINDS) - mine
    )
    main.merge(pickle.loads(pickle.dumps(helper.state())))
    assert main.clusters() == one.clusters()


def test_a_zoned_log_shared_by_kinds_gives_the_one_process_report(tmp_path: Path) -> None:
    """Stamps in a configured zone take the record-by-record scan; the kinds filter holds there too."""
    log = generated_log(tmp_path, 3000, 19)
    config = Config.model_validate({"worker_log_tz": "Europe/Berlin"})
    reports = []
    for processes_from in (1 << 60, 0):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(worker_scan, "PARALLEL_MIN_BYTES", processes_from)
            reports.append(report_json(collect_report({"worker_log": [log]}, config, generated_at="t")))
    assert reports[0] == reports[1]
    assert worker_split.plan(log, log.stat().st_size)[0].kinds is not None  # the two-process run was by kinds
