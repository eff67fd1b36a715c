"""Input references: a streamed sha256 and byte count per input file, and dedup of byte-identical inputs.

Folding one input twice would double its evidence and inflate ``omitted`` counts (whose dropped values are
gone), so inputs with equal digests are read once. Distinct inputs that merely overlap are not detected.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from ..errors import UsageError
from ..models import InputRef
from ..redact import mask

_CHUNK_BYTES = 1024 * 1024


def input_ref(path: Path, kind: str) -> InputRef:
    """Digest and size of ``path``, streamed so a multi-GB log is never held in memory."""
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise UsageError(f"cannot read {kind} input {mask(str(path))}: {exc.strerror or exc}") from None
    return InputRef(type=kind, path=mask(str(path)), bytes=size, sha256=digest.hexdigest())


def unique_inputs(paths: Iterable[Path], kind: str, seen: set[str] | None = None) -> list[tuple[Path, InputRef]]:
    """Each distinct input once, in the order given; ``seen`` digests carry across calls (and kinds)."""
    seen = set() if seen is None else seen
    unique: list[tuple[Path, InputRef]] = []
    for path in paths:
        ref = input_ref(path, kind)
        if ref.sha256 not in seen:
            seen.add(ref.sha256)
            unique.append((path, ref))
    return unique
