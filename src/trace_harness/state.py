"""The state store: the ledger, the cluster → issue map, caches and manifests, kept between runs.

Two stores hold the same files: ``DirectoryStore`` (a local directory, default `.trace-harness/`) and
``BranchStore`` (a git branch written through the forge's Contents API). Every write is version-checked
(a sha); when another run wrote first, the store re-reads and *merges* (ledger lines are appended to the
fresh copy, the issue map is merged key by key) and never overwrites someone else's data.

A steady run costs two requests: the first read of any run file loads all of ``RUN_FILES`` in one batch
(one GraphQL query on the branch), and only what changed is written back (usually just the ledger).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ForgeConflict, ForgeError, ForgeNotFound, StateConflict, StateError
from .forge.base import CachedList

LEDGER = "ledger.jsonl"
HEALTH = "health.jsonl"
CADENCE = "cadence.yml"
CURSOR = "cursor.json"
ISSUES = "issues.json"
LIST_CACHE = "list-cache.json"
MANIFESTS = "manifests"
RUN_FILES = (ISSUES, LIST_CACHE, LEDGER, CURSOR)  # what a run reads: loaded together, in one request
ROTATE_BYTES = 900 * 1024
MAX_MERGE_ATTEMPTS = 8
ISSUE_MAP_SCHEMA = "trace-harness-issues/v1"


class ClusterRecord(BaseModel):
    """What the driver remembers about one cluster: its issue and what policy's history needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    issue: int | None = None
    evidence_digest: str = ""
    rejected_at: str | None = None
    noop_at: str | None = None
    updated_at: str = ""


class IssueMap(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_: str = Field(ISSUE_MAP_SCHEMA, alias="schema")
    clusters: dict[str, ClusterRecord] = Field(default_factory=dict)

    def to_json(self) -> str:
        data = {"schema": ISSUE_MAP_SCHEMA, "clusters": {k: v.model_dump() for k, v in sorted(self.clusters.items())}}
        return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _latest(first: str | None, second: str | None) -> str | None:
    present = [value for value in (first, second) if value]
    return max(present) if present else None


def merge_record(fresh: ClusterRecord, ours: ClusterRecord) -> ClusterRecord:
    """Field-wise merge: the lowest issue number wins (twins keep the lowest), the latest times win."""
    numbers = [number for number in (fresh.issue, ours.issue) if number is not None]
    return ClusterRecord(
        issue=min(numbers) if numbers else None,
        evidence_digest=ours.evidence_digest or fresh.evidence_digest,
        rejected_at=_latest(fresh.rejected_at, ours.rejected_at),
        noop_at=_latest(fresh.noop_at, ours.noop_at),
        updated_at=_latest(fresh.updated_at, ours.updated_at) or "",
    )


def merge_issue_map(fresh: IssueMap, updates: dict[str, ClusterRecord]) -> IssueMap:
    merged = dict(fresh.clusters)
    for cluster_id, record in updates.items():
        merged[cluster_id] = merge_record(merged[cluster_id], record) if cluster_id in merged else record
    return IssueMap(clusters=merged)


def parse_issue_map(text: str | None) -> IssueMap:
    if not text:
        return IssueMap()
    try:
        return IssueMap.model_validate_json(text)
    except ValidationError as exc:
        raise StateError(f"{ISSUES} is damaged: {exc.error_count()} problem(s)") from None


@dataclass(frozen=True)
class Versioned:
    text: str
    version: str


class FileBackend(Protocol):
    """Raw version-checked file access; one call is one request."""

    def read(self, name: str) -> Versioned | None: ...

    def read_many(self, names: list[str]) -> dict[str, Versioned | None]:
        """Several files in one call (one request on the branch)."""
        ...

    def write(self, name: str, text: str, version: str | None) -> str:
        """Write if the current version is ``version`` (None: the file must not exist); else StateConflict.

        Returns the new version."""
        ...

    def list(self, folder: str) -> list[str]: ...

    def delete(self, name: str, version: str) -> None: ...


class StateStore:
    """The state files over a backend. Reads are cached for the run; writes merge on conflict."""

    def __init__(self, backend: FileBackend, clock: Callable[[], str] | None = None) -> None:
        self.backend = backend
        self.requests_made = 0
        self._cache: dict[str, Versioned | None] = {}
        self._month = clock or _current_month

    # raw access -----------------------------------------------------------------------------------
    def read(self, name: str, fresh: bool = False) -> str | None:
        if not fresh and name not in self._cache and name in RUN_FILES:
            self._load_run_files()
        if fresh or name not in self._cache:
            self.requests_made += 1
            self._cache[name] = self.backend.read(name)
        current = self._cache[name]
        return current.text if current else None

    def _load_run_files(self) -> None:
        self.requests_made += 1
        self._cache.update(self.backend.read_many([name for name in RUN_FILES if name not in self._cache]))

    def update(self, name: str, change: Callable[[str | None], str | None]) -> None:
        """Apply ``change`` to the file's text and write it; on conflict re-read and apply again."""
        for attempt in range(MAX_MERGE_ATTEMPTS):
            text = self.read(name, fresh=attempt > 0)
            new = change(text)
            if new is None or new == text:
                return
            current = self._cache.get(name)
            try:
                self.requests_made += 1
                version = self.backend.write(name, new, current.version if current else None)
            except StateConflict:
                continue
            self._cache[name] = Versioned(new, version)
            return
        raise StateError(f"{name}: gave up after {MAX_MERGE_ATTEMPTS} conflicting writes")

    # ledger and health ----------------------------------------------------------------------------
    def append_ledger(self, lines: list[str]) -> None:
        current = self.read(LEDGER) or ""
        if current and len(current.encode()) + sum(len(line) + 1 for line in lines) > ROTATE_BYTES:
            self._rotate_ledger()
        self.update(LEDGER, lambda text: _append_new_lines(text, lines))

    def _rotate_ledger(self) -> None:
        """Move the current ledger into `ledger-YYYYMM.jsonl`; lines appended meanwhile stay in the ledger."""
        archive = f"ledger-{self._month()}.jsonl"
        old = self.read(LEDGER, fresh=True) or ""
        self.update(archive, lambda text: (text or "") + old)
        self.update(LEDGER, lambda text: (text or "")[len(old) :] if (text or "").startswith(old) else text)

    def ledger_text(self) -> str:
        return self.read(LEDGER) or ""

    def append_health(self, lines: list[str]) -> None:
        self.update(HEALTH, lambda text: (text or "") + "".join(f"{line}\n" for line in lines))

    # issue map ------------------------------------------------------------------------------------
    def issue_map(self) -> IssueMap:
        return parse_issue_map(self.read(ISSUES))

    def save_issue_map(self, updates: dict[str, ClusterRecord]) -> None:
        if updates:
            self.update(ISSUES, lambda text: merge_issue_map(parse_issue_map(text), updates).to_json())

    # small json/yaml files ------------------------------------------------------------------------
    def read_json(self, name: str) -> Any:
        text = self.read(name)
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return None  # a damaged cache or cursor is rebuilt, never fatal

    def write_json(self, name: str, value: Any) -> None:
        self.update(name, lambda _text: json.dumps(value, indent=1, sort_keys=True) + "\n")

    def get_list(self, key: str) -> CachedList | None:
        """``ListCache``: the tracked-issue list and ETags kept from the last run (a damaged cache is a miss)."""
        data = self.read_json(LIST_CACHE)
        entry = data.get(key) if isinstance(data, dict) else None
        try:
            return CachedList.model_validate(entry) if entry is not None else None
        except ValidationError:
            return None

    def put_list(self, key: str, value: CachedList) -> None:
        """``ListCache``: keep the list; written only when it changed (a 304 changes nothing)."""
        if self.get_list(key) == value:
            return
        payload = value.model_dump(mode="json")

        def replace_key(text: str | None) -> str:
            data = _json_object(text)
            data[key] = payload
            return json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"

        self.update(LIST_CACHE, replace_key)

    # manifests ------------------------------------------------------------------------------------
    def write_manifest(self, date: str, run_id: str, value: Any) -> str:
        name = f"{MANIFESTS}/{date}-{run_id}.json"
        self.write_json(name, value)
        return name

    def manifest_names(self) -> list[str]:
        self.requests_made += 1
        return sorted(self.backend.list(MANIFESTS))

    def prune_manifests(self, before_date: str) -> int:
        """Delete manifests dated before ``before_date`` (YYYY-MM-DD); returns how many."""
        old = [name for name in self.manifest_names() if Path(name).name[:10] < before_date]
        for name in old:
            self.read(name, fresh=True)
            current = self._cache.get(name)
            if current is not None:
                self.requests_made += 1
                self.backend.delete(name, current.version)
        return len(old)


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _append_new_lines(text: str | None, lines: list[str]) -> str:
    """Append the lines not already present: a retried or spooled write never duplicates a line."""
    present = set((text or "").splitlines())
    return (text or "") + "".join(f"{line}\n" for line in lines if line not in present)


def _current_month() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y%m")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class DirectoryBackend:
    """Files in a local directory; versions are content digests, writes are atomic renames under a lock."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, name: str) -> Versioned | None:
        path = self.root / name
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8")
        return Versioned(text, _digest(text))

    def read_many(self, names: list[str]) -> dict[str, Versioned | None]:
        return {name: self.read(name) for name in names}

    def write(self, name: str, text: str, version: str | None) -> str:
        path = self.root / name
        with self._locked():
            current = self.read(name)
            if (current.version if current else None) != version:
                raise StateConflict(f"{name} changed since it was read")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        return _digest(text)

    def list(self, folder: str) -> list[str]:
        base = self.root / folder
        return [f"{folder}/{path.name}" for path in base.iterdir() if path.is_file()] if base.is_dir() else []

    def delete(self, name: str, version: str) -> None:
        with self._locked():
            current = self.read(name)
            if current is None or current.version != version:
                raise StateConflict(f"{name} changed since it was read")
            (self.root / name).unlink()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class ContentsApi(Protocol):
    """The forge's Contents API helpers the branch store needs (GitHubForge provides them)."""

    def read_file(self, branch: str, path: str) -> tuple[bytes, str] | None: ...

    def read_files(self, branch: str, paths: Sequence[str]) -> dict[str, tuple[bytes, str] | None]: ...

    def write_file(self, branch: str, path: str, content: bytes, sha: str | None, message: str) -> str: ...

    def ensure_branch(self, branch: str) -> None: ...


class BranchBackend:
    """Files on a git branch through the Contents API; versions are blob shas, a stale sha is a conflict."""

    def __init__(self, contents: ContentsApi, branch: str) -> None:
        self.contents = contents
        self.branch = branch

    def read(self, name: str) -> Versioned | None:
        try:
            found = self.contents.read_file(self.branch, name)
        except ForgeError as exc:
            raise StateError(f"reading {name} from {self.branch}: {exc}") from None
        return _versioned(found)

    def read_many(self, names: list[str]) -> dict[str, Versioned | None]:
        try:
            found = self.contents.read_files(self.branch, names)
        except ForgeError as exc:
            raise StateError(f"reading {', '.join(names)} from {self.branch}: {exc}") from None
        return {name: _versioned(found.get(name)) for name in names}

    def write(self, name: str, text: str, version: str | None) -> str:
        try:
            return self._write(name, text.encode(), version)
        except ForgeConflict as exc:
            raise StateConflict(f"{name}: {exc}") from None
        except ForgeError as exc:
            raise StateError(f"writing {name} to {self.branch}: {exc}") from None

    def list(self, folder: str) -> list[str]:
        lister = getattr(self.contents, "list_files", None)
        return list(lister(folder, self.branch)) if lister else []

    def delete(self, name: str, version: str) -> None:
        deleter = getattr(self.contents, "delete_file", None)
        if deleter:
            deleter(name, version, self.branch, f"trace-harness: prune {name}")

    def _write(self, name: str, data: bytes, version: str | None) -> str:
        """Write; the branch is created only when a write finds it missing (steady runs pay nothing)."""
        message = f"trace-harness: update {name}"
        try:
            return self.contents.write_file(self.branch, name, data, version, message)
        except ForgeNotFound:
            self.contents.ensure_branch(self.branch)
            return self.contents.write_file(self.branch, name, data, version, message)


def _versioned(found: tuple[bytes, str] | None) -> Versioned | None:
    return Versioned(found[0].decode("utf-8", errors="replace"), found[1]) if found else None


class DirectoryStore(StateStore):
    def __init__(self, path: Path = Path(".trace-harness"), clock: Callable[[], str] | None = None) -> None:
        super().__init__(DirectoryBackend(path), clock)
        self.path = path


class BranchStore(StateStore):
    def __init__(
        self, forge: ContentsApi, branch: str = "trace-harness/state", clock: Callable[[], str] | None = None
    ) -> None:
        super().__init__(BranchBackend(forge, branch), clock)
        self.branch = branch
