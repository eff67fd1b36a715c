"""Reader for zip artifacts: each member is streamed, sniffed and handed to the reader its content calls for.

(Tar and tar.gz archives go to ``artifact_tar``, which applies the same caps and checks.)

Members are never extracted. Hard caps apply to the member count, the bytes of each member, the total
uncompressed bytes and the compression ratio, and they are enforced on the bytes actually decompressed,
not only on what the zip's headers claim (a header can lie). Unsafe names (absolute, ``..``), nested
archives, unreadable and unrecognised members become counted ``EvidenceProblem``s; nothing here raises.

An Actions "Download log archive" zip holds each job twice: ``N_job.txt`` (the whole job) and
``job/N_step.txt`` (one file per step). The per-step copies of a job whose whole file is present are
skipped, so each failure is read once. A member's display path is ``<zip display path>!<member name>``.
"""

from __future__ import annotations

import lzma
import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict

from ..models import EvidenceProblem
from ..redact import mask
from .base import Item, ReaderOptions
from .sniff import ARTIFACT, HEAD_BYTES, READERS, sniff

_JOB_FILE_RE = re.compile(r"^\d+_(.+)\.txt$")
_CHUNK_BYTES = 64 * 1024
# What a corrupt, truncated or unsupported member raises while it is decompressed.
MEMBER_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)


class ArtifactLimits(BaseModel):
    """Hard caps for one archive; the ratio is checked once a member has produced ``ratio_floor`` bytes."""

    model_config = ConfigDict(frozen=True)

    max_members: int = 10_000
    max_member_bytes: int = 512 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_ratio: float = 200.0
    ratio_floor: int = 1024 * 1024


class LimitExceeded(Exception):
    """A cap was hit while reading a member; ``reason`` names which."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Budget:
    """Uncompressed bytes read so far from the whole archive."""

    def __init__(self, limits: ArtifactLimits) -> None:
        self.limits = limits
        self.total = 0


class CappedStream:
    """A member stream that counts what it hands out and raises ``LimitExceeded`` at a cap."""

    def __init__(self, raw: BinaryIO, compressed: int, budget: Budget) -> None:
        self._raw = raw
        self._compressed = max(compressed, 1)
        self._budget = budget
        self.read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        return self._count(self._raw.read(_bounded(size)))

    def readline(self, size: int = -1) -> bytes:
        return self._count(self._raw.readline(_bounded(size)))

    def readable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def _count(self, data: bytes) -> bytes:
        self.read_bytes += len(data)
        self._budget.total += len(data)
        limits = self._budget.limits
        if self.read_bytes > limits.max_member_bytes:
            raise LimitExceeded("member_too_large", f"more than {limits.max_member_bytes} bytes uncompressed")
        if self._budget.total > limits.max_total_bytes:
            raise LimitExceeded("archive_too_large", f"more than {limits.max_total_bytes} bytes in total")
        ratio = self.read_bytes / self._compressed
        if self.read_bytes > limits.ratio_floor and ratio > limits.max_ratio:
            raise LimitExceeded("compression_ratio", f"expands more than {limits.max_ratio:g}:1 (zip bomb?)")
        return data


def _bounded(size: int) -> int:
    # An unbounded read would decompress a whole bomb before the cap could see it.
    return _CHUNK_BYTES if size is None or size < 0 else size


def read_artifact(stream: BinaryIO, display_path: str, options: ReaderOptions) -> Iterator[Item]:
    """Read every member of a zip artifact with the reader its content calls for."""
    yield from read_artifact_with(stream, display_path, options, ArtifactLimits())


def read_artifact_with(
    stream: BinaryIO, display_path: str, options: ReaderOptions, limits: ArtifactLimits
) -> Iterator[Item]:
    try:
        head = stream.read(4)
        stream.seek(0)
    except OSError as exc:  # archives need random access; a pipe cannot be read as one
        yield problem(display_path, "bad_archive", f"not seekable: {exc}")
        return
    if not head.startswith(b"PK"):
        from .artifact_tar import read_tar  # imported here: it builds on this module's caps and checks

        yield from read_tar(stream, display_path, options, limits)
        return
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        yield problem(display_path, "bad_archive", str(exc))
        return
    with archive:
        yield from _read_members(archive, display_path, options, limits)


def _read_members(
    archive: zipfile.ZipFile, display_path: str, options: ReaderOptions, limits: ArtifactLimits
) -> Iterator[Item]:
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > limits.max_members:
        yield problem(display_path, "too_many_members", f"{len(members)} members; read the first {limits.max_members}")
        members = members[: limits.max_members]
    skipped = duplicate_step_members([info.filename for info in members])
    budget = Budget(limits)
    for info in members:
        if info.filename not in skipped:
            yield from _read_member(archive, info, display_path, options, budget)
            if budget.total > limits.max_total_bytes:
                return


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, display_path: str, options: ReaderOptions, budget: Budget
) -> Iterator[Item]:
    member_path = f"{display_path}!{info.filename}"
    if refused := _refusal(info, member_path, budget.limits):
        yield refused
        return
    try:
        kind = _sniff_member(archive, info)
        if kind is None or kind == ARTIFACT or kind not in READERS:
            yield kind_problem(member_path, kind)
            return
        with archive.open(info) as raw:
            capped = CappedStream(raw, info.compress_size, budget)  # type: ignore[arg-type]  # ZipExtFile: BinaryIO
            yield from READERS[kind](capped, member_path, options)  # type: ignore[arg-type]
    except LimitExceeded as exc:
        yield problem(member_path, exc.reason, exc.detail)
    except MEMBER_ERRORS as exc:
        yield problem(member_path, "unreadable_member", f"{type(exc).__name__}: {exc}")


def _sniff_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    with archive.open(info) as raw:
        return sniff(raw.read(HEAD_BYTES), info.filename)


def _refusal(info: zipfile.ZipInfo, member_path: str, limits: ArtifactLimits) -> EvidenceProblem | None:
    if not is_safe_name(info.filename):
        return problem(member_path, "unsafe_member_name", "absolute or parent-relative member name")
    if info.file_size > limits.max_member_bytes:
        return problem(member_path, "member_too_large", f"header claims {info.file_size} bytes")
    if info.flag_bits & 0x1:
        return problem(member_path, "encrypted_member", "encrypted members are not read")
    return None


def is_safe_name(name: str) -> bool:
    """False for absolute names (``/x``, ``C:x``, ``\\\\host``) and names with a ``..`` component."""
    normal = name.replace("\\", "/")
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal):
        return False
    return ".." not in normal.split("/")


def duplicate_step_members(names: list[str]) -> set[str]:
    """Per-step files (and ``system.txt``) of jobs whose whole-job file ``N_job.txt`` is also present."""
    jobs = {match.group(1) for name in names if "/" not in name and (match := _JOB_FILE_RE.match(name))}
    return {name for name in names if "/" in name and name.split("/", 1)[0] in jobs}


def kind_problem(member_path: str, kind: str | None) -> EvidenceProblem:
    if kind == ARTIFACT:
        return problem(member_path, "nested_archive", "archives inside archives are not read")
    if kind is None:
        return problem(member_path, "unrecognized_format", "no reader recognises this member")
    return problem(member_path, "no_reader", f"{kind} members are not read from archives")


def problem(path: str, reason: str, detail: str) -> EvidenceProblem:
    return EvidenceProblem(path=mask(path), reason=reason, detail=mask(detail))
