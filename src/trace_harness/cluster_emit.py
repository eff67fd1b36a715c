"""Emitting a finished cluster's texts: ids and evidence entries masked in batches and byte-bounded.

Raw ids and raw candidate entries live only in the accumulator's memory; only what survives the bounds is
masked, in a few ``mask`` calls over joined batches (verified, else value by value).
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from typing import Any

from .bounds import MAX_CLUSTER_BYTES, MAX_EVIDENCE_EXCERPT_BYTES, bounded_metadata, truncate
from .models import AFFECTED_KEYS, EvidenceEntry
from .redact import mask
from .taxonomy import CLASS_INFO, WORKER_CLASSES, FailureClass

WORKER_SURFACE = "WORKFLOW.md, reviewer rubrics, skills, hooks, tests, CI, or docs"
NEXT_ACTION = "issue, draft-PR, or advisory evaluator proposal"
WORKER_CRITERIA = (
    "Future runs cover this failure class with a reviewed harness surface or a documented no-op decision.",
    "The change stays report-, agent- or workflow-owned and adds no worker-side gate or tracker writer.",
)
WORKER_REDACTION_NOTE = (
    "Excerpts never reproduce a payload=map[...] region: Go's %v map rendering is unescaped and cannot be "
    "parsed reliably. Only trusted scalars before the first opaque payload key are kept as metadata; "
    "output_head, output_tail, error, arguments, arguments_raw, raw and params are opaque. Clone-URL userinfo "
    "is removed (as workflow.MaskCloneURL does) and token-like values are replaced with [redacted-token]."
)
GENERIC_REDACTION_NOTE = (
    "Excerpts are bounded windows around the root-cause line; credentials, tokens, clone-URL userinfo and "
    "private key blocks are masked before anything is kept."
)
AFFECTED_BUDGET = MAX_CLUSTER_BYTES // 2  # ids may take half the cluster; evidence needs the rest
_MASK_BATCH = 2048


def masked_ids(ids: Sequence[Collection[str]], omitted: dict[str, int]) -> dict[str, tuple[str, ...]]:
    """Sorted masked id lists; the longest are first cut (by raw bytes) to the ids budget, counted in omitted."""
    lists: dict[str, Collection[str]] = {name: ids[index] for index, name in enumerate(AFFECTED_KEYS)}
    sizes = {name: _listed_bytes(values) for name, values in lists.items()}
    total = sum(sizes.values())
    for name in sorted(lists, key=lambda item: (-len(lists[item]), item)):
        if total <= AFFECTED_BUDGET:
            break
        kept = _sorted_prefix(lists[name], AFFECTED_BUDGET - (total - sizes[name]))
        omitted[name] = omitted.get(name, 0) + len(lists[name]) - len(kept)
        total -= sizes[name] - _listed_bytes(kept)
        lists[name] = kept
    return {name: tuple(sorted(set(mask_many(list(values))))) for name, values in lists.items()}


def _sorted_prefix(values: Collection[str], allowed: int) -> list[str]:
    """The smallest values, in order, while their listed bytes fit ``allowed``; only that many are sorted."""
    if allowed <= 0:
        return []
    most = allowed // 4 + 1  # a listed value costs at least 4 bytes
    # heapq.nsmallest walks the values in Python: worth it only when a small share of them is asked for
    candidates = heapq.nsmallest(most, values) if most * 8 < len(values) else sorted(values)[:most]
    kept, used = 0, 0
    for value in candidates:
        used += len(value.encode()) + 3
        if used > allowed:
            break
        kept += 1
    return candidates[:kept]


def _listed_bytes(values: Collection[str]) -> int:
    """Sum of each value's UTF-8 size plus 3 (quotes and comma), in one C-level encode."""
    return len("".join(values).encode()) + 3 * len(values)


def masked_entries(entries: list[dict[str, Any]]) -> tuple[EvidenceEntry, ...]:
    """Mask every text of the kept entries in one batch, then bound excerpt and metadata."""
    texts: list[str] = []
    for entry in entries:
        texts += [entry["ref"], entry["kind"], entry["excerpt"], *entry["metadata"].values()]
        texts += [value for values in entry["affected"].values() for value in values]
    masked = iter(mask_many(texts))
    finished = []
    for entry in entries:
        ref, kind, excerpt = next(masked), next(masked), next(masked)
        metadata = {name: next(masked) for name in entry["metadata"]}
        affected = {name: tuple(next(masked) for _ in values) for name, values in entry["affected"].items()}
        finished.append(
            EvidenceEntry(
                source=entry["source"],
                ref=ref,
                kind=kind,
                excerpt=truncate(excerpt, MAX_EVIDENCE_EXCERPT_BYTES),
                metadata=bounded_metadata(metadata),
                affected=affected,
            )
        )
    return tuple(finished)


def mask_many(values: Sequence[str]) -> list[str]:
    """``mask`` of each value, in one call per batch: joined by newlines, split back, checked, else one by one."""
    masked: list[str] = []
    for start in range(0, len(values), _MASK_BATCH):
        batch = values[start : start + _MASK_BATCH]
        text = "\n".join(batch)
        joined = mask(text).split("\n")
        if len(joined) == len(batch) and text.count("\n") == len(batch) - 1 and "\r" not in text:
            masked.extend(joined)  # no value held a line break, and no rule crossed or removed a separator
        else:  # a rule crossed or removed a separator: fall back to the exact per-value form
            masked.extend(mask(value) for value in batch)
    return masked


def cluster_texts(cluster_id: str, failure_class: FailureClass) -> dict[str, Any]:
    """The v3 descriptive fields: worker clusters keep the aiops texts, others take their class's."""
    if cluster_id in WORKER_CLASSES:
        return {
            "suspected_harness_surface": WORKER_SURFACE,
            "proposed_next_action": NEXT_ACTION,
            "acceptance_criteria": WORKER_CRITERIA,
            "redaction_note": WORKER_REDACTION_NOTE,
        }
    info = CLASS_INFO[failure_class]
    return {
        "suspected_harness_surface": info.harness_surface,
        "proposed_next_action": NEXT_ACTION,
        "acceptance_criteria": info.acceptance_criteria,
        "redaction_note": GENERIC_REDACTION_NOTE,
    }
