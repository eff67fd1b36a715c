"""Writing a large v2 manifest in bounded memory: events spooled to bucket files by run, finished bucket by bucket.

A manifest keeps up to 64 KiB of events for every run, and runs interleave in a log, so a builder that holds
its runs holds the whole manifest until the input ends (about three times its size in memory). Instead, each
event goes as one line to the bucket file of its run (a stable hash of the run id). Memory keeps three values
per run: the bytes spooled, the largest key spooled, and the smallest key known to fall past the run's
64 KiB prefix. Events past that key are spooled without their text, so an in-order log spools little more
than it keeps. At the end each bucket is read back into ``RunGroup``s (the in-memory builder's, so the kept
events are the same), its runs are written as JSON to a sorted bucket output, and the outputs are merged by
run id.

An event is spooled without its text only when its key is past every key spooled for its run, and the bytes
spooled already fill 64 KiB with it: every event before it in the run's order has a smaller key, so it cannot
belong to the prefix, and neither can any later event with a larger key.
"""

from __future__ import annotations

import heapq
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..bounds import MAX_RUN_EVIDENCE_BYTES
from ..cluster import EvidenceKey
from .manifest_group import IdPairs, RunGroup, compact, run_json

MAX_BUCKETS = 256  # open files at once
BUCKET_INPUT_BYTES = 8 * 1024 * 1024  # input per bucket: one bucket's runs are held at once


def bucket_count(input_bytes: int) -> int:
    """The buckets for inputs this large; 1 means the manifest is small enough to build in memory."""
    return max(1, min(MAX_BUCKETS, input_bytes // BUCKET_INPUT_BYTES))


class _Admission:
    """What memory keeps of a spooled run: the bytes spooled, the largest key spooled, the smallest key past
    the run's 64 KiB prefix."""

    __slots__ = ("past", "top", "used")

    def __init__(self) -> None:
        self.used = 0
        self.top: EvidenceKey | None = None
        self.past: EvidenceKey | None = None

    def admits(self, key: EvidenceKey, size: int) -> bool:
        """False when an event of this key and size cannot be in the run's prefix (the module docstring)."""
        if self.past is not None and key > self.past:
            return False
        if self.top is None or key > self.top:
            if self.used + size > MAX_RUN_EVIDENCE_BYTES:
                self.past = key
                return False
            self.top = key
        self.used += size
        return True


class RunSpool:
    """Events spooled to ``buckets`` files under ``directory``; ``runs_json`` gives each run's JSON text in
    run id order."""

    def __init__(self, directory: Path, buckets: int) -> None:
        self.directory = directory
        self.files = [_open(directory / f"{index}.events", "w") for index in range(buckets)]
        self.admissions: dict[str, _Admission] = {}

    def add(self, run: str, cluster: str, pairs: IdPairs, key: EvidenceKey, text: str, size: int) -> None:
        admission = self.admissions.get(run)
        if admission is None:
            admission = self.admissions[run] = _Admission()
        kept = admission.admits(key, size)
        head = compact([run, cluster, pairs, *key, size if kept else -1])  # JSON escapes tabs and line breaks
        self.files[self._bucket(run)].write(f"{head}\t{text if kept else ''}\n")

    def runs_json(self) -> Iterator[str]:
        """Each run's bounded JSON, in run id order (``RunGroup``s are built one bucket at a time)."""
        outputs = [self._finish_bucket(index) for index in range(len(self.files))]
        for _, text in heapq.merge(*map(_read_output, outputs), key=lambda item: item[0]):
            yield text

    def close(self) -> None:
        for handle in self.files:
            handle.close()

    def _bucket(self, run: str) -> int:
        return zlib.crc32(run.encode("utf-8", "surrogatepass")) % len(self.files)

    def _finish_bucket(self, index: int) -> Path:
        """Fold a bucket's events into its runs and write their JSON, sorted by run id, to its output."""
        self.files[index].close()
        events, output = self.directory / f"{index}.events", self.directory / f"{index}.runs"
        groups: dict[str, RunGroup] = {}
        with _open(events, "r") as lines:
            for line in lines:
                _fold_line(groups, line)
        events.unlink()
        with _open(output, "w") as out:
            for run in sorted(groups):
                out.write(f"{compact(run)}\t{run_json(groups.pop(run))}\n")
        return output


def _fold_line(groups: dict[str, RunGroup], line: str) -> None:
    head, _, text = line.partition("\t")
    run, cluster, pairs, *key, size = json.loads(head)
    group = groups.get(run)
    if group is None:
        group = groups[run] = RunGroup(run)
    event_key: EvidenceKey = (key[0], key[1], key[2], key[3])
    group.fold(cluster, pairs, event_key, text[:-1] if size >= 0 else None, size)  # pairs as [index, id] lists


def _read_output(path: Path) -> Iterator[tuple[str, str]]:
    """(run id, run JSON) of a bucket output, in its order; the file goes once read."""
    with _open(path, "r") as lines:
        for line in lines:
            head, _, text = line.partition("\t")
            yield json.loads(head), text[:-1]
    path.unlink()


def _open(path: Path, mode: str) -> IO[Any]:
    # Only "\n" ends a line (JSON escapes it inside texts); lone surrogates from lenient decoding round-trip.
    return open(path, mode, encoding="utf-8", errors="surrogatepass", newline="\n")
