"""Input references: a streamed sha256 and byte count per input file, and dedup of byte-identical inputs.

Folding one input twice would double its evidence and inflate ``omitted`` counts (whose dropped values are
gone), so inputs with equal digests are read once. Distinct inputs that merely overlap are not detected.
``InputDigests`` hashes on a background thread while the inputs are read (hashlib and file reads release the
GIL): an input whose size no other input shares cannot duplicate one, so only same-size inputs wait.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from ..errors import UsageError
from ..models import InputRef
from ..redact import mask

_CHUNK_BYTES = 1024 * 1024


def _unreadable(path: Path, kind: str, exc: OSError) -> UsageError:
    return UsageError(f"cannot read {kind} input {mask(str(path))}: {exc.strerror or exc}")


def input_ref(path: Path, kind: str) -> InputRef:
    """Digest and size of ``path``, streamed so a multi-GB log is never held in memory."""
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise _unreadable(path, kind, exc) from None
    return InputRef(type=kind, path=mask(str(path)), bytes=size, sha256=digest.hexdigest())


class InputDigests:
    """The refs of ``(kind, path)`` inputs, digested on a background thread, and which inputs duplicate an
    earlier one. Every input is opened up front, so an unreadable one fails before any reading starts."""

    def __init__(self, entries: Sequence[tuple[str, Path]]) -> None:
        sizes = [_size(path, kind) for kind, path in entries]
        shared = Counter(sizes)
        self._must_wait = [shared[size] > 1 for size in sizes]
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="trace-harness-digest")
        self._refs: list[Future[InputRef]] = [self._pool.submit(input_ref, path, kind) for kind, path in entries]
        self._kept: list[int] = []
        self._kept_digests: set[str] = set()

    def keep(self, index: int) -> bool:
        """Whether input ``index`` is to be read: False when an earlier kept input has the same bytes.
        Ask in input order."""
        if self._must_wait[index]:
            digest = self._refs[index].result().sha256
            if digest in self._kept_digests:
                return False
            self._kept_digests.add(digest)
        self._kept.append(index)
        return True

    def refs(self) -> list[InputRef]:
        """The kept inputs' refs, in input order (waits for their digests)."""
        return [self._refs[index].result() for index in self._kept]

    def __enter__(self) -> InputDigests:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _size(path: Path, kind: str) -> int:
    try:
        with path.open("rb") as handle:
            return os.fstat(handle.fileno()).st_size
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise _unreadable(path, kind, exc) from None
