"""Reader for GitHub Actions job logs: one root-cause finding per failing step.

Two forms are accepted: the raw API form (``<7-digit ISO timestamp> <text>`` per line, a UTF-8 BOM on the
first, continuation lines without a timestamp) and the ``gh run view --log`` form (``job<TAB>step<TAB>line``).
Steps open at ``##[group]Run …`` (raw form) or when the step column changes (gh form); the script echo
inside that first group is never evidence. A step failed when it printed ``##[error]``; its exit code,
annotations and warnings become metadata of its single root-cause finding (see ``actions_rootcause``).
Cancellation, time-outs and runner loss are terminal conditions: a second finding only when the step also
shows a real error. The log is read in blocks of whole lines with a per-line byte cap, so memory stays
bounded; only lines the bulk gate picks (``actions_scan``) run through the per-line logic below.

Redaction masks what is kept, when it is kept: the root line, context windows, metadata. Windows hold raw
lines with a flag telling whether the line began inside a private-key block (key markers are followed on
every line the gate picks, and no other line can open or close a block), so a kept line is masked exactly
as if every line had gone through a ``PemTracker`` in reading order, before it is cut to size.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice, repeat
from typing import BinaryIO

from .. import classify
from ..bounds import excerpt, truncate
from ..models import Finding, RunFacts
from ..redact import PemTracker, mask
from .actions_rootcause import FALLBACK_RANK, Candidate, better, candidate, fallback, rank_line
from .actions_scan import Gate, every_line, gate_for, last_lines, line_blocks, lines_backward, lines_forward
from .base import Item, ReaderOptions, path_identity

SOURCE = "actions_log"
MAX_LINE_BYTES = 64 * 1024
CONTEXT_LINES = 20
CONTEXT_LINE_BYTES = 1024
# A terminal condition adds a second finding only when the step's best line is at least this strong.
REAL_ERROR_RANK = 4

_TIMESTAMP_RE = re.compile(r"^\ufeff?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z ?")
_TIMESTAMP_BYTES_RE = re.compile(rb"(?:\xef\xbb\xbf)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")
_GH_VIEW_RE = re.compile(r"^([^\t]*)\t([^\t]*)\t\ufeff?(?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
_GH_COLUMNS_RE = re.compile(r"^([^\t]*)\t([^\t]*)\t\ufeff?")  # once the form is known: continuations too
_ANSI_RE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_EXIT_CODE_RE = re.compile(r"^##\[error\]Process completed with exit code (-?\d+)\.?")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_HEAD_RE = re.compile(r"^HEAD is now at ([0-9a-f]{7,40})\b")
_USES_RE = re.compile(r"^(?:Uses:|\s*GITHUB_WORKFLOW_REF:) \S+?/\.github/workflows/([^@\s]+)@")
_ENV_SHA_RE = re.compile(r"^\s*GITHUB_SHA: ([0-9a-f]{40})$")
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
    """One line as read: ``text`` is raw (unmasked) unless it is a key-block or ``##[error]`` line."""

    line_no: int
    timestamp: str
    text: str
    job: str = ""
    step: str = ""
    inside: bool = False  # the line began inside a private-key block
    raw: bytes = b""
    masked_text: str | None = None

    def masked(self) -> str:
        if self.masked_text is None:
            self.masked_text = masked_as_read(self.text, self.inside)
        return self.masked_text


# A kept context line: its raw bytes and whether it began inside a key block; masked when a finding is made.
Kept = tuple[bytes, bool]


@dataclass(slots=True)
class Step:
    """What one step has shown so far; only the best candidate and a bounded window are kept."""

    name: str
    header: str = ""  # the raw ``##[group]Run`` line naming the step, masked only if the step fails
    in_header: bool = False
    column: str = ""  # gh form: the raw step column, to notice when it changes
    best: Candidate | None = None
    before: tuple[Kept, ...] = ()
    after: list[Kept] = field(default_factory=list)
    last_output: LogLine | None = None
    exit_code: str = ""
    annotations: int = 0
    warnings: int = 0
    first_warning: str = ""
    terminal: Candidate | None = None
    terminal_kind: str = ""
    terminal_before: tuple[Kept, ...] = ()
    exit_line: Candidate | None = None  # the root of last resort: a step that failed without printing
    exit_before: tuple[Kept, ...] = ()

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
    gh_form: bool | None = None  # None until the first non-empty line
    line_no: int = 0
    # Fed only the lines the gate picks: every line that can open or close a key block is among them.
    pem: PemTracker = field(default_factory=PemTracker)
    recent: deque[Kept] = field(default_factory=lambda: deque(maxlen=CONTEXT_LINES))


def read_actions_log(stream: BinaryIO, display_path: str, options: ReaderOptions) -> Iterator[Item]:
    """Yield one root-cause ``Finding`` per failing step of an Actions job log."""
    del options  # Actions logs carry their own structure; no config applies yet
    run, job_name, step_name = (mask(part) for part in path_identity(display_path))
    job = Job(display_path, run, job_name, Step(step_name or "Set up job"), whole_job=not step_name)
    gate, stop_gate = gate_for(stream, MAX_LINE_BYTES)
    try:
        for block in line_blocks(stream, MAX_LINE_BYTES):
            yield from _read_block(job, block, gate)
    finally:
        stop_gate()
    if not job.ended:  # a job-end marker already closed the step
        yield from _close_step(job, at_end=True)
    if job.commit:  # places the run's JUnit results for flaky detection
        yield RunFacts(run=job.run, workflow=job.workflow, commit=job.commit)


def _read_block(job: Job, block: bytes, gate: Gate) -> Iterator[Finding]:
    if job.gh_form is None:
        job.gh_form = _detect_form(block)
    picked = gate(block)  # called for every block, so a gate running ahead stays in step
    done = 0
    for start, end in every_line(block) if job.gh_form else picked:
        _pass_over(job, block, done, start)
        job.line_no += 1
        raw = block[start:end]
        yield from _consume(job, parse_line(job.line_no, decode(raw), bool(job.gh_form), raw))
        done = end + 1
    _pass_over(job, block, done, len(block))


def _detect_form(block: bytes) -> bool | None:
    """gh form when the first non-empty line has job and step columns; None while no line has text."""
    for raw in lines_forward(block, 0, len(block)):
        if text := decode(raw):
            return bool(_GH_VIEW_RE.match(text))
    return None


def decode(raw: bytes) -> str:
    """Text of a raw line: invalid UTF-8 and NUL replaced, line end and ANSI escapes removed."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n").replace("\x00", "\ufffd")
    return _ANSI_RE.sub("", text) if "\x1b" in text else text


def parse_line(line_no: int, text: str, gh_form: bool, raw: bytes = b"") -> LogLine:
    job = step = ""
    if gh_form and (columns := _GH_COLUMNS_RE.match(text)):
        job, step = columns.group(1), columns.group(2)
        text = text[columns.end() :]
    match = _TIMESTAMP_RE.match(text)
    if match is None:
        return LogLine(line_no, "", text.lstrip("\ufeff"), job, step, raw=raw)
    return LogLine(line_no, match.group(1) + "Z", text[match.end() :], job, step, raw=raw)


def masked_as_read(text: str, inside: bool) -> str:
    """The line masked as a reader masking every line in order would: runner markers alone, other lines
    through a key tracker that was ``inside`` a private-key block when the line began."""
    if text.startswith("##["):
        return mask(text)
    return PemTracker(inside=inside).feed(text) if inside or "PRIVATE KEY" in text else mask(text)


def _consume(job: Job, line: LogLine) -> Iterator[Finding]:
    if line.job and line.job != job.column:
        yield from _switch_job(job, line)
    if job.ended:
        return
    # Continuation lines carry no timestamp: they belong to the entry above.
    line.timestamp = line.timestamp or job.last_timestamp
    job.last_timestamp = line.timestamp
    _mask_what_decides(job, line)
    _note_job_facts(job, line)
    if _opens_step(job, line):
        yield from _close_step(job, at_end=False)
        job.step = _open_step(line)
    elif line.text in _JOB_END:
        yield from _close_step(job, at_end=False)
        job.ended = True
        return
    _observe(job, line)


def _mask_what_decides(job: Job, line: LogLine) -> None:
    """Mask now the lines whose masked text decides what happens: key-block lines and ``##[error]``."""
    line.inside = job.pem.inside
    if line.text.startswith("##["):  # runner markers are never part of a key block
        if line.text.startswith("##[error]"):
            line.text = line.masked_text = mask(line.text)
    elif line.inside or "PRIVATE KEY" in line.text:
        line.text = line.masked_text = job.pem.feed(line.text)


def _pass_over(job: Job, block: bytes, start: int, end: int) -> None:
    """Lines ``block[start:end]`` the gate passed over: none of them is a marker, root cause, job fact or
    key line, so they only fill the context windows, the step's last output and the clock."""
    count = block.count(b"\n", start, end)
    if not count or job.ended:
        job.line_no += count
        return
    inside, step = job.pem.inside, job.step
    if job.expect_sha:
        _note_sha(job, _read(job, next(lines_forward(block, start, end)), 0, inside))
    if step.best is not None and len(step.after) < CONTEXT_LINES:
        room = CONTEXT_LINES - len(step.after)
        step.after.extend(zip(islice(lines_forward(block, start, end), room), repeat(inside)))
    job.line_no += count
    _note_last_lines(job, block, start, end)
    job.recent.extend(zip(last_lines(block, start, end, CONTEXT_LINES), repeat(inside)))


def _note_last_lines(job: Job, block: bytes, start: int, end: int) -> None:
    """The step's last output line and the clock, from the newest passed-over line backwards."""
    want_output = not job.step.in_header
    output: LogLine | None = None
    clock = stamp = ""
    stop = end
    while want_output and stop > start:  # usually the newest line is output: one iteration
        begin = block.rfind(b"\n", start, stop - 1) + 1 or start
        line = _read(job, block[begin : stop - 1], job.line_no - block.count(b"\n", stop, end), job.pem.inside)
        clock, stamp, stop = clock or line.timestamp, line.timestamp, begin
        if line.inside or _is_output(line.text):
            output = line
            break
    if output is not None or not want_output:
        stamp = stamp or _newest_clock(job, block, start, stop)
        clock = clock or stamp
    if output is not None:  # a continuation line carries the clock of the entry above
        output.timestamp = stamp or job.last_timestamp
        job.step.last_output = output
    job.last_timestamp = clock or job.last_timestamp


# The last line of a span that starts with a timestamp: `.*` runs to the end and backs off in C.
_LAST_STAMPED_LINE_RE = re.compile(rb"(?s)(?:.*\n)?((?:\xef\xbb\xbf)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)")


def _newest_clock(job: Job, block: bytes, start: int, stop: int) -> str:
    """``_clock`` of the newest line in ``block[start:stop]`` (whole lines) that has one, else ""."""
    if not job.gh_form:  # gh-form lines start with their job column, never with the clock
        found = _LAST_STAMPED_LINE_RE.match(block, start, stop)
        line_end = block.find(b"\n", found.start(1), stop) if found else start - 1
        tail = block[line_end + 1 : stop]  # the lines below: plain ASCII without escapes cannot hold a clock
        if tail.isascii() and b"\x1b" not in tail:
            return _clock(job, block[found.start(1) : line_end]) if found else ""
    for raw in lines_backward(block, start, stop):  # exact per-line path: gh form, escapes, non-ASCII
        if stamp := _clock(job, raw):
            return stamp
    return ""


def _clock(job: Job, raw: bytes) -> str:
    """The line's own timestamp; plain ASCII lines that cannot hold one are not decoded at all."""
    if not _TIMESTAMP_BYTES_RE.match(raw) and raw.isascii() and b"\x1b" not in raw and not job.gh_form:
        return ""
    return parse_line(0, decode(raw), bool(job.gh_form)).timestamp


def _read(job: Job, raw: bytes, line_no: int, inside: bool) -> LogLine:
    line = parse_line(line_no, decode(raw), bool(job.gh_form), raw)
    line.inside = inside
    return line


def _is_output(text: str) -> bool:
    return bool(text.strip()) and not text.startswith("[command]")


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


def _open_step(line: LogLine) -> Step:
    if line.step:
        return Step(mask(line.step), column=line.step)
    if line.text == _POST_JOB:
        return Step("Post job cleanup")
    return Step("", header=line.text, in_header=line.text.startswith("##[group]Run "))


def _step_name(step: Step) -> str:
    return step.name or mask(step.header).removeprefix("##[group]")


def _matched(regex: re.Pattern[str], line: LogLine) -> re.Match[str] | None:
    """A match on the masked line, tried only when the raw line matches (masking is the costly part)."""
    return regex.match(line.masked()) if regex.match(line.text) else None


def _note_sha(job: Job, line: LogLine) -> None:
    if job.expect_sha and (sha := _matched(_SHA_RE, line)):
        job.commit = sha.group(0)
    job.expect_sha = False


def _note_job_facts(job: Job, line: LogLine) -> None:
    _note_sha(job, line)
    text = line.text
    if text.endswith(("log -1 --format=%H", "log -1 --format='%H'")):
        job.expect_sha = line.masked().endswith(("log -1 --format=%H", "log -1 --format='%H'"))
    if env_sha := _matched(_ENV_SHA_RE, line):
        job.commit = env_sha.group(1)
    if not job.commit and (head := _matched(_HEAD_RE, line)):
        job.commit = head.group(1)
    if not job.workflow and (uses := _matched(_USES_RE, line)):
        job.workflow = uses.group(1)


def _observe(job: Job, line: LogLine) -> None:
    step, text = job.step, line.text
    if step.in_header:
        step.in_header = text != "##[endgroup]"
    elif text.startswith("##["):
        _observe_marker(job, line)
    elif text.strip() and not text.startswith("[command]"):
        _observe_output(job, line)
    kept = (line.raw, line.inside)
    if step.best is not None and step.best.line_no != line.line_no and len(step.after) < CONTEXT_LINES:
        step.after.append(kept)
    job.recent.append(kept)


def _observe_marker(job: Job, line: LogLine) -> None:
    step, text = job.step, line.text
    if text.startswith("##[warning]"):
        step.warnings += 1
        step.first_warning = step.first_warning or line.masked().removeprefix("##[warning]")
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
    step.last_output = line
    if rank_line(line.text) is None:  # most lines: no pattern, so no need to mask
        return
    found = candidate(line.line_no, line.timestamp, line.masked())
    if found is not None and better(found, step.best):
        step.best, step.before, step.after = found, tuple(job.recent), []


def _context(kept: Kept, gh_form: bool) -> str:
    """A kept line as the excerpt shows it: masked first, then cut, so a cut never leaves half a secret."""
    raw, inside = kept
    return truncate(masked_as_read(parse_line(0, decode(raw), gh_form).text, inside), CONTEXT_LINE_BYTES)


def _close_step(job: Job, at_end: bool) -> Iterator[Finding]:
    step = job.step
    cut_off = at_end and job.whole_job and not job.ended
    incomplete = cut_off and step.best is not None and step.best.rank < REAL_ERROR_RANK
    if not (step.failed or incomplete):
        return
    metadata = _step_metadata(job, incomplete)
    last = step.last_output
    last_output = fallback(last.line_no, last.timestamp, last.masked()) if last is not None else None
    roots = [(root, "step_failure")] if (root := step.best or last_output or step.exit_line) else []
    if step.terminal is not None:
        # Two root causes only when the step shows a real error besides the deadline or cancellation.
        real = [(r, kind) for r, kind in roots if r.rank < REAL_ERROR_RANK]
        # A plain cancellation (superseded run) is no failure of the project: only its real errors count.
        terminal = [] if step.terminal_kind == "cancelled" else [(step.terminal, step.terminal_kind)]
        roots = sorted([*real, *terminal], key=lambda pair: pair[0].line_no)
    for found, kind in roots:
        yield _finding(job, found, kind, metadata)


def _step_metadata(job: Job, incomplete: bool) -> dict[str, str]:
    step = job.step
    values = {
        "step": _step_name(step),
        "job": job.job,
        "exit_code": step.exit_code,
        "annotations": str(step.annotations) if step.annotations else "",
        "warnings": str(step.warnings) if step.warnings else "",
        "first_warning": step.first_warning,
        "incomplete_log": "true" if incomplete else "",
    }
    return {key: value for key, value in values.items() if value}


def _finding(job: Job, root: Candidate, kind: str, metadata: dict[str, str]) -> Finding:
    before, after = (tuple(_context(kept, bool(job.gh_form)) for kept in side) for side in _window(job.step, root))
    diagnosis = classify.diagnose_line(root.root_cause, (*before, *after))
    pattern = {"pattern": root.pattern} if root.rank < FALLBACK_RANK else {"pattern": "last_output"}
    return Finding(
        cluster_id=diagnosis.cluster_id,
        earlier_ids=diagnosis.earlier_ids,
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


def _window(step: Step, root: Candidate) -> tuple[tuple[Kept, ...], tuple[Kept, ...]]:
    if step.best is root:
        return step.before, tuple(step.after)
    if step.exit_line is root:
        return step.exit_before, ()
    return (step.terminal_before, ()) if step.terminal is root else ((), ())
