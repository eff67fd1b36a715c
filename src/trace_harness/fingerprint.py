"""Versioned normalization, signatures and cluster ids. (Placeholder normalizer; being expanded.)"""

from __future__ import annotations

import hashlib

from .taxonomy import FailureClass

FINGERPRINT_VERSION = 1


def cluster_id(family: FailureClass, signature: str, version: int = FINGERPRINT_VERSION) -> str:
    """`<family-slug>-<8 hex>`: the first 8 hex of sha256("{version}\\n{family}\\n{signature}")."""
    digest = hashlib.sha256(f"{version}\n{family.value}\n{signature}".encode()).hexdigest()
    return f"{family.slug}-{digest[:8]}"
