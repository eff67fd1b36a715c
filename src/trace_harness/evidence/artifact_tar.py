"""Tar (plain or compressed) log archives, read with the same caps and checks as zip artifacts.

A tar has no central directory, so the members are listed by walking the headers first. Each header
states its member's size honestly (the next header is found from it), so the walk stops *before* it
would decompress past the total cap or past the ratio the compressed file allows: a bomb is refused
from its headers, without inflating it. Members are then read through ``CappedStream`` like zip members.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from typing import BinaryIO

from ..models import EvidenceProblem
from .artifact import (
    MEMBER_ERRORS,
    ArtifactLimits,
    Budget,
    CappedStream,
    LimitExceeded,
    duplicate_step_members,
    is_safe_name,
    kind_problem,
    problem,
)
from .base import Item, ReaderOptions
from .sniff import ARTIFACT, HEAD_BYTES, READERS, sniff


def read_tar(stream: BinaryIO, display_path: str, options: ReaderOptions, limits: ArtifactLimits) -> Iterator[Item]:
    """Read every regular member of a tar archive with the reader its content calls for."""
    compressed = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    try:
        archive = tarfile.open(fileobj=stream, mode="r:*")  # noqa: SIM115  # only the open may fail here
    except (tarfile.TarError, *MEMBER_ERRORS) as exc:
        yield problem(display_path, "bad_archive", f"{type(exc).__name__}: {exc}")
        return
    with archive:
        members, refusal = _list_members(archive, display_path, compressed, limits)
        if refusal is not None:
            yield refusal
        yield from _read_members(archive, members, display_path, options, limits)


def _list_members(
    archive: tarfile.TarFile, display_path: str, compressed: int, limits: ArtifactLimits
) -> tuple[list[tarfile.TarInfo], EvidenceProblem | None]:
    members: list[tarfile.TarInfo] = []
    try:
        while (member := archive.next()) is not None:
            if refusal := _header_refusal(member, display_path, compressed, limits, len(members)):
                return (members if refusal.reason == "too_many_members" else []), refusal
            members.append(member)
    except (tarfile.TarError, *MEMBER_ERRORS) as exc:
        return members, problem(display_path, "bad_archive", f"{type(exc).__name__}: {exc}")
    return members, None


def _header_refusal(
    member: tarfile.TarInfo, display_path: str, compressed: int, limits: ArtifactLimits, count: int
) -> EvidenceProblem | None:
    end = member.offset_data + member.size  # uncompressed bytes up to this member's end
    if count >= limits.max_members:
        return problem(display_path, "too_many_members", f"more than {limits.max_members}; read the first")
    if end > limits.max_total_bytes:
        return problem(display_path, "archive_too_large", f"more than {limits.max_total_bytes} bytes in total")
    if end > limits.ratio_floor and end / max(compressed, 1) > limits.max_ratio:
        return problem(display_path, "compression_ratio", f"expands more than {limits.max_ratio:g}:1 (bomb?)")
    return None


def _read_members(
    archive: tarfile.TarFile,
    members: list[tarfile.TarInfo],
    display_path: str,
    options: ReaderOptions,
    limits: ArtifactLimits,
) -> Iterator[Item]:
    files = [member for member in members if not member.isdir()]
    skipped = duplicate_step_members([member.name for member in files])
    budget = Budget(limits)
    for member in files:
        if member.name not in skipped:
            yield from _read_member(archive, member, f"{display_path}!{member.name}", options, budget)


def _read_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, member_path: str, options: ReaderOptions, budget: Budget
) -> Iterator[Item]:
    if not is_safe_name(member.name):
        yield problem(member_path, "unsafe_member_name", "absolute or parent-relative member name")
    elif not member.isfile():
        yield problem(member_path, "unsupported_member", "links and special files are not read")
    elif member.size > budget.limits.max_member_bytes:
        yield problem(member_path, "member_too_large", f"header claims {member.size} bytes")
    else:
        yield from _dispatch(archive, member, member_path, options, budget)


def _dispatch(
    archive: tarfile.TarFile, member: tarfile.TarInfo, member_path: str, options: ReaderOptions, budget: Budget
) -> Iterator[Item]:
    try:
        kind = sniff(_open(archive, member).read(HEAD_BYTES), member.name)
        if kind is None or kind == ARTIFACT or kind not in READERS:
            yield kind_problem(member_path, kind)
            return
        capped = CappedStream(_open(archive, member), member.size, budget)
        yield from READERS[kind](capped, member_path, options)  # type: ignore[arg-type]
    except LimitExceeded as exc:
        yield problem(member_path, exc.reason, exc.detail)
    except (tarfile.TarError, *MEMBER_ERRORS) as exc:
        yield problem(member_path, "unreadable_member", f"{type(exc).__name__}: {exc}")


def _open(archive: tarfile.TarFile, member: tarfile.TarInfo) -> BinaryIO:
    handle = archive.extractfile(member)
    if handle is None:
        raise tarfile.ExtractError(f"{member.name} has no data")
    return handle  # type: ignore[return-value]  # an ExFileObject is a BinaryIO
