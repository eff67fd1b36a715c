"""The batch path on the optional native scanner (``trace_harness._worker_native``, built from C when a
compiler is at hand): the same folding as ``worker_batch.BatchScan``, with the per-record work in C.

The scanner reads a chunk's bytes line by line. A canonical failure record (a row ``worker_rows.ROW_RE``
yields, less the odd ones) is counted, stamped, joined into its kind's id components and pended as an
evidence entry (``worker_rows.PendingEntries``'s rule) in C; every other failure record start comes back
as a *slow* line for the per-record scan. Folded rows the run's keeper may still want come back as ``Row``
tuples: every row until the keeper is full, very few after. The scan runs without the GIL, so a second
scanner can fold other kinds of the same chunks in a thread. When the input ends, each folded kind is
deferred to its cluster's finish (``ClusterAccumulator.defer``): then its ids and components become an
``IdComponents``, merged like a forked helper's state, and its pending entries are built and offered in
key order, as ``BatchScan.settle`` does, in whichever process finishes that cluster.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from types import ModuleType
from typing import Any

from ..bounds import MAX_CLUSTER_BYTES
from ..cluster import ClusterAccumulator
from ..components import IdComponents
from ..occurrences import OccurrenceKeeper
from .worker_batch import BatchScan, Build, SlowScan
from .worker_log import CLUSTER_BY_KIND, FAILURE_KINDS, RUNNER_FAILURE
from .worker_rows import (
    _ENTRY_FLOOR,
    _EXCERPT_FLOOR,
    _HEAD_PUNCTUATION,
    SUSPECT_SCALARS,
    Row,
    go_stamp,
    iso,
    line_of,
)

_CONDITIONAL = FAILURE_KINDS.index("runner_end")  # a failure only when its msg says "runner failed"
_CLUSTERS = tuple(CLUSTER_BY_KIND.get(kind, RUNNER_FAILURE) for kind in FAILURE_KINDS)
_SUSPECTS = tuple(scalar.encode() for scalar in SUSPECT_SCALARS.split("|"))
NativeRow = tuple[int, int, Row]  # kind index, line number, row


def load() -> ModuleType | None:
    """The compiled scanner, or None where it was not built (the pure-Python path then runs)."""
    try:
        return importlib.import_module("trace_harness._worker_native")
    except ImportError:
        return None


NATIVE = load()


class NativeBatchScan(BatchScan):
    """``BatchScan`` whose chunks are scanned, folded and pended by the native scanner."""

    def __init__(
        self,
        path: str,
        accumulator: ClusterAccumulator,
        keeper: OccurrenceKeeper | None,
        slow: SlowScan,
        build: Build,
        kinds: frozenset[str] | None = None,
        split: frozenset[str] | None = None,
    ) -> None:
        """``split``: kinds a second scanner folds in a thread, on the same chunks (the scan runs without
        the GIL, so both cores work and no state needs merging)."""
        super().__init__(path, accumulator, keeper, slow, build, kinds)
        mine = (kinds if kinds is not None else frozenset(FAILURE_KINDS)) - (split or frozenset())
        self.scanners = [self._scanner(mine)] + ([self._scanner(split)] if split else [])
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="worker-scan") if split else None
        self.handed_over: list[Any] = []  # scanners that have handed a kind over

    def _scanner(self, kinds: frozenset[str]) -> Any:
        assert NATIVE is not None, "NativeBatchScan needs the compiled scanner"
        wanted = tuple(kind in kinds for kind in FAILURE_KINDS)
        floors = (_ENTRY_FLOOR + len(self.path) + 1, _HEAD_PUNCTUATION, _EXCERPT_FLOOR, MAX_CLUSTER_BYTES)
        return NATIVE.Scanner(FAILURE_KINDS, wanted, _CONDITIONAL, _SUSPECTS, floors)

    def fold_chunks(self, chunks: Iterator[bytes], line_no: int) -> int:
        """With a scan thread, the thread also reads the next chunk once it has scanned this one (the main
        thread's share is the larger one), so reading is off the main thread's path."""
        if self.pool is None:
            return super().fold_chunks(chunks, line_no)
        buffer = next(chunks, None)
        while buffer is not None:
            keep = self._keep()
            partner = self.pool.submit(self._scan_then_read, chunks, buffer, line_no, keep)
            mine = self.scanners[0].chunk(buffer, line_no, keep)
            theirs, following = partner.result()
            self._hand_on(buffer, [mine, theirs])
            buffer, line_no = following, int(mine[0])
        return line_no

    def chunk_bytes(self, buffer: bytes, line_no: int) -> int:
        """Fold a line-aligned chunk whose first line is ``line_no``; returns the line after it."""
        result = self.scanners[0].chunk(buffer, line_no, self._keep())
        self._hand_on(buffer, [result])
        return int(result[0])

    def _scan_then_read(self, chunks: Iterator[bytes], buffer: bytes, line_no: int, keep: bytes) -> Any:
        """The scan thread's turn: its kinds of this chunk, then the next chunk (only this thread reads on)."""
        return self.scanners[1].chunk(buffer, line_no, keep), next(chunks, None)

    def _keep(self) -> bytes:
        return (self._keeper_limit() or "").encode()

    def _hand_on(self, buffer: bytes, results: list[Any]) -> None:
        """Slow lines to the per-record scan, and rows the keeper may want to the keeper."""
        for _, slow, rows in results:
            for number, start, stop in slow:
                self.slow(buffer[start:stop].decode("utf-8", "replace") + "\n", number)
            for kind, number, row in rows:  # the keeper's bound may close while they are offered
                self._offer_to_keeper(_CLUSTERS[kind], row, number, line_of(row))

    def settle(self) -> None:
        """Defer each folded kind's hand-over to when its cluster is finished: then its ids become an
        ``IdComponents`` merged like a forked helper's state, and its pending entries are built and offered
        in key order (``BatchScan.offer_pending``), possibly in a forked finisher."""
        if self.pool is not None:
            self.pool.shutdown()
        for scanner in self.scanners:
            for index, count in enumerate(scanner.counts()):
                if count:
                    self.accumulator.defer(_CLUSTERS[index], count, partial(self._hand_over, scanner, index))

    def _hand_over(self, scanner: Any, index: int) -> None:
        partners = [other for other in self.scanners if other is not scanner and other in self.handed_over]
        self.handed_over.append(scanner)  # its id strings can be shared from now on (in this process)
        count, first, last, tables, roots, pending = scanner.take(index, partners[0] if partners else None)
        cluster_id = _CLUSTERS[index]
        components = IdComponents.from_columns(tables, roots)
        self.accumulator.fold_worker_components(cluster_id, count, iso(first), iso(last), components)
        self.offer_pending(cluster_id, [[(stamp, number), 0, line] for stamp, number, line in pending])

    def _keeper_limit(self) -> str | None:
        """The Go stamp the keeper may want rows up to (U+FFFF: any row); None when there is no keeper."""
        if self.keeper is None:
            return None
        kept = self.keeper.bound()
        return "\uffff" if kept is None else go_stamp(kept[0])
