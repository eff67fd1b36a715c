"""Reader for GitHub Actions job logs: one root-cause finding per failing step.

Two forms are accepted: the raw API form (``<7-digit ISO timestamp> <text>`` per line, a UTF-8 BOM on the
first, continuation lines without a timestamp) and the ``gh run view --log`` form (``job<TAB>step<TAB>line``).
Steps open at ``##[group]Run …`` (raw form) or when the step column changes (gh form); the script echo
inside that first group is never evidence. A step failed when it printed ``##[error]``; its exit code,
annotations and warnings become metadata of its single root-cause finding (see ``actions_rootcause``).
Cancellation, time-outs and runner loss are terminal conditions: a second finding only when the step also
shows a real error. The log is streamed line by line with a length cap, so memory stays bounded.

Each line is masked as it is read (a ``PemTracker`` follows key blocks across lines) before any window
keeps or cuts it; the cluster accumulator masks what it keeps again.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .. import classify
from ..bounds import MAX_EVIDENCE_EXCERPT_BYTES, byte_len, truncate
from ..models import Finding
from ..redact import PemTracker, mask
from .actions_rootcause import FALLBACK_RANK, Candidate, better, candidate, fallback
from .base import Item, ReaderOptions

SOURCE = "actions_log"
MAX_LINE_BYTES = 64 * 1024
CONTEXT_LINES = 20
CONTEXT_LINE_BYTES = 1024
# A terminal condition adds a second finding only when the step's best line is at least this strong.
REAL_ERROR_RANK = 4

_TIMESTAMP_RE = re.compile(r"^\ufeff?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z ?")
_GH_VIEW_RE = re.compile(r"^([^\t]*)\t([^\t]*)\t\ufeff?(?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
_GH_COLUMNS_RE = re.compile(r"^([^\t]*)\t([^\t]*)\t\ufeff?")  # once the form is known: continuations too
_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_EXIT_CODE_RE = re.compile(r"^##\[error\]Process completed with exit code (-?\d+)\.?")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_HEAD_RE = re.compile(r"^HEAD is now at ([0-9a-f]{7,40})\b")
_USES_RE = re.compile(r"^(?:Uses:|\s*GITHUB_WORKFLOW_REF:) \S+?/\.github/workflows/([^@\s]+)@")
_ENV_SHA_RE = re.compile(r"^\s*GITHUB_SHA: ([0-9a-f]{40})$")
_RUN_ID_RE = re.compile(r"(?:^|[/_!-])(?:logs?|runs?|run_logs)[_-](\d{6,})(?=\D|$)")
_STEP_FILE_RE = re.compile(r"^\d+_(.+?)(?:\.txt|\.log)?$")
_JOB_END = ("Cleaning up orphan processes",)
_POST_JOB = "Post job cleanup."

# Terminal markers in priority order: a time-out also prints "The operation was canceled.".
TERMINALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("timeout", re.compile(r"has exceeded the maximum execution time of \d+ minutes|timed out after \d+ minutes")),
    ("runner_lost", re.compile(r"runner has received a shutdown signal|lost communication with the server")),
    ("cancelled", re.compile(r"The operation was canceled\.|The job was canceled")),
)


@dataclass(slots=True)
class LogLine:
    line_no: int
    timestamp: str
    text: str
    job: str = ""
    step: str = ""


@dataclass(slots=True)
class Step:
    """What one step has shown so far; only the best candidate and a bounded window are kept."""

    name: str
    in_header: bool = False
    column: str = ""  # gh form: the raw step column, to notice when it changes
    best: Candidate | None = None
    before: tuple[str, ...] = ()
    after: list[str] = field(default_factory=list)
    last_output: Candidate | None = None
    exit_code: str = ""
    annotations: int = 0
    warnings: int = 0
    first_warning: str = ""
    terminal: Candidate | None = None
    terminal_kind: str = ""
    terminal_before: tuple[str, ...] = ()
    exit_line: Candidate | None = None  # the root of last resort: a step that failed without printing
    exit_before: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return bool(self.annotations or self.terminal or self.exit_code not in ("", "0"))


@dataclass(slots=True)
class Job:
    """Job-wide facts, and the lines just read (the context before a root cause)."""

    display_path: str
    run: str
    job: str
    step: Step
    workflow: str = ""
    commit: str = ""
    expect_sha: bool = False
    ended: bool = False
    last_timestamp: str = ""
    column: str = ""  # the gh-form job column being read
    whole_job: bool = True  # False for an archive's per-step file, which never shows the job's end
    # Every line is masked as read, key blocks across lines included, so no kept window holds a raw secret.
    pem: PemTracker = field(default_factory=PemTracker)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=CONTEXT_LINES))


def read_actions_log(stream: BinaryIO, display_path: str, options: ReaderOptions) -> Iterator[Item]:
    """Yield one root-cause ``Finding`` per failing step of an Actions job log."""
    del options  # Actions logs carry their own structure; no config applies yet
    run, job_name, step_name = (mask(part) for part in path_identity(display_path))
    job = Job(display_path, run, job_name, Step(step_name or "Set up job"), whole_job=not step_name)
    gh_form: bool | None = None
    for line_no, raw in physical_lines(stream):
        text = decode(raw)
        if gh_form is None and text:
            gh_form = bool(_GH_VIEW_RE.match(text))
        yield from _consume(job, parse_line(line_no, text, gh_form or False))
    yield from _close_step(job, at_end=True)


def physical_lines(stream: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """Numbered lines, each cut at ``limit`` bytes; the rest of an overlong line is read and dropped."""
    line_no = 0
    while chunk := stream.readline(limit):
        line_no += 1
        overlong = len(chunk) >= limit and not chunk.endswith(b"\n")
        while overlong and (rest := stream.readline(limit)):
            overlong = not rest.endswith(b"\n")
        yield line_no, chunk


def decode(raw: bytes) -> str:
    """Text of a raw line: invalid UTF-8 and NUL replaced, line end and ANSI escapes removed."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n").replace("\x00", "\ufffd")
    return _ANSI_RE.sub("", text)


def parse_line(line_no: int, text: str, gh_form: bool) -> LogLine:
    job = step = ""
    if gh_form and (columns := _GH_COLUMNS_RE.match(text)):
        job, step = columns.group(1), columns.group(2)
        text = text[columns.end() :]
    match = _TIMESTAMP_RE.match(text)
    if match is None:
        return LogLine(line_no, "", text.lstrip("\ufeff"), job, step)
    return LogLine(line_no, match.group(1) + "Z", text[match.end() :], job, step)


def path_identity(display_path: str) -> tuple[str, str, str]:
    """(run, job, step) as far as the path tells: archive members are ``N_job.txt`` or ``job/N_step.txt``."""
    archive, _, inner = display_path.rpartition("!")
    run_match = _RUN_ID_RE.search(display_path)
    run = run_match.group(1) if run_match else archive or display_path  # one run per archive
    parts = [part for part in inner.replace("\\", "/").split("/") if part]
    base = parts[-1] if parts else inner
    named = _STEP_FILE_RE.match(base)
    stem = named.group(1) if named else base.rsplit(".", 1)[0]
    if len(parts) >= 2 and "!" in display_path:
        return run, parts[-2], stem
    return run, stem, ""


def _consume(job: Job, line: LogLine) -> Iterator[Finding]:
    if line.job and line.job != job.column:
        yield from _switch_job(job, line)
    if job.ended:
        return
    # Continuation lines carry no timestamp: they belong to the entry above.
    line.timestamp = line.timestamp or job.last_timestamp
    job.last_timestamp = line.timestamp
    # Runner markers are never part of a key block: masked alone, they leave the key tracking as it was.
    line.text = mask(line.text) if line.text.startswith("##[") else job.pem.feed(line.text)
    _note_job_facts(job, line.text)
    if _opens_step(job, line):
        yield from _close_step(job, at_end=False)
        job.step = Step(_step_name(line), in_header=line.text.startswith("##[group]Run "), column=line.step)
    elif line.text in _JOB_END:
        yield from _close_step(job, at_end=False)
        job.ended = True
        return
    _observe(job, line)


def _switch_job(job: Job, line: LogLine) -> Iterator[Finding]:
    """gh form: ``gh run view --log`` prints every job of a run; a new job column starts a new job."""
    if not job.ended:
        yield from _close_step(job, at_end=False)
    job.column, job.job = line.job, mask(line.job)  # columns are masked once, when they change
    job.step, job.ended, job.recent = Step(mask(line.step), column=line.step), False, deque(maxlen=CONTEXT_LINES)


def _opens_step(job: Job, line: LogLine) -> bool:
    if line.step:  # gh form: the step column is authoritative
        return line.step != job.step.column
    return line.text.startswith("##[group]Run ") or line.text == _POST_JOB


def _step_name(line: LogLine) -> str:
    if line.step:
        return mask(line.step)
    return "Post job cleanup" if line.text == _POST_JOB else line.text.removeprefix("##[group]")


def _note_job_facts(job: Job, text: str) -> None:
    if job.expect_sha and (sha := _SHA_RE.match(text)):
        job.commit = sha.group(0)
    job.expect_sha = text.endswith("log -1 --format=%H") or text.endswith("log -1 --format='%H'")
    if env_sha := _ENV_SHA_RE.match(text):
        job.commit = env_sha.group(1)
    if not job.commit and (head := _HEAD_RE.match(text)):
        job.commit = head.group(1)
    if not job.workflow and (uses := _USES_RE.match(text)):
        job.workflow = uses.group(1)


def _observe(job: Job, line: LogLine) -> None:
    step, text = job.step, line.text
    if step.in_header:
        step.in_header = text != "##[endgroup]"
    elif text.startswith("##["):
        _observe_marker(job, line)
    elif text.strip() and not text.startswith("[command]"):
        _observe_output(job, line)
    if step.best is not None and step.best.line_no != line.line_no and len(step.after) < CONTEXT_LINES:
        step.after.append(_context(text))
    job.recent.append(_context(text))


def _observe_marker(job: Job, line: LogLine) -> None:
    step, text = job.step, line.text
    if text.startswith("##[warning]"):
        step.warnings += 1
        step.first_warning = step.first_warning or text.removeprefix("##[warning]")
    if not text.startswith("##[error]"):
        return
    if exit_code := _EXIT_CODE_RE.match(text):
        step.exit_code = exit_code.group(1)
        step.exit_line, step.exit_before = fallback(line.line_no, line.timestamp, text), tuple(job.recent)
    elif terminal := _terminal_kind(text):
        _note_terminal(job, terminal, line)
    else:
        step.annotations += 1
        _observe_output(job, line)


def _terminal_kind(text: str) -> str:
    return next((kind for kind, regex in TERMINALS if regex.search(text)), "")


def _note_terminal(job: Job, kind: str, line: LogLine) -> None:
    step, kinds = job.step, [name for name, _ in TERMINALS]
    if not step.terminal_kind or kinds.index(kind) < kinds.index(step.terminal_kind):
        step.terminal_kind, step.terminal_before = kind, tuple(job.recent)
        step.terminal = Candidate(line.line_no, line.timestamp, line.text, 0, kind, "first")


def _observe_output(job: Job, line: LogLine) -> None:
    step = job.step
    step.last_output = fallback(line.line_no, line.timestamp, line.text)
    found = candidate(line.line_no, line.timestamp, line.text)
    if found is not None and better(found, step.best):
        step.best, step.before, step.after = found, tuple(job.recent), []


def _context(text: str) -> str:
    return truncate(text, CONTEXT_LINE_BYTES)


def _close_step(job: Job, at_end: bool) -> Iterator[Finding]:
    step = job.step
    cut_off = at_end and job.whole_job and not job.ended
    incomplete = cut_off and step.best is not None and step.best.rank < REAL_ERROR_RANK
    if not (step.failed or incomplete):
        return
    metadata = _step_metadata(job, incomplete)
    roots = [(root, "step_failure")] if (root := step.best or step.last_output or step.exit_line) else []
    if step.terminal is not None:
        # Two root causes only when the step shows a real error besides the deadline or cancellation.
        real = [(r, kind) for r, kind in roots if r.rank < REAL_ERROR_RANK]
        roots = sorted([*real, (step.terminal, step.terminal_kind)], key=lambda pair: pair[0].line_no)
    for found, kind in roots:
        yield _finding(job, found, kind, metadata)


def _step_metadata(job: Job, incomplete: bool) -> dict[str, str]:
    step = job.step
    values = {
        "step": step.name,
        "job": job.job,
        "exit_code": step.exit_code,
        "annotations": str(step.annotations) if step.annotations else "",
        "warnings": str(step.warnings) if step.warnings else "",
        "first_warning": step.first_warning,
        "incomplete_log": "true" if incomplete else "",
    }
    return {key: value for key, value in values.items() if value}


def _finding(job: Job, root: Candidate, kind: str, metadata: dict[str, str]) -> Finding:
    before, after = _window(job.step, root)
    diagnosis = classify.diagnose_line(root.root_cause, (*before, *after))
    pattern = {"pattern": root.pattern} if root.rank < FALLBACK_RANK else {"pattern": "last_output"}
    return Finding(
        cluster_id=diagnosis.cluster_id,
        failure_class=diagnosis.failure_class,
        title=diagnosis.title,
        symptom_class=diagnosis.failure_class.value.replace("_", " "),
        signature=diagnosis.signature,
        source=SOURCE,
        ref=f"{job.display_path}:{root.line_no}",
        kind=kind,
        excerpt=excerpt(before, root.text, after),
        metadata={**metadata, **pattern, "line": str(root.line_no)},
        timestamp=root.timestamp,
        run=job.run,
        job=job.job,
        workflow=job.workflow,
        commit=job.commit,
        severity=diagnosis.severity,
    )


def _window(step: Step, root: Candidate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if step.best is root:
        return step.before, tuple(step.after)
    if step.exit_line is root:
        return step.exit_before, ()
    return (step.terminal_before, ()) if step.terminal is root else ((), ())


def excerpt(before: tuple[str, ...], line: str, after: tuple[str, ...], limit: int = MAX_EVIDENCE_EXCERPT_BYTES) -> str:
    """The root line with as much context as fits ``limit``: nearest lines first, never cutting the root."""
    root = truncate(line, limit // 2)
    kept_before: list[str] = []
    kept_after: list[str] = []
    budget = limit - byte_len(root)
    sides = [(before[::-1], kept_before), (after, kept_after)]
    for distance in range(max(len(before), len(after))):
        for source, kept in sides:
            # A side stops at its first line that does not fit, so the window never has gaps.
            if len(kept) == distance < len(source) and (cost := byte_len(source[distance]) + 1) <= budget:
                kept.append(source[distance])
                budget -= cost
    return "\n".join([*reversed(kept_before), root, *kept_after])
