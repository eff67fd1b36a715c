"""Batch folding of canonical worker records: the hot path of `report --worker-log`.

Each decoded, line-aligned chunk is matched by one ``findall`` (``worker_rows.ROW_RE``); records of any other
shape, and rows whose payload might supply an id, go to the per-record scan one line each. The rows are grouped
by event kind, and each cluster folds its rows in C-level passes: a count, the first and last timestamps, and
a star join of the ids (``IdComponents.join_star``). Evidence entries are decided apart: ``PendingEntries``
keeps, per cluster, the earliest rows whose entries could still fit the cluster's byte bound. Only those rows'
lines are looked up and numbered (a row's line is rebuilt from the row, so one ``str.index`` finds it), and
only the ones still pending when the input ends are built (``settle``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from itertools import groupby

from ..cluster import ClusterAccumulator, EvidenceKey, evidence_key
from ..models import Finding
from ..occurrences import OccurrenceKeeper, pairs_occurrence_key
from .worker_rows import (
    IDENT,
    ISSUE,
    KIND,
    SESSION,
    STAMP,
    TASK,
    Pending,
    PendingEntries,
    Row,
    failures,
    floor,
    go_stamp,
    iso,
    line_of,
    odd_rows,
    pairs,
    row_re,
)

Build = Callable[[str, str, int, str], tuple[Finding, EvidenceKey, list[tuple[int, str]]]]
SlowScan = Callable[[str, int], int]
Placing = dict[int, tuple[str, Pending | None]]  # row index -> (cluster, its pending entry, if any)


class BatchScan:
    """Folds the canonical rows of one input's chunks; ``slow`` scans any other text record by record, and
    ``build`` makes the finding of a canonical record's line."""

    def __init__(
        self,
        path: str,
        accumulator: ClusterAccumulator,
        keeper: OccurrenceKeeper | None,
        slow: SlowScan,
        build: Build,
        kinds: frozenset[str] | None = None,
    ) -> None:
        self.path, self.accumulator, self.keeper, self.slow, self.build = path, accumulator, keeper, slow, build
        self.rows = row_re(kinds)  # the event kinds this process folds
        self.pending: dict[str, PendingEntries] = {}

    def fold_chunks(self, chunks: Iterator[bytes], line_no: int) -> int:
        """Fold line-aligned chunks, the first starting at line ``line_no``; returns the line after them."""
        for buffer in chunks:
            line_no = self.chunk_bytes(buffer, line_no)
        return line_no

    def chunk_bytes(self, buffer: bytes, line_no: int) -> int:
        """``chunk`` of a line-aligned chunk's bytes."""
        return self.chunk(buffer.decode("utf-8", "replace"), line_no)

    def chunk(self, text: str, line_no: int) -> int:
        """Fold a decoded line-aligned chunk whose first line is ``line_no``; returns the line after it."""
        framed = "\n" + text if text.endswith("\n") else "\n" + text + "\n"  # every line sits between two \n
        rows: list[Row] = self.rows.findall(framed)
        if rows:
            self._fold_rows(framed, line_no, self._canonical(framed, line_no, rows))
        return line_no + text.count("\n")

    def settle(self) -> None:
        """Build each cluster's pending entries (``offer_pending``)."""
        for cluster_id, pending in sorted(self.pending.items()):
            self.offer_pending(cluster_id, pending.entries)
        self.pending.clear()

    def offer_pending(self, cluster_id: str, entries: list[Pending]) -> None:
        """Build pending entries in key order and offer them until the cluster's heap refuses one."""
        for (stamp, line_no), _, line in entries:
            finding, key, found = self.build(cluster_id, stamp, line_no, line)
            if not self.accumulator.offer_in_order(finding, key, found):
                break

    def _canonical(self, framed: str, line_no: int, rows: list[Row]) -> list[Row]:
        """The rows the batch folds, in line order; every other failure record is scanned on its own."""
        if "" in map(KIND, rows):
            self._scan_others(framed, line_no)
            rows = [row for row in rows if row[2]]
        odd = odd_rows(rows)
        if odd:
            self._scan_lines(framed, line_no, [line_of(rows[index]) for index in sorted(odd)])
            rows = [row for index, row in enumerate(rows) if index not in odd]
        return rows

    def _fold_rows(self, framed: str, line_no: int, rows: list[Row]) -> None:
        kinds = list(map(KIND, rows))
        placing: Placing = {}
        for kind, indexes in groupby(sorted(range(len(rows)), key=kinds.__getitem__), kinds.__getitem__):
            cluster_id, kept = failures(kind, list(indexes), rows)
            if kept:
                group = list(map(rows.__getitem__, kept))
                self._fold(cluster_id, group)
                self._pend(cluster_id, kept, group, line_no, placing)
        if placing:
            self._place(framed, line_no, rows, placing)

    def _fold(self, cluster_id: str, rows: list[Row]) -> None:
        stamps = list(map(STAMP, rows))
        spokes = [(1, list(map(IDENT, rows))), (3, list(map(TASK, rows))), (4, list(map(SESSION, rows)))]
        first, last = iso(min(stamps)), iso(max(stamps))
        self.accumulator.fold_worker_rows(cluster_id, len(rows), first, last, list(map(ISSUE, rows)), spokes)

    def _pend(self, cluster_id: str, indexes: list[int], rows: list[Row], line_no: int, placing: Placing) -> None:
        """Pend the rows that may have entries kept, and mark those still pending, and those the keeper may
        want, for placing. Until placed, a row's key holds ``line_no + index``: the same order as its line."""
        pending = self.pending.setdefault(cluster_id, PendingEntries())
        bound, digits = pending.bound(), len(self.path) + 1 + len(str(line_no))
        fresh = [
            [(row[0], line_no + index), floor(row, digits), row]
            for index, row in zip(indexes, rows, strict=True)
            if bound is None or row[0] <= bound
        ]
        for entry in pending.add(fresh):
            placing[entry[0][1] - line_no] = (cluster_id, entry)
        if self.keeper is not None:
            kept = self.keeper.bound()
            limit = None if kept is None else go_stamp(kept[0])
            for index, row in zip(indexes, rows, strict=True):
                if (limit is None or row[0] <= limit) and index not in placing:
                    placing[index] = (cluster_id, None)

    def _place(self, framed: str, line_no: int, rows: list[Row], placing: Placing) -> None:
        """Find and number each placed row's line (one forward pass), then pend its text and offer it to the
        keeper. A twin line earlier in the chunk is always placed too, so each search finds its own line."""
        at = counted = 0
        for index in sorted(placing):
            row = rows[index]
            line = line_of(row)
            at = framed.index(f"\n{line}\n", at)
            line_no += framed.count("\n", counted, at)
            counted = at
            cluster_id, entry = placing[index]
            if entry is not None:
                entry[0], entry[2] = (row[0], line_no), line
            self._offer_to_keeper(cluster_id, row, line_no, line)
            at += 1

    def _offer_to_keeper(self, cluster_id: str, row: Row, line_no: int, line: str) -> None:
        keeper = self.keeper
        if keeper is None:
            return
        key = evidence_key(iso(row[0]), f"{self.path}:{line_no}")
        if keeper.may_want(key):  # built only if still kept at the end: most offered records are evicted
            build = partial(self._finding, cluster_id, row[0], line_no, line)
            keeper.keep_built(pairs_occurrence_key(cluster_id, pairs(row)), key, build)

    def _finding(self, cluster_id: str, stamp: str, line_no: int, line: str) -> Finding:
        return self.build(cluster_id, stamp, line_no, line)[0]

    def _scan_others(self, framed: str, line_no: int) -> None:
        """Hand each failure record start that is not canonical to the per-record scan."""
        counted = 0
        for match in self.rows.finditer(framed):
            if match.group(3) is None:
                at = match.start()
                line_no += framed.count("\n", counted, at)
                counted = at
                self.slow(framed[at + 1 : framed.index("\n", at + 1) + 1], line_no)

    def _scan_lines(self, framed: str, line_no: int, lines: list[str]) -> None:
        """Hand these lines (in line order; twins in turn) to the per-record scan."""
        at = counted = 0
        for line in lines:
            at = framed.index(f"\n{line}\n", at)
            line_no += framed.count("\n", counted, at)
            counted = at
            self.slow(line + "\n", line_no)
            at += 1
