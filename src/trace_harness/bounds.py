"""Byte bounds shared by every part, and the helpers that enforce them without splitting characters."""

from __future__ import annotations

import json
from typing import Any

MAX_RUN_EVIDENCE_BYTES = 64 * 1024
MAX_CLUSTER_BYTES = 256 * 1024
MAX_EVIDENCE_EXCERPT_BYTES = 4 * 1024
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_VALUE_BYTES = 4 * 1024
MAX_BODY_CHARS = 65_536
MAX_PROPOSAL_EVIDENCE_REFS = 5
MAX_PROPOSAL_AFFECTED_VALUES = 5
MAX_PROPOSAL_INPUT_REFS = 3
MAX_PROPOSAL_FIELD_BYTES = 512
MAX_EVALUATOR_FIXTURES = 3
MAX_EVALUATOR_FIXTURE_EXCERPT_BYTES = 512

TRUNCATION_SUFFIX = "... [truncated]"


def byte_len(text: str) -> int:
    return len(text.encode())


def truncate(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes, marking the cut; never splits a character."""
    data = text.encode()
    if len(data) <= limit:
        return text
    suffix = TRUNCATION_SUFFIX.encode()
    if limit <= len(suffix):
        return data[:limit].decode(errors="ignore")
    return data[: limit - len(suffix)].decode(errors="ignore") + TRUNCATION_SUFFIX


# Built once: json.dumps with these options builds a new encoder per call (~25 us, and it runs per entry).
_COMPACT = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def compact_json(value: Any) -> str:
    return _COMPACT.encode(value)


def encoded_bytes(value: Any) -> int:
    return byte_len(compact_json(value))


def _escaped_bytes_at_most(mapping: dict[str, str]) -> int:
    """An upper bound of ``encoded_bytes(mapping)``: an escape (`\\u0001`) is at most 6 bytes per byte."""
    texts = "".join(mapping) + "".join(mapping.values())
    return 2 + 6 * byte_len(texts) + 6 * len(mapping)


def bounded_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Cap each value at 4 KiB, then shrink the longest values until the entry fits 16 KiB."""
    bounded = {key: truncate(value, MAX_METADATA_VALUE_BYTES) for key, value in metadata.items()}
    if _escaped_bytes_at_most(bounded) <= MAX_METADATA_BYTES:  # the usual case: no need to encode it
        return bounded
    while bounded and encoded_bytes(bounded) > MAX_METADATA_BYTES:
        key = max(bounded, key=lambda item: byte_len(bounded[item]))
        if not bounded[key]:
            bounded.pop(key)  # only empty values left: drop keys rather than loop forever
            continue
        overage = encoded_bytes(bounded) - MAX_METADATA_BYTES
        shorter = truncate(bounded[key], max(0, byte_len(bounded[key]) - overage - len(TRUNCATION_SUFFIX)))
        bounded[key] = "" if shorter == bounded[key] else shorter
    return bounded


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
