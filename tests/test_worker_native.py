"""The native worker scanner (``trace_harness._worker_native``) against its oracles: the pure-Python batch
path and the record-by-record reader, on mutated bytes, with a keeper, and shared by two threads."""

from __future__ import annotations

import io
import shutil
import sysconfig

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trace_harness.cluster import ClusterAccumulator
from trace_harness.evidence import worker_log, worker_native, worker_scan
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.worker_log import read_worker_log
from trace_harness.models import Finding
from trace_harness.occurrences import OccurrenceKeeper

pytestmark = pytest.mark.skipif(worker_native.NATIVE is None, reason="the native scanner is not built here")

LINES = [
    b"2026/06/18 09:00:00 event=runner_timeout task_id=run-1 issue_id=issue-1 issue_identifier=GH-1 "
    b'session_id=s-1 msg="timeout" payload=map[elapsed_ms:5 output_head:x]',
    b'2026/06/18 09:00:01.25 event=runner_end task_id=run-2 issue_id=issue-1 msg="Runner failed: exit 1"',
    b'2026/06/18 09:00:02 event=malformed task_id=run-3 issue_id=issue-3 session_id=s-1 msg="bad" payload=map[raw:{]',
    b'2026/06/19 00:00:00 event=turn_input_required task_id=run-4 issue_id=issue-4 issue_identifier=GH-4 msg=""',
    b'2026/06/19 00:00:03 event=unsupported_tool_call task_id=run-5 issue_id=issue-5 msg="x" payload=map[tool:t pr:7]',
    b'2026/06/19 00:00:04 event=runner_end task_id=run-6 issue_id=issue-6 msg="runner completed" payload=map[ok:true]',
]
# Bytes that sit on the edges of the canonical head's classes, and the separators it reads.
EDGES = [b" ", b"\t", b'"', b"=", b"\\", b":", b".", b"/", b"\x00", b"\x7f", b"\xff", b"\xc3\xa9", b"\xe2\x80", b"\n",
         b"event=malformed", b" payload=", b"pr_url:", b"_id:", b"runner failed", b"7"]  # fmt: skip
SLOW = [HealthCheck.too_slow]


def mutate(line: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """Each edit deletes ``cut`` bytes at a position (taken modulo the line's length) and inserts bytes."""
    for at, cut, insert in edits:
        at %= len(line) + 1
        line = line[:at] + insert + line[at + cut :]
    return line


edit = st.tuples(st.integers(0, 400), st.integers(0, 3), st.sampled_from([b"", *EDGES]))
mutated = st.builds(mutate, st.sampled_from(LINES), st.lists(edit, max_size=3))


def fold(data: bytes, *, native: bool, keeper: OccurrenceKeeper | None = None, **kwargs: object) -> list[object]:
    accumulator = ClusterAccumulator()
    with pytest.MonkeyPatch.context() as patch:
        if not native:
            patch.setattr(worker_native, "NATIVE", None)
        worker_scan.fold_worker_log(io.BytesIO(data), "w.log", ReaderOptions(), accumulator, keeper=keeper, **kwargs)  # type: ignore[arg-type]
    return list(accumulator.clusters())


def generic(data: bytes) -> list[object]:
    accumulator = ClusterAccumulator()
    for item in read_worker_log(io.BytesIO(data), "w.log", ReaderOptions()):
        assert isinstance(item, Finding)
        accumulator.add(item)
    return list(accumulator.clusters())


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(st.lists(mutated, min_size=1, max_size=12))
def test_mutated_heads_fold_as_the_python_paths_fold(lines: list[bytes]) -> None:
    """Any bytes in and around a head: the same clusters as the batch path and the per-record reader."""
    data = b"\n".join(lines) + b"\n"
    native = fold(data, native=True)
    assert native == fold(data, native=False)
    assert native == generic(data)


@settings(max_examples=100, deadline=None, suppress_health_check=SLOW)
@given(st.sampled_from(LINES), st.integers(0, 300))
def test_every_truncated_line_folds_as_the_python_paths_fold(line: bytes, keep: int) -> None:
    """A head cut anywhere (the last line without its line break): nothing is read past the end."""
    data = line[:keep]
    assert fold(data, native=True) == fold(data, native=False) == generic(data)


def test_keeper_keeps_what_the_python_path_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows come back for the keeper while it may want them; its bound closes over many small chunks."""
    data = many_records(3000)
    monkeypatch.setattr(worker_log, "CHUNK_BYTES", 8192)
    kept = []
    for native in (True, False):
        keeper = OccurrenceKeeper(25)
        clusters = fold(data, native=native, keeper=keeper)
        kept.append((clusters, keeper.findings()))
    assert kept[0] == kept[1]
    assert len(kept[0][1]) == 25


SPLITS = [frozenset({"runner_end"}), frozenset({"malformed", "runner_timeout"}), frozenset(worker_log.FAILURE_KINDS)]


@pytest.mark.parametrize("split", SPLITS)
def test_a_scan_thread_for_some_kinds_folds_what_one_scanner_folds(
    monkeypatch: pytest.MonkeyPatch, split: frozenset[str]
) -> None:
    data = many_records(2000)
    monkeypatch.setattr(worker_log, "CHUNK_BYTES", 16384)
    assert fold(data, native=True, split=split) == fold(data, native=True)


def test_a_kind_is_handed_over_once() -> None:
    scanner = new_scanner()
    after, slow, rows = scanner.chunk(LINES[0] + b"\n" + LINES[5] + b"\nnoise\n", 7, "\uffff".encode())
    assert (after, slow) == (10, [])
    assert [(kind, line) for kind, line, _ in rows] == [(0, 7)]
    count, first, last, columns, roots, pending = scanner.take(0)
    assert (count, first, last) == (1, "2026/06/18 09:00:00", "2026/06/18 09:00:00")
    assert [ids for ids, _ in columns] == [["issue-1"], ["GH-1"], [], ["run-1"], ["s-1"]]
    assert [labels for _, labels in columns] == [[0], [0], [], [0], [0]]  # one component
    assert roots == [0] and [(stamp, line) for stamp, line, _ in pending] == [("2026/06/18 09:00:00", 7)]
    assert pending[0][2] == LINES[0].decode()
    assert scanner.take(0) is None and scanner.take(4) is None  # a successful runner_end is no failure


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((("a",) * 9, (True,) * 9, -1, (), (1, 1, 1, 1)), ValueError),  # too many kinds
        ((("a",), (True,), 1, (), (1, 1, 1, 1)), ValueError),  # no such conditional kind
        ((("a",), (True,), -1, (b"pr",), (1, 1, 1, 1)), ValueError),  # a suspect must end in ':'
        (((b"a",), (True,), -1, (), (1, 1, 1, 1)), TypeError),  # kinds are str
    ],
)
def test_bad_scanner_arguments_are_refused(args: tuple[object, ...], error: type[Exception]) -> None:
    assert worker_native.NATIVE is not None
    with pytest.raises(error):
        worker_native.NATIVE.Scanner(*args)


def test_the_native_scanner_is_built_where_a_compiler_is() -> None:
    """The build hook compiles it whenever it can: CI must not silently test only the Python path."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) here")
    assert worker_native.NATIVE is not None


def many_records(count: int) -> bytes:
    """Canonical records of every kind, stamps out of order, ids in overlapping families (many occurrences)."""
    lines = []
    for index in range(count):
        kind = worker_log.FAILURE_KINDS[index % 5]
        stamp = f"2026/06/{10 + index % 7:02d} {index * 7919 % 24:02d}:{index % 60:02d}:{index * 31 % 60:02d}"
        ids = f"task_id=run-{index % 211} issue_id=issue-{index % 97}" + (f" session_id=s-{index % 13}" * (index % 2))
        lines.append(f'{stamp} event={kind} {ids} msg="runner failed {index}" payload=map[n:{index}]\n')
    return "".join(lines).encode()


def new_scanner() -> object:
    assert worker_native.NATIVE is not None
    kinds = worker_native.FAILURE_KINDS
    return worker_native.NATIVE.Scanner(kinds, (True,) * len(kinds), 4, (b"pr:",), (100, 30, 1024, 262144))
