"""Bulk ingest of a worker log straight into a ``ClusterAccumulator``: the hot path of `report --worker-log`.

It folds exactly the findings ``worker_log.read_worker_log`` yields, without building a Finding per record.
With UTC stamps (the default) chunks go to the batch path (``worker_batch``), which hands any record it does
not fold itself to ``_Scan.chunk``, the record-by-record scan used otherwise: a *canonical* record head (the
worker's field order, printable-ASCII values without quotes, `=` or spaces, a plain `msg`, no id-bearing
payload scalar) is folded from one regex match, any other failure record goes through the general parser
whole, so the clusters are identical whichever path a record takes. A large file is shared with a forked
helper process (by event kinds or by halves: ``worker_split``), so both cores work.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import BinaryIO, cast

from ..cluster import ClusterAccumulator, EvidenceKey, evidence_key
from ..models import Finding
from ..occurrences import OccurrenceKeeper, pairs_occurrence_key
from ..taxonomy import WORKER_CLASSES
from . import worker_native, worker_split
from .base import ReaderOptions, can_fork_helpers
from .worker_batch import BatchScan
from .worker_log import (
    _FAILURE_START_RE,
    CLUSTER_BY_KIND,
    RUNNER_FAILURE,
    SOURCE,
    _IsoConverter,
    _line_aligned_chunks,
    iso_converter,
    parse_record,
    scalar_payload,
)
from .worker_rows import CANONICAL_IDS, PLAIN_MSG, SUSPECT_SCALARS
from .worker_split import Share

# On decoded text with ASCII classes, so it matches where the reader's bytes regex does. Groups 1-7 are the
# record start's; then task, issue, identifier, session, and the payload marker.
_CANONICAL_RE = re.compile(
    _FAILURE_START_RE.pattern.decode() + "(?:" + CANONICAL_IDS + ' msg="' + PLAIN_MSG + '"(?=( payload=)|$))?',
    re.MULTILINE | re.ASCII,
)
_ID_SCALAR_RE = re.compile(SUSPECT_SCALARS)  # one literal-led search, no parsing
_PAYLOAD = " payload="
Pairs = list[tuple[int, str]]
Kinds = frozenset[str] | None
PARALLEL_MIN_BYTES = 16 * 1024 * 1024  # below this a second process costs more than it saves


def fold_worker_log(
    stream: BinaryIO,
    display_path: str,
    options: ReaderOptions,
    accumulator: ClusterAccumulator,
    *,
    first_line: int = 1,
    limit: int | None = None,
    keeper: OccurrenceKeeper | None = None,
    kinds: frozenset[str] | None = None,
    split: frozenset[str] | None = None,
) -> None:
    """Fold every failure record from the stream's position (``limit`` bytes at most) into ``accumulator``,
    and offer each to ``keeper`` (the findings a run stores), if given; only records whose start names one
    of ``kinds``, if given. On the native path, a thread folds the ``split`` kinds, if given."""
    scan = _Scan(display_path, iso_converter(options.worker_log_tz), accumulator, keeper, kinds)
    batch = _batch(display_path, accumulator, keeper, scan, kinds, split) if scan.utc else None
    chunks = _line_aligned_chunks(stream, limit)
    if batch is not None:  # the batch path's stamps are UTC as written
        batch.fold_chunks(chunks, first_line)
        batch.settle()
        return
    line_no = first_line
    for buffer in chunks:  # chunks end on line breaks, so decoding one whole equals decoding each of its lines
        line_no = scan.chunk(buffer.decode("utf-8", "replace"), line_no)


def _batch(
    path: str, accumulator: ClusterAccumulator, keeper: OccurrenceKeeper | None, scan: _Scan, kinds: Kinds, split: Kinds
) -> BatchScan:
    """The native batch scan where it was built, else the pure-Python one (its oracle in tests)."""
    if worker_native.NATIVE is not None:
        return worker_native.NativeBatchScan(path, accumulator, keeper, scan.chunk, scan.build, kinds, split)
    return BatchScan(path, accumulator, keeper, scan.chunk, scan.build, kinds)


class _Scan:
    """Per-file scanning context; one ``chunk`` call per line-aligned buffer."""

    def __init__(
        self,
        display_path: str,
        to_iso: _IsoConverter,
        accumulator: ClusterAccumulator,
        keeper: OccurrenceKeeper | None,
        kinds: frozenset[str] | None = None,
    ) -> None:
        self.path, self.to_iso, self.accumulator, self.keeper = display_path, to_iso, accumulator, keeper
        self.utc, self.kinds = to_iso.zone is None, kinds

    def chunk(self, text: str, line_no: int) -> int:
        """Fold the text's failure records; returns the line number after it."""
        cursor = 0
        count, find = text.count, text.find
        for match in _CANONICAL_RE.finditer(text):
            start = match.start()
            line_no += count("\n", cursor, start)
            cursor = start
            if self.kinds is not None and match.group(7) not in self.kinds:
                continue  # the other process's record
            end = find("\n", start)
            end = len(text) if end < 0 else end
            if not self._canonical(text, match, find(_PAYLOAD, start, end), end, line_no):
                self._general(text, match, end, line_no)
        return line_no + count("\n", cursor)

    def _canonical(self, text: str, match: re.Match[str], payload_at: int, end: int, line_no: int) -> bool:
        """Fold a canonical record; False (nothing done) when the general parser must read it."""
        kind, task, issue, identifier, session, payload = match.group(7, 8, 9, 10, 11, 12)
        if task is None or payload_at != (match.end() if payload else -1):
            return False
        if payload and _ID_SCALAR_RE.search(text, payload_at + len(_PAYLOAD), end):
            return False
        cluster = CLUSTER_BY_KIND.get(kind)
        if cluster is None:  # runner_end: a failure only when its prefix says so
            if "runner failed" not in text[match.start() : payload_at if payload else end].lower():
                return True
            cluster = RUNNER_FAILURE
        pairs = [(0, issue), (1, identifier), (3, task), (4, session)] if identifier and session else _pairs(match)
        if self.utc:  # the default zone: no conversion, no call
            timestamp = "{}-{}-{}T{}Z".format(*match.group(1, 2, 3, 4))
        else:
            timestamp = self.to_iso.from_parts(*match.group(1, 2, 3, 4))
        ref = f"{self.path}:{line_no}"
        key = (timestamp, self.path, line_no, ref) if self.path else evidence_key(timestamp, ref)
        finding = None
        if self.accumulator.fold_worker(cluster, timestamp, key, pairs):
            finding = _canonical_finding(text, match, payload_at, end, cluster, timestamp, ref)
            self.accumulator.offer_worker_entry(finding, key, pairs)
        keeper = self.keeper
        if keeper is not None and keeper.may_want(key) and keeper.wants(pairs_occurrence_key(cluster, pairs), key):
            keeper.keep(finding or _canonical_finding(text, match, payload_at, end, cluster, timestamp, ref))
        return True

    def build(self, cluster: str, stamp: str, line_no: int, line: str) -> tuple[Finding, EvidenceKey, Pairs]:
        """The finding, evidence key and id pairs of a canonical record's line (Go stamp already read)."""
        match = _CANONICAL_RE.match(line)
        assert match is not None and match.group(8) is not None, "a batch row is a canonical record"
        timestamp = "{}-{}-{}T{}Z".format(*match.group(1, 2, 3, 4))
        ref = f"{self.path}:{line_no}"
        finding = _canonical_finding(line, match, line.find(_PAYLOAD), len(line), cluster, timestamp, ref)
        return finding, evidence_key(timestamp, ref), _pairs(match)

    def _general(self, text: str, match: re.Match[str], end: int, line_no: int) -> None:
        timestamp = self.to_iso.from_parts(*match.group(1, 2, 3, 4))
        finding = parse_record(timestamp, text[match.start() : end], self.path, line_no)
        if finding is not None:
            self.accumulator.add(finding)
            if self.keeper is not None:  # idempotent where the accumulator's tracker keeps it too
                self.keeper.keep(finding)


def _canonical_finding(
    text: str, match: re.Match[str], payload_at: int, end: int, cluster: str, timestamp: str, ref: str
) -> Finding:
    """What ``parse_record`` builds for a canonical record, taken from its match (no second parse)."""
    start = match.start()
    prefix = text[start : payload_at if payload_at >= 0 else end]
    metadata = scalar_payload(text[payload_at + len(_PAYLOAD) : end]) if payload_at >= 0 else {}
    metadata.setdefault("timestamp", text[start : match.end(5) if match.group(5) else match.end(4)])
    failure_class, title, symptom = WORKER_CLASSES[cluster]
    return Finding(
        cluster_id=cluster,
        failure_class=failure_class,
        title=title,
        symptom_class=symptom,
        signature=cluster,
        source=SOURCE,
        ref=ref,
        kind=match.group(7),
        excerpt=f"{prefix} payload=[redacted-payload]" if payload_at >= 0 else prefix,
        metadata=metadata,
        timestamp=timestamp,
        issue=match.group(9),
        identifier=match.group(10) or "",
        run=match.group(8),
        session=match.group(11) or "",
    )


def _pairs(match: re.Match[str]) -> list[tuple[int, str]]:
    """(list index, id) pairs of a canonical head in ``_id_pairs`` order; the PR is absent by construction."""
    issue, identifier, task, session = match.group(9, 10, 8, 11)
    pairs = [(0, issue)]
    if identifier:
        pairs.append((1, identifier))
    pairs.append((3, task))
    if session:
        pairs.append((4, session))
    return pairs


def fold_worker_log_file(
    path: Path,
    display_path: str,
    options: ReaderOptions,
    accumulator: ClusterAccumulator,
    *,
    processes: int = 2,
    keeper: OccurrenceKeeper | None = None,
) -> None:
    """``fold_worker_log`` of a whole file; a large one is shared with a forked process (by event kinds or by
    halves, ``worker_split``) whose cluster states (and kept findings) are merged back: the result is
    identical to a one-process scan."""
    size = path.stat().st_size
    if processes < 2 or size < PARALLEL_MIN_BYTES or not can_fork_helpers():
        with path.open("rb") as stream:
            fold_worker_log(stream, display_path, options, accumulator, keeper=keeper)
        return
    main, helper = worker_split.plan(path, size)
    if worker_native.NATIVE is not None and helper.kinds is not None and _utc(options):
        with path.open("rb") as stream:  # two threads, one per share of the kinds: no fork, no merge
            fold_worker_log(stream, display_path, options, accumulator, keeper=keeper, split=helper.kinds)
        return
    limit = None if keeper is None else keeper.limit
    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryFile() as spool, ProcessPoolExecutor(1, mp_context=context) as pool:
        helped = pool.submit(_scan_range, path, display_path, options, helper, limit, spool.fileno())
        with path.open("rb") as stream:
            fold_worker_log(
                stream, display_path, options, accumulator, limit=main.limit, keeper=keeper, kinds=main.kinds
            )
        try:
            spans = helped.result()
        except (BrokenProcessPool, OSError):  # the helper died (e.g. killed for memory): do its share here
            spans = _scan_spooled(path, display_path, options, helper, limit, spool.fileno())
        for name, offset, length in spans:  # one cluster at a time, read back from the spool: a low peak
            state = pickle.loads(os.pread(spool.fileno(), length, offset))
            if name is None:
                for finding in state:
                    cast(OccurrenceKeeper, keeper).keep(finding)
            else:
                accumulator.merge({name: state})


def _utc(options: ReaderOptions) -> bool:
    return iso_converter(options.worker_log_tz).zone is None


Spans = list[tuple[str | None, int, int]]  # (cluster id, or None for the kept findings; offset; length)


def _scan_range(
    path: Path, display_path: str, options: ReaderOptions, share: Share, keep: int | None, spool: int
) -> Spans:
    """The forked helper's entry point."""
    return _scan_spooled(path, display_path, options, share, keep, spool)


def _scan_spooled(
    path: Path, display_path: str, options: ReaderOptions, share: Share, keep: int | None, spool: int
) -> Spans:
    """Scan ``share`` into a fresh accumulator (and keeper of ``keep`` findings, if asked), and write each
    cluster's pickled state (then the kept findings) to the ``spool`` file."""
    first_line = 1 + worker_split.line_breaks(path, share.start)  # while the main process scans its share
    accumulator = ClusterAccumulator()
    keeper = None if keep is None else OccurrenceKeeper(keep)
    with path.open("rb") as stream:
        stream.seek(share.start)
        fold_worker_log(
            stream, display_path, options, accumulator, first_line=first_line, keeper=keeper, kinds=share.kinds
        )
    states = sorted(accumulator.state().items())
    blobs: list[tuple[str | None, bytes]] = [(name, pickle.dumps(state)) for name, state in states]
    if keeper is not None:
        blobs.append((None, pickle.dumps(keeper.findings())))
    spans, offset = [], 0
    for name, blob in blobs:
        os.pwrite(spool, blob, offset)
        spans.append((name, offset, len(blob)))
        offset += len(blob)
    return spans
