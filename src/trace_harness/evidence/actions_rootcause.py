"""Choosing the root-cause line of a failing CI step: a ranked table of line patterns (data, not if-chains).

Lines are ranked by the first pattern they match; the step's root cause is its best-ranked line. Ties
break by the row's rule: ``first`` keeps the earliest line (later errors usually cascade from it), ``min``
keeps the smallest text, because parallel test runners print failures in scheduling order, and an id must
not depend on that order. Runner markers (cancellation, time-out, runner loss) are not root-cause lines:
they are terminal conditions of the step, recognised separately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TieBreak = Literal["first", "min"]
FALLBACK_RANK = 9


@dataclass(frozen=True, slots=True)
class Pattern:
    name: str
    regex: re.Pattern[str]
    rank: int
    tiebreak: TieBreak = "first"
    # Substrings one of which every match contains; empty only for rows anchored at the line start.
    needles: tuple[str, ...] = ()
    # For rows without needles: an RE2 prefix every match starts with, for the bulk line gate.
    gate: str = ""


# ruff's rule-code prefixes (flake8 plugin families); an arbitrary capitalised word followed by digits is not one.
RUFF_RULE_PREFIX = (
    r"(?:AIR|ANN|ARG|ASYNC|BLE|COM|CPY|DJ|DOC|DTZ|EM|ERA|EXE|FAST|FBT|FIX|FLY|FURB|ICN|INP|INT|ISC|LOG|NPY|PD|"
    r"PERF|PGH|PIE|PL[CERW]|PT|PTH|PYI|RET|RSE|RUF|SIM|SLF|SLOT|TCH|TC|TD|TID|TRY|UP|YTT|[ABCDEFGINQSTW])"
)


def _p(
    name: str, regex: str, rank: int, tiebreak: TieBreak = "first", needles: tuple[str, ...] = (), gate: str = ""
) -> Pattern:
    return Pattern(name, re.compile(regex), rank, tiebreak, needles, gate)


# First match wins, so narrower rows come before the broad rows of a lower rank.
PATTERNS: tuple[Pattern, ...] = (
    # Listed first so they shadow broader rows: wrappers only report a child's failure, the child's error is better.
    _p(
        "wrapper",
        r"CalledProcessError|failed with exit code \d+|returned non-zero exit status|exit status \d+$",
        6,
        needles=("CalledProcessError", "exit code", "exit status"),
    ),
    # Rank 0: causes that name exactly what is missing, out of memory, or refused.
    _p(
        "missing_module",
        r"\b(?:ModuleNotFoundError|ImportError): |\bNo module named |Cannot find module '",
        0,
        needles=("Error: ", "No module named", "Cannot find module"),
    ),
    _p("oom", r"\bMemoryError\b|[Oo]ut of memory|OOMKilled", 0, needles=("emory", "OOMKilled")),
    _p(
        "permission",
        r"Permission to \S+ denied to|Resource not accessible by integration|403 Forbidden",
        0,
        needles=("Permission to", "Resource not accessible", "403 Forbidden"),
    ),
    # Rank 1: a missing command; below rank 0 because scripts often probe for optional tools.
    _p(
        "command_not_found",
        r"[Cc]ommand not found\b|^\S*sh: (?:\d+: |line \d+: )?\S+: not found$",
        1,
        needles=("not found",),
    ),
    _p("command_not_found", r"is not recognized as an internal or external", 1, needles=("is not recognized",)),
    # Rank 2: a tool reported its own error in its own words.
    _p("rust_error", r"\berror\[E\d{4}\]", 2, needles=("error[E",)),
    _p(
        "compile_error",
        r"\berror TS\d+:|: (?:fatal )?error(?: [A-Z]+\d+)?: |^error: |^Type error: ",
        2,
        needles=("error ", "error: "),
    ),
    _p(
        "source_error",
        r"^\S+\.(?:go|c|cc|cpp|h|hpp|rs|swift|kt|java|py|[cm]?[jt]sx?):\d+:\d+: (?!(?:warning|note|info)\b)\S",
        2,
        gate=r"\S+\.\w+:\d+:\d+: ",
    ),
    # ruff's full format: `F401 [*] message`; only real rule prefixes, so prose like "TF32 kernels" is no lint hit
    _p("lint_rule", rf"^{RUFF_RULE_PREFIX}\d{{2,4}} (?:\[\*\] )?\S", 2, gate=rf"{RUFF_RULE_PREFIX}\d{{2,4}} "),
    _p("exception", r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)(?::\s|$)", 2, needles=("Error", "Exception")),
    _p("go_panic", r"^panic: |^fatal error: ", 2, needles=("panic: ", "fatal error: ")),
    _p("npm_error", r"^npm (?:ERR!|error) |\bERR_PNPM_\w+", 2, needles=("npm ERR!", "npm error ", "ERR_PNPM_")),
    _p("git_fatal", r"^fatal: ", 2, needles=("fatal: ",)),
    _p("cmake_error", r"^CMake Error\b", 2, needles=("CMake Error",)),
    _p(
        "crash",
        r"Segmentation fault|core dumped|Aborted \(core",
        2,
        needles=("Segmentation fault", "core dumped", "Aborted (core"),
    ),
    # Rank 3: a test failed; the set of failures is stable across runs, their order is not.
    _p("pytest_failed", r"^(?:FAILED|ERROR) \S+::\S+", 3, "min", ("FAILED ", "ERROR ")),
    _p("go_test_failed", r"^\s*--- FAIL: \S+", 3, "min", ("--- FAIL: ",)),
    _p("jest_failed", r"^\s*● .+ › .+", 3, "min", ("● ",)),
    _p("js_suite_failed", r"^\s*FAIL\s+\S+\.(?:[cm]?[jt]sx?)\b", 3, "min", ("FAIL",)),
    _p("test_timeout", r"Test timeout of \d+ms exceeded|Test timed out in \d+ms", 3, "min", ("Test time",)),
    _p("dotnet_failed", r"^\s*Failed \S+ \[\d", 3, "min", ("Failed ",)),
    _p("playwright_failed", r"^\s*[✘✕×]\s+\S.*", 3, "min", ("✘", "✕", "×")),
    # Rank 4: errors without a tool-specific shape; the earliest one is usually the cause.
    _p(
        "generic_error",
        r"\b(?:Error|ERROR|error):\s|^E: |: No such file or directory$",
        4,
        needles=("rror:", "RROR:", "E: ", "No such file"),
    ),
    # Rank 5: build summaries that say only that something failed.
    _p(
        "build_failed",
        r"BUILD FAILED|^FAILED: |\*\*\* \[.*\] Error \d+|Tests? failed|[1-9]\d* failed\b",
        5,
        needles=("FAILED", "] Error ", "failed"),
    ),
)

_ANNOTATION = "##[error]"
# An `##[error]` annotation whose text matches no row above still ranks as an error of its own.
ANNOTATION = _p("annotation", r"^##\[error\]", 4)
_DIGITS_RE = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A line that may be a step's root cause, with its rank under ``PATTERNS``."""

    line_no: int
    timestamp: str
    text: str
    rank: int
    pattern: str
    tiebreak: TieBreak

    @property
    def root_cause(self) -> str:
        """The line as the classifier sees it: without the annotation marker."""
        return self.text.removeprefix(_ANNOTATION).strip()


# A cheap gate that most lines fail: the anchored rows tried at the line start only, and the others' needles.
_ANCHORED = re.compile("|".join(f"(?:{row.regex.pattern})" for row in PATTERNS if not row.needles))
_NEEDLES = tuple(sorted({needle for row in PATTERNS for needle in row.needles}))
# What the bulk line gate (``actions_scan``) looks for: every needle, and the anchored rows' prefixes.
GATE_NEEDLES = _NEEDLES
GATE_PATTERNS = tuple(row.gate for row in PATTERNS if not row.needles)


def might_match(body: str) -> bool:
    return _ANCHORED.match(body) is not None or any(needle in body for needle in _NEEDLES)


def rank_line(text: str) -> Pattern | None:
    """The first pattern ``text`` (annotation marker removed) matches, else the annotation row, or None."""
    body = text.removeprefix(_ANNOTATION)
    found = None
    if might_match(body):
        found = next((row for row in PATTERNS if _may_match(row, body) and row.regex.search(body)), None)
    return found or (ANNOTATION if body is not text else None)


def _may_match(row: Pattern, body: str) -> bool:
    # A row's needles are necessary, so a row none of whose needles occurs cannot match: skip its regex.
    return not row.needles or any(needle in body for needle in row.needles)


def candidate(line_no: int, timestamp: str, text: str) -> Candidate | None:
    pattern = rank_line(text)
    if pattern is None:
        return None
    return Candidate(line_no, timestamp, text, pattern.rank, pattern.name, pattern.tiebreak)


def fallback(line_no: int, timestamp: str, text: str) -> Candidate:
    """The last output line of a step that failed without any recognisable error text."""
    return Candidate(line_no, timestamp, text, FALLBACK_RANK, "last_output", "first")


def better(new: Candidate, best: Candidate | None) -> bool:
    """Whether ``new`` should replace the step's current ``best`` root-cause candidate."""
    if best is None or new.rank < best.rank:
        return True
    if new.rank > best.rank or new.tiebreak == "first":
        return False
    return _order_key(new.root_cause) < _order_key(best.root_cause)


def _order_key(text: str) -> tuple[str, str]:
    # Digits (durations, worker indexes) vary between runs; compare without them first.
    return _DIGITS_RE.sub("0", text), text
