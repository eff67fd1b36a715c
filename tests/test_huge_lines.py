"""A 100 MB single line in any streamed evidence kind: read in bounded memory, no crash, later lines still read."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from trace_harness.evidence.actions_log import read_actions_log
from trace_harness.evidence.base import Item, ReaderOptions
from trace_harness.evidence.jsonl import read_jsonl
from trace_harness.evidence.worker_log import read_worker_log
from trace_harness.models import EvidenceProblem, Finding

HUGE = 100 * 1024 * 1024
MEMORY_CAP = 16 * 1024 * 1024  # a few read chunks (the worker reader reads 4 MiB at a time), never the line


class _OneHugeLine(io.RawIOBase):
    """``head``, then ``HUGE`` filler bytes, then ``tail``: served piecewise, never held whole."""

    def __init__(self, head: bytes, tail: bytes) -> None:
        self.parts: list[tuple[bytes, int]] = [(head, 1), (b"x", HUGE), (tail, 1)]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self.parts:
            piece, repeat = self.parts[0]
            if repeat * len(piece) == 0:
                self.parts.pop(0)
                continue
            if len(piece) > 1:
                count = min(len(buffer), len(piece))
                buffer[:count] = piece[:count]
                self.parts[0] = (piece[count:], 1)
                return count
            count = min(len(buffer), repeat)
            buffer[:count] = piece * count
            self.parts[0] = (piece, repeat - count)
            return count
        return 0


Reader = Callable[[io.BufferedReader, str, ReaderOptions], Iterator[Item]]
CASES = {
    "actions_log": (
        read_actions_log,
        b"2026-01-01T00:00:00.0000000Z ##[group]Run make\n2026-01-01T00:00:00.0000000Z ##[endgroup]\n"
        b"2026-01-01T00:00:01.0000000Z ",
        b"\n2026-01-01T00:00:02.0000000Z ##[error]Process completed with exit code 1.\n",
    ),
    "worker_log": (
        read_worker_log,
        b'2026/01/01 00:00:00 event=runner_timeout task_id=t1 issue_id=i1 msg="timeout" payload=map[output_head:',
        b']\n2026/01/01 00:00:01 event=malformed task_id=t2 issue_id=i2 msg="bad"\n',
    ),
    "jsonl": (read_jsonl, b'{"level":"error","message":"', b'"}\n{"level":"error","message":"after"}\n'),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_100_mb_line_is_read_in_bounded_memory(kind: str) -> None:
    reader, head, tail = CASES[kind]
    stream = io.BufferedReader(_OneHugeLine(head, tail), 1024 * 1024)
    tracemalloc.start()
    try:
        items = list(reader(stream, f"huge.{kind}", ReaderOptions()))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_CAP, f"{kind}: peak {peak} bytes"
    findings = [item for item in items if isinstance(item, Finding)]
    assert findings, [item for item in items if isinstance(item, EvidenceProblem)]
    assert all(len(finding.excerpt.encode()) <= 4096 for finding in findings)
