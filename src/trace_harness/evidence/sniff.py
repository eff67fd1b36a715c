"""Which reader a piece of evidence calls for, judged from its first bytes (and its name as a hint).

``sniff(head, name)`` returns a kind; ``READERS`` maps each kind that has a stream reader to it, importing
reader modules only when first used (and tolerating ones not shipped yet); ``iter_evidence`` walks the
paths given to ``--evidence`` in a fixed order and sniffs every file once, so each file is read by exactly
one reader, and ``group_by_kind`` turns that walk into the pipeline's ``{kind: [paths]}`` plus the counted
problems for files no reader takes.
"""

from __future__ import annotations

import glob
import importlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ..errors import UsageError
from ..models import EvidenceProblem
from ..redact import mask
from .base import Reader

HEAD_BYTES = 64 * 1024

WORKER_LOG = "worker_log"
ACTIONS_LOG = "actions_log"
JUNIT = "junit"
JSONL = "jsonl"
ARTIFACT = "artifact"
EVIDENCE_MANIFEST = "evidence_manifest"
TH_MANIFEST = "th_manifest"
REPORT = "report"
UNREADABLE = "unreadable"  # not a kind: a file that could not be opened or read

READER_PATHS: dict[str, str] = {
    WORKER_LOG: "trace_harness.evidence.worker_log:read_worker_log",
    ACTIONS_LOG: "trace_harness.evidence.actions_log:read_actions_log",
    JUNIT: "trace_harness.evidence.junit:read_junit",
    JSONL: "trace_harness.evidence.jsonl:read_jsonl",
    ARTIFACT: "trace_harness.evidence.artifact:read_artifact",
    TH_MANIFEST: "trace_harness.evidence.th_manifest:read_th_manifest",
}
# Kinds read whole by the pipeline rather than streamed through a reader. A report is not evidence: --report.
DOCUMENT_KINDS = frozenset({EVIDENCE_MANIFEST})

# A JSON document's own schema field, matched in the head so a large document need not be parsed.
_SCHEMAS: tuple[tuple[re.Pattern[bytes], str], ...] = tuple(
    (re.compile(rb'"(?:schema_version|schema)"\s*:\s*"' + re.escape(marker.encode()) + rb'"'), kind)
    for marker, kind in (
        ("trace-evidence-manifest/v2", EVIDENCE_MANIFEST),
        ("trace-harness-manifest/v1", TH_MANIFEST),
        ("trace-harness-report/v3", REPORT),
    )
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_ACTIONS_RE = re.compile(rb"^(?:[^\t\n]*\t[^\t\n]*\t)?(?:\xef\xbb\xbf)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ")
_WORKER_RE = re.compile(rb"^\d{4}/\d\d/\d\d[ \t]+\d\d:\d\d:\d\d(?:\.\d+)?[ \t]+.*\bevent=", re.MULTILINE)
_JUNIT_RE = re.compile(rb"<testsuites?[\s>/]")
_JSONL_SUFFIXES = (".jsonl", ".ndjson")
# Documentation beside evidence in a folder (a README) is skipped in walks, not counted as a problem.
DOC_SUFFIXES = frozenset({".md", ".rst"})


def sniff(head: bytes, name: str = "") -> str | None:
    """The evidence kind of content starting with ``head``; None when no reader takes it."""
    if head.startswith(_ZIP_MAGIC) or _is_tar(head):
        return ARTIFACT
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"{"):
        return _sniff_json(text, name)
    if text.startswith(b"<"):
        return JUNIT if _JUNIT_RE.search(text) else None
    if any(_ACTIONS_RE.match(line) for line in text.split(b"\n", 2)[:2]):
        return ACTIONS_LOG  # the second line too: the first may carry a mangled byte-order mark
    return WORKER_LOG if _WORKER_RE.search(head) else None


def _is_tar(head: bytes) -> bool:
    """A tar archive, plain or gzip-compressed: the ustar magic at offset 257 of the (inflated) head."""
    if head.startswith(b"\x1f\x8b"):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 512)
        except zlib.error:
            return False
    return head[257:262] == b"ustar"


def _sniff_json(text: bytes, name: str) -> str | None:
    first_line = text.split(b"\n", 1)[0]
    if name.lower().endswith(_JSONL_SUFFIXES) or (_is_json_object(first_line) and b"\n{" in text):
        return JSONL
    schema = next((kind for regex, kind in _SCHEMAS if regex.search(text)), None)
    if schema is not None:
        return schema
    return JSONL if _is_json_object(first_line) else None


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


class _LazyReaders(Mapping[str, Reader]):
    """Readers by kind, imported on first use; a module not present yet is simply absent."""

    def __init__(self, paths: Mapping[str, str]) -> None:
        self._paths = dict(paths)

    def __getitem__(self, kind: str) -> Reader:
        module_name, _, function = self._paths[kind].partition(":")
        try:
            reader: Reader = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError):
            raise KeyError(kind) from None
        return reader

    def __iter__(self) -> Iterator[str]:
        return iter([kind for kind in self._paths if kind in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, kind: object) -> bool:
        try:
            self[kind]  # type: ignore[index]
        except KeyError:
            return False
        return True


READERS: Mapping[str, Reader] = _LazyReaders(READER_PATHS)


def sniff_path(path: Path) -> str | None:
    """The kind of one file from its first bytes; raises ``OSError`` when it cannot be read."""
    with path.open("rb") as handle:
        return sniff(handle.read(HEAD_BYTES), path.name)


def iter_evidence(paths: Iterable[Path]) -> Iterator[tuple[Path, str | None]]:
    """Every file under ``paths`` once, in a fixed order, with its kind (None = unknown, or ``UNREADABLE``).

    Folders are walked recursively in sorted order; hidden files and folders and documentation are skipped.
    """
    seen: set[Path] = set()
    for path in paths:
        for file in _files(path):
            if file not in seen:
                seen.add(file)
                yield file, _safe_sniff(file)


def group_by_kind(paths: Iterable[Path]) -> tuple[dict[str, list[Path]], list[EvidenceProblem]]:
    """``{kind: [files]}`` for files a reader or the pipeline takes; a problem for each other file."""
    grouped: dict[str, list[Path]] = {}
    problems: list[EvidenceProblem] = []
    for file, kind in iter_evidence(paths):
        if kind is None or kind == UNREADABLE or (kind not in READERS and kind not in DOCUMENT_KINDS):
            problems.append(unknown_problem(str(file), kind))
        else:
            grouped.setdefault(kind, []).append(file)
    return grouped, problems


def unknown_problem(display_path: str, kind: str | None) -> EvidenceProblem:
    """The counted problem for a file no reader takes."""
    if kind is None:
        reason, detail = "unrecognized_format", "no reader recognises this content"
    elif kind == UNREADABLE:
        reason, detail = UNREADABLE, "the file could not be opened or read"
    else:
        reason, detail = "no_reader", f"{kind} is not read as evidence here"
    return EvidenceProblem(path=mask(display_path), reason=reason, detail=detail)


def _files(path: Path) -> Iterator[Path]:
    if not path.is_dir():
        yield path
        return
    for file in sorted(path.rglob("*")):
        hidden = any(part.startswith(".") for part in file.relative_to(path).parts)
        if file.is_file() and not hidden and file.suffix.lower() not in DOC_SUFFIXES:
            yield file


def _safe_sniff(file: Path) -> str | None:
    try:
        return sniff_path(file)
    except OSError:
        return UNREADABLE


def expand_globs(values: Iterable[str]) -> list[Path]:
    """Paths from repeatable CLI values, each a path or a glob (``**`` recursive), matches sorted."""
    paths: list[Path] = []
    for value in values:
        if not glob.has_magic(value):
            paths.append(Path(value))
            continue
        matches = sorted(glob.glob(value, recursive=True))
        if not matches:
            raise UsageError(f"no files match {mask(value)!r}")
        paths.extend(Path(match) for match in matches)
    return paths
