"""Rows of canonical worker records, for the batch path (``worker_batch``): the row regex, what a row says,
and ``PendingEntries``, which decides which rows' evidence entries are worth building.

A *row* is one ``findall`` tuple of ``ROW_RE``: a failure record whose head has the worker's own shape
(single spaces, the worker's field order, printable-ASCII ids, a plain `msg`), so every field the per-record
parser would read is a group, and the record's line can be rebuilt from the row exactly. Any other failure
record start yields a row of empty groups, which sends it to the per-record parser.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate
from operator import itemgetter
from typing import Any

import re2

from ..bounds import MAX_CLUSTER_BYTES, compact_json
from .worker_log import CLUSTER_BY_KIND, FAILURE_KINDS, PR_KEYS, RUNNER_FAILURE, SOURCE

_KINDS = "|".join(FAILURE_KINDS)
_SAFE = r"([!#-<>-~]+)"  # printable ASCII except space, `"` and `=`: the general field scan reads it verbatim
_GAP = r"[^\S\n]+"
# The worker's own id fields, in its order (groups: task, issue, identifier, session), and a plain `msg` text:
# the canonical head shared with the per-record scan's regex (``worker_scan._CANONICAL_RE``).
CANONICAL_IDS = (
    r" task_id="
    + _SAFE
    + r" issue_id="
    + _SAFE
    + r"(?: issue_identifier="
    + _SAFE
    + r")?(?: session_id="
    + _SAFE
    + r")?"
)
PLAIN_MSG = r"[ !#-\[\]-~]*"
# A payload scalar that may supply an id sends its record to the per-record path (a superset on purpose).
SUSPECT_SCALARS = "|".join(f"{key}:" for key in (*PR_KEYS, "_id", "issue_identifier"))


def _row_pattern(kinds: str) -> str:
    """One row per failure record start of ``kinds`` (an alternation): the canonical head's groups, or all
    empty for any other shape."""
    return (
        r"\n(?:(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)(\.\d+)? event=("
        + kinds
        + ")"
        + CANONICAL_IDS
        + ' msg="('
        + PLAIN_MSG
        + r')"( payload=[^\n]*)?(?=\n|\Z)|'
        + _any_failure_start(kinds)
        + ")"
    )


def _any_failure_start(kinds: str) -> str:
    """Any record start the per-record scan could take as one of ``kinds`` (a superset only costs speed)."""
    return r"\d{4}/\d\d/\d\d" + _GAP + r"\d\d:\d\d:\d\d(?:\.\d+)?" + _GAP + r'event="?(?:' + kinds + ")"


@lru_cache(maxsize=32)
def row_re(kinds: frozenset[str] | None = None) -> re.Pattern[str]:
    """The row regex of every failure kind, or of ``kinds`` only (the kinds one process folds)."""
    return re.compile(_row_pattern("|".join(sorted(kinds)) if kinds is not None else _KINDS), re.ASCII)


ROW_RE = row_re()
# stamp, fraction, kind, task, issue, identifier, session, msg, payload
Row = tuple[str, str, str, str, str, str, str, str, str]
STAMP, KIND, TASK, ISSUE, IDENT, SESSION, MSG, PAYLOAD = (itemgetter(index) for index in (0, 2, 3, 4, 5, 6, 7, 8))
_SUSPECT_RE = re2.compile(SUSPECT_SCALARS.encode())
# The compact JSON of the smallest possible entry; a row's own texts add at least their lengths.
_ENTRY_FLOOR = len(
    compact_json(
        {"source": SOURCE, "ref": "", "kind": "", "excerpt": "", "metadata": {"timestamp": ""},
         "affected": {"issues": [""], "runs": [""]}}
    )
)  # fmt: skip
_HEAD_PUNCTUATION = len(' event= task_id= issue_id= msg=""')
_EXCERPT_FLOOR = 1024  # a longer excerpt is cut to 4 KiB, never below this
_FIRST, _FLOOR = itemgetter(0), itemgetter(1)
_ONE_MORE = (1).__add__  # each entry costs its size and a separator
PendingKey = tuple[str, int]  # (Go timestamp, line): the evidence key order within one input
Pending = list[Any]  # [key, floor, row or its line]: a row until its line is found, then that line's text


class PendingEntries:
    """One cluster's earliest rows of one input, by key, whose size floors fit the cluster bound: a superset
    of the entries the cluster can keep, since an entry is never smaller than its floor."""

    __slots__ = ("cut", "entries")

    def __init__(self) -> None:
        self.entries: list[Pending] = []
        self.cut: PendingKey | None = None  # the smallest key ever cut: nothing after it can be kept

    def bound(self) -> str | None:
        """Rows stamped after this cannot enter; None: any row may."""
        return None if self.cut is None else self.cut[0]

    def add(self, entries: list[Pending]) -> list[Pending]:
        """Add entries and cut to the floors' prefix; returns those of ``entries`` that stay."""
        if self.cut is not None:
            entries = [entry for entry in entries if entry[0] < self.cut]
        if not entries:
            return []
        entries.sort(key=_FIRST)
        merged = self.entries + entries
        merged.sort(key=_FIRST)  # two sorted runs: one merge
        kept = bisect_right(list(accumulate(map(_ONE_MORE, map(_FLOOR, merged)))), MAX_CLUSTER_BYTES)
        if kept < len(merged):
            self.cut = merged[kept][0]
            del merged[kept:]
            entries = [entry for entry in entries if entry[0] < self.cut]
        self.entries = merged
        return entries


def floor(row: Row, ref_length: int) -> int:
    """A lower bound of the compact JSON size of the row's evidence entry."""
    stamp, _, kind, task, issue, _, _, message, _ = row
    head = len(stamp) + len(kind) + len(task) + len(issue) + len(message) + _HEAD_PUNCTUATION
    return _ENTRY_FLOOR + ref_length + len(kind) + min(head, _EXCERPT_FLOOR) + len(stamp) + len(task) + len(issue)


def odd_rows(rows: list[Row]) -> set[int]:
    """Rows the batch must not fold: a payload that may supply an id, or ` payload=` inside the msg (where
    the record's payload starts is then not where the batch assumes)."""
    odd: set[int] = set()
    payloads = "\n".join(map(PAYLOAD, rows)).encode()
    if _SUSPECT_RE.search(payloads):
        odd.update(payloads.count(b"\n", 0, match.start()) for match in _SUSPECT_RE.finditer(payloads))
    if " payload=" in "\n".join(map(MSG, rows)):
        odd.update(index for index, row in enumerate(rows) if " payload=" in row[7])
    return odd


def failures(kind: str, indexes: list[int], rows: list[Row]) -> tuple[str, list[int]]:
    """The cluster of a kind's rows, and which are failures (`runner_end` only when its msg says so)."""
    cluster_id = CLUSTER_BY_KIND.get(kind)
    if cluster_id is not None:
        return cluster_id, indexes
    return RUNNER_FAILURE, [index for index in indexes if "runner failed" in rows[index][7].lower()]


def pairs(row: Row) -> list[tuple[int, str]]:
    """(affected-list index, id) pairs of a row, in ``cluster._id_pairs`` order."""
    found = [(0, row[4])]
    if row[5]:
        found.append((1, row[5]))
    found.append((3, row[3]))
    if row[6]:
        found.append((4, row[6]))
    return found


def line_of(row: Row) -> str:
    """The row's whole line, rebuilt: exactly the text the regex matched."""
    stamp, fraction, kind, task, issue, identifier, session, message, payload = row
    optional = (f" issue_identifier={identifier}" if identifier else "") + (f" session_id={session}" if session else "")
    return f'{stamp}{fraction} event={kind} task_id={task} issue_id={issue}{optional} msg="{message}"{payload}'


def iso(stamp: str) -> str:
    """ISO-8601 UTC of a Go `YYYY/MM/DD HH:MM:SS` stamp (the same order: both are fixed-width)."""
    return f"{stamp[:4]}-{stamp[5:7]}-{stamp[8:10]}T{stamp[11:]}Z"


def go_stamp(iso_stamp: str) -> str:
    """A Go stamp at or after every stamp whose ISO form sorts at or before ``iso_stamp``."""
    if len(iso_stamp) >= 19 and iso_stamp[4] == "-" and iso_stamp[7] == "-" and iso_stamp[10] == "T":
        return f"{iso_stamp[:4]}/{iso_stamp[5:7]}/{iso_stamp[8:10]} {iso_stamp[11:19]}"
    return "\uffff"  # not a UTC stamp: no bound
