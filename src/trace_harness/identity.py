"""How a tracking issue is tied to its cluster: labels and the hidden body marker.

These strings are dedup keys. Changing them files duplicates, so they change only with a migration.
"""

from __future__ import annotations

import re

from .taxonomy import RESERVED_IDS

MARKER_SCHEMA = 1
TRACKING_LABEL = "trace-harness"
MAX_LABEL_CHARS = 50
MAX_CLUSTER_ID_CHARS = 36
CLUSTER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,35}$")
_CLUSTER_MARKER_RE = re.compile(r"<!--\s*trace-harness:cluster=([a-z0-9-]{1,36})\s+schema=(\d+)\s*-->")
_SPECIAL_MARKER_RE = re.compile(r"<!--\s*trace-harness:special=([a-z-]{1,36})\s+schema=(\d+)\s*-->")


def is_valid_cluster_id(cluster_id: str) -> bool:
    return bool(CLUSTER_ID_RE.match(cluster_id)) and cluster_id not in RESERVED_IDS


def cluster_label(cluster_id: str, namespace: str = TRACKING_LABEL) -> str:
    return f"{namespace}:{cluster_id}"


def state_label(name: str, namespace: str = TRACKING_LABEL) -> str:
    """`trace-harness:approved` and the other reserved state labels."""
    if name not in RESERVED_IDS:
        raise ValueError(f"not a reserved state name: {name}")
    return f"{namespace}:{name}"


def cluster_marker(cluster_id: str) -> str:
    return f"<!-- trace-harness:cluster={cluster_id} schema={MARKER_SCHEMA} -->"


def special_marker(name: str) -> str:
    return f"<!-- trace-harness:special={name} schema={MARKER_SCHEMA} -->"


def marker_cluster_id(body: str | None) -> str | None:
    """The cluster id in a body's marker, wherever the marker sits (editors move lines)."""
    match = _CLUSTER_MARKER_RE.search(body or "")
    return match.group(1) if match else None


def marker_special(body: str | None) -> str | None:
    match = _SPECIAL_MARKER_RE.search(body or "")
    return match.group(1) if match else None


def label_cluster_id(labels: list[str] | tuple[str, ...], namespace: str = TRACKING_LABEL) -> str | None:
    """The cluster id in a `namespace:<id>` label, ignoring the reserved state labels."""
    prefix = f"{namespace}:"
    for label in labels:
        if label.startswith(prefix) and label[len(prefix) :] not in RESERVED_IDS:
            return label[len(prefix) :]
    return None
