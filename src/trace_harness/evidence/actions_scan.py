"""Bulk reading of Actions logs: blocks of whole lines, and a gate that picks the few lines worth a look.

A job log is mostly passing noise. Python code per line would cap ingest at a few MB/s, so the log is read in
1 MiB blocks of whole lines (each line cut at the reader's byte cap, as the line reader did), and one RE2
search over a block (a DFA: linear time, hundreds of MB/s, where ``re`` backtracks through a 60-way
alternation) finds every line that may matter: runner markers, root-cause needles from the rank table,
key-block markers and job facts. The gate is a superset of what the reader reacts to; lines it passes over
only feed the context windows, the step's last output and the clock, which the reader updates in bulk.
The gate runs on the block with ANSI escapes removed (they may split a needle); line breaks are kept, so
the n-th line of the gate text is the n-th line of the block. For a large file the gate runs ahead in a
forked helper (``GateAhead``) that reads the same blocks; the reader then only handles the picked lines.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import stat
from array import array
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection
from typing import BinaryIO

import re2

from .actions_rootcause import GATE_NEEDLES, GATE_PATTERNS
from .base import can_fork_helpers
from .lines import cap_lines

BLOCK_BYTES = 1024 * 1024
GATE_AHEAD_MIN_BYTES = 8 * 1024 * 1024  # below this a helper process costs more than it saves
_ANSI_BYTES_RE = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?")
# Literals the reader reacts to besides root-cause needles: key blocks, step and job ends, job facts.
READER_NEEDLES = (
    "PRIVATE KEY",
    "Post job cleanup.",
    "Cleaning up orphan processes",
    "log -1 --format",
    "GITHUB_SHA: ",
    "HEAD is now at ",
    "Uses:",
    "GITHUB_WORKFLOW_REF:",
)
_TIMESTAMP = r"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?)?"


def _minimal(needles: set[str]) -> list[str]:
    """A needle containing a shorter needle adds nothing to "does any occur"."""
    return sorted(needle for needle in needles if not any(o != needle and o in needle for o in needles))


def _gate() -> re2._Regexp[bytes]:
    anchored = "|".join(["##", *GATE_PATTERNS])
    literals = [re2.escape(needle.encode()).decode("latin-1") for needle in _minimal({*GATE_NEEDLES, *READER_NEEDLES})]
    pattern = rf"(?m)^(?:\xef\xbb\xbf)*{_TIMESTAMP}(?:{anchored})|" + "|".join(literals)
    options = re2.Options()
    # Bytes in, bytes matched: UTF-8 needles are byte strings. (The stubs lack the Encoding enum.)
    options.encoding = re2.Options.Encoding.LATIN1  # type: ignore[attr-defined]
    return re2.compile(pattern.encode("latin-1"), options)


GATE = _gate()


def line_blocks(stream: BinaryIO, limit: int, size: int = 0) -> Iterator[bytes]:
    """Blocks of whole lines, each ending in a newline; a line longer than ``limit`` bytes keeps its first
    ``limit`` bytes (the rest is read and dropped), so memory stays bounded whatever the input."""
    pending, dropping = b"", False
    while data := stream.read(size or BLOCK_BYTES):
        if dropping:
            newline = data.find(b"\n")
            if newline < 0:
                continue
            data, dropping = data[newline:], False
        data = pending + data
        end = data.rfind(b"\n") + 1
        pending = data[end:]
        if len(pending) > limit:
            pending, dropping = pending[:limit], True
        if end:
            yield cap_lines(data[:end], limit)
    if pending:
        yield cap_lines(pending + b"\n", limit)


def gated_lines(block: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) in ``block`` of each line the gate picks, in order; ``end`` is the line's newline."""
    gate = _ANSI_BYTES_RE.sub(b"", block) if b"\x1b" in block else block
    raw_start = gate_start = search = 0
    while (match := GATE.search(gate, search)) is not None:
        line_start = gate.rfind(b"\n", 0, match.start()) + 1
        if gate is not block:  # escapes removed: the same line lies further on in the block
            lines = gate.count(b"\n", gate_start, line_start)
            raw_start = _skip_lines(block, raw_start, lines, line_start - gate_start)
        else:
            raw_start = line_start
        gate_start = line_start
        end = block.find(b"\n", raw_start)
        yield raw_start, end
        search = gate.find(b"\n", match.start()) + 1


def _skip_lines(block: bytes, start: int, lines: int, at_least: int) -> int:
    """Start of the line ``lines`` lines after the one at ``start``, knowing it is ``at_least`` bytes on."""
    if not lines:
        return start
    position = start + at_least
    missing = lines - block.count(b"\n", start, position)
    for _ in range(missing):
        position = block.find(b"\n", position) + 1
    return position


def every_line(block: bytes) -> Iterator[tuple[int, int]]:
    start = 0
    while (end := block.find(b"\n", start)) >= 0:
        yield start, end
        start = end + 1


def lines_backward(block: bytes, start: int, end: int) -> Iterator[bytes]:
    """The lines of ``block[start:end]`` (whole lines) from the last to the first, without newlines."""
    stop = end - 1
    while stop >= start:
        begin = block.rfind(b"\n", start, stop) + 1 or start
        yield block[begin:stop]
        stop = begin - 1


def lines_forward(block: bytes, start: int, end: int) -> Iterator[bytes]:
    while start < end:
        newline = block.find(b"\n", start, end)
        yield block[start:newline]
        start = newline + 1


def last_lines(block: bytes, start: int, end: int, count: int, guess: int = 4096) -> list[bytes]:
    """The last ``count`` lines of ``block[start:end]`` (whole lines), oldest first: one split of the tail."""
    while True:
        begin = max(start, end - guess)
        lines = block[begin : end - 1].split(b"\n")
        if len(lines) > count or begin == start:
            return lines[-count:]  # the first piece may be a partial line, but more than ``count`` were found
        guess *= 4


Gate = Callable[[bytes], Iterable[tuple[int, int]]]


def gate_for(stream: BinaryIO, limit: int) -> tuple[Gate, Callable[[], None]]:
    """The gate for ``stream``'s blocks and a function to call when done: a helper process runs it ahead
    for a large regular file read from its start, else it runs here, block by block."""
    path = _large_file_path(stream)
    if path is None or not can_fork_helpers():
        return gated_lines, lambda: None
    try:
        ahead = GateAhead(path, limit)
    except OSError:  # no fork today (process or memory limits): gate here
        return gated_lines, lambda: None
    return ahead.lines, ahead.close


def _large_file_path(stream: BinaryIO) -> str | None:
    name = getattr(stream, "name", None)
    try:
        info = os.fstat(stream.fileno())
        at_start = stream.tell() == 0
    except (AttributeError, OSError, ValueError):  # zip members, BytesIO, closed or unseekable streams
        return None
    big_file = stat.S_ISREG(info.st_mode) and info.st_size >= GATE_AHEAD_MIN_BYTES
    return name if isinstance(name, str) and big_file and at_start else None


class GateAhead:
    """The gate's picks for each block, computed by a forked helper reading the same file. Each message
    carries its block's length; any mismatch, or a helper that died, sends the rest through the local gate,
    so the picks are always exactly ``gated_lines``'s. The fork may happen while the input-digest thread
    runs: the helper only opens its own file, runs the regexes and writes to its pipe, so it needs none of
    the locks that thread can hold (its hash object and file)."""

    def __init__(self, path: str, limit: int) -> None:
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._helper = context.Process(target=_gate_file, args=(path, limit, send), daemon=True)
        self._helper.start()
        send.close()
        self._local = False

    def lines(self, block: bytes) -> Iterable[tuple[int, int]]:
        if not self._local:
            try:
                numbers = array("q", self._receive.recv_bytes())
            except (EOFError, OSError):
                numbers = array("q")
            if numbers[:1] == array("q", [len(block)]):
                return zip(numbers[1::2], numbers[2::2], strict=True)
            self.close()
        return gated_lines(block)

    def close(self) -> None:
        """Stop the helper (it may still be reading ahead) and use the local gate from now on."""
        self._local = True
        self._receive.close()
        if self._helper.is_alive():
            self._helper.terminate()
        self._helper.join()


def _gate_file(path: str, limit: int, send: Connection) -> None:
    """The helper: for each block, its length and the (start, end) of every line the gate picks."""
    with open(path, "rb") as stream, send:
        for block in line_blocks(stream, limit):
            numbers = array("q", [len(block)])
            for start, end in gated_lines(block):
                numbers += array("q", (start, end))
            send.send_bytes(numbers.tobytes())
