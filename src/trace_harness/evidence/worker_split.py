"""How a large worker log is shared between the main process and one forked helper.

Two ways, both giving exactly the report of a one-process scan:

- **by event kind**, when a sample of the file shows failure kinds that balance: each process reads the whole
  file and folds only the records whose event kind is its own, so no cluster is built twice, an id is
  looked up once per cluster, and the helper's clusters need no merging (a record belongs to the process
  that owns the kind its record start names; the parser may still file it elsewhere, and then the two
  states of that cluster merge like any others);
- **by halves** otherwise (one kind dominates, or too few records to tell): each process folds every record
  of its line-aligned part, and the helper's clusters are merged into the main's.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import NamedTuple

from .worker_log import FAILURE_KINDS

_SPLIT_FRACTION = 0.48  # by halves: the helper also counts lines and pickles its state; measured best near half
_MAIN_SHARE = 0.55  # by kinds: measured (8 paired runs) best; the helper also pickles, and spools its states
_SHARE_RANGE = (0.3, 0.6)  # a partition outside this is worse than halves
_SAMPLE_BYTES = 256 * 1024
_SAMPLES = 3  # windows at the start, the middle and the end of the file
_MIN_SAMPLED = 32  # fewer failure-kind records than this in the sample: too few to tell
_COUNT_CHUNK = 16 * 1024 * 1024
_ENDED_WEIGHT = 0.3  # a runner_end that did not fail: matched, then dropped
# A record start's kind: the seconds (or fraction) digit, then the event (continuation lines quoting one do not count).
_RECORD_START_RE = re.compile(rb"\d event=(" + "|".join(FAILURE_KINDS).encode() + rb") ")


class Share(NamedTuple):
    """One process's part of the file."""

    start: int  # byte offset where it starts reading
    limit: int | None  # bytes it reads; None: to the end
    kinds: frozenset[str] | None  # event kinds it folds; None: every kind


def plan(path: Path, size: int) -> tuple[Share, Share]:
    """The main process's share and the helper's."""
    kinds = balanced_kinds(sampled_kinds(path, size))
    if kinds is not None:
        return Share(0, None, kinds[0]), Share(0, None, kinds[1])
    split = split_point(path, size)
    return Share(0, split, None), Share(split, None, None)


def balanced_kinds(counts: Counter[str]) -> tuple[frozenset[str], frozenset[str]] | None:
    """The (main, helper) kinds whose sampled counts come closest to the main's target share, if within range."""
    total = sum(counts.values())
    if total < _MIN_SAMPLED:
        return None
    subsets = [frozenset(kinds) for size in range(1, len(FAILURE_KINDS)) for kinds in combinations(FAILURE_KINDS, size)]
    best = min(subsets, key=lambda kinds: (abs(_share(kinds, counts, total) - _MAIN_SHARE), sorted(kinds)))
    if not _SHARE_RANGE[0] <= _share(best, counts, total) <= _SHARE_RANGE[1]:
        return None
    return best, frozenset(FAILURE_KINDS) - best


def sampled_kinds(path: Path, size: int) -> Counter[str]:
    """The work per failure kind in a few windows of the file (an estimate: a window may cut a line). A
    `runner_end` that did not fail costs only its match, so it weighs a fraction of one that did."""
    counts: Counter[str] = Counter()
    offsets = sorted({0, max(0, size // 2 - _SAMPLE_BYTES // 2), max(0, size - _SAMPLE_BYTES)})[:_SAMPLES]
    with path.open("rb") as stream:
        for offset in offsets:
            stream.seek(offset)
            window = stream.read(_SAMPLE_BYTES)
            counts.update(match.decode() for match in _RECORD_START_RE.findall(window))
            counts["runner_end:failed"] += window.lower().count(b"runner failed")
    failed = min(counts.pop("runner_end:failed"), counts["runner_end"])
    counts["runner_end"] = round(failed + _ENDED_WEIGHT * (counts["runner_end"] - failed))
    return counts


def split_point(path: Path, size: int) -> int:
    """The offset just past the first `\\n` at or after the split fraction of the file."""
    position = int(size * _SPLIT_FRACTION)
    with path.open("rb") as stream:
        stream.seek(position)
        while piece := stream.read(1 << 20):  # one piece at a time: the line there may be huge
            newline = piece.find(b"\n")
            if newline >= 0:
                return position + newline + 1
            position += len(piece)
    return size


def line_breaks(path: Path, limit: int) -> int:
    """Line breaks in the first ``limit`` bytes, counting `\\r\\n` once and a lone `\\r` (universal newlines)."""
    breaks, previous = 0, b""
    with path.open("rb") as stream:
        remaining = limit
        while remaining > 0 and (data := stream.read(min(_COUNT_CHUNK, remaining))):
            remaining -= len(data)
            if b"\r" in data:  # a memchr; most logs have no \r, and each count is a pass over the data
                breaks += data.count(b"\r") - data.count(b"\r\n")
            breaks += data.count(b"\n")
            breaks -= previous == b"\r" and data[:1] == b"\n"  # a \r\n cut between two reads
            previous = data[-1:]
    return breaks


def _share(kinds: frozenset[str], counts: Counter[str], total: int) -> float:
    return sum(counts[kind] for kind in kinds) / total
