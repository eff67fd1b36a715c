"""The state store: the ledger, the cluster → issue map, caches and manifests, kept between runs.

Two stores hold the same files: ``DirectoryStore`` (a local directory, default `.trace-harness/`) and
``BranchStore`` (a git branch written through the forge's Contents API). Every write is version-checked
(a sha); when another run wrote first, the store re-reads and *merges* (ledger lines are appended to the
fresh copy, the issue map is merged key by key) and never overwrites someone else's data.

A steady run costs two requests: the first read of any run file loads all of ``RUN_FILES`` and every
manifest (``BATCHED_FOLDERS``) in one batch (one GraphQL query on the branch), and only what changed is
written back (usually just the ledger). Old manifests are deleted a few per run (``MAX_PRUNE_PER_RUN``).
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
from .forge.base import BranchSnapshot, CachedList
from .redact import mask

LEDGER = "ledger.jsonl"
HEALTH = "health.jsonl"
CADENCE = "cadence.yml"
CURSOR = "cursor.json"
ISSUES = "issues.json"
LIST_CACHE = "list-cache.json"
MANIFESTS = "manifests"
RUN_FILES = (ISSUES, LIST_CACHE, LEDGER, CURSOR)  # what a run reads: loaded together, in one request
BATCHED_FOLDERS = (MANIFESTS,)  # listed (and read) in that same request
MAX_PRUNE_PER_RUN = 20  # a long-neglected branch is cleaned over several runs, never by one expensive run
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
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        raise StateError(
            f"{ISSUES} is damaged ({exc.error_count()} problem(s); first at {mask(where)[:120]}: {first['msg']}); "
            "restore it from the state's history, or delete it: tracking issues are found again by label and marker"
        ) from None


@dataclass(frozen=True)
class Versioned:
    text: str
    version: str


@dataclass(frozen=True)
class Batch:
    """What one batch read found: the named files (None: absent) and the files of each listed folder
    (``folders``: folder -> name -> version; a listed file missing from ``files`` is read on demand)."""

    files: dict[str, Versioned | None]
    folders: dict[str, dict[str, str]]


class FileBackend(Protocol):
    """Raw version-checked file access; one call is one request."""

    def read(self, name: str) -> Versioned | None: ...

    def read_many(self, names: list[str], folders: Sequence[str] = ()) -> Batch:
        """Several files and whole folders in one call (one request on the branch)."""
        ...

    def write(self, name: str, text: str, version: str | None) -> str:
        """Write if the current version is ``version`` (None: the file must not exist); else StateConflict.

        Returns the new version."""
        ...

    def delete(self, name: str, version: str) -> bool:
        """Delete if the current version is ``version``, else StateConflict; False: it was already gone."""
        ...


class StateStore:
    """The state files over a backend. Reads are cached for the run; writes merge on conflict."""

    def __init__(self, backend: FileBackend, clock: Callable[[], str] | None = None) -> None:
        self.backend = backend
        self.requests_made = 0
        self._cache: dict[str, Versioned | None] = {}
        self._listings: dict[str, dict[str, str]] = {}  # folder -> name -> version, from the batch read
        self._batched = False
        self._month = clock or _current_month

    # raw access -----------------------------------------------------------------------------------
    def read(self, name: str, fresh: bool = False) -> str | None:
        if not fresh and name not in self._cache:
            self._known_from_batch(name)
        if fresh or name not in self._cache:
            self.requests_made += 1
            self._cache[name] = self.backend.read(name)
        current = self._cache[name]
        return current.text if current else None

    def _known_from_batch(self, name: str) -> None:
        """Load the run's one batch when it covers ``name``; a name missing from a listed folder is absent."""
        folder = _folder(name)
        if not self._batched and (name in RUN_FILES or folder in BATCHED_FOLDERS):
            self._load_run_files()
        listing = self._listings.get(folder)
        if listing is not None and name not in listing and name not in self._cache:
            self._cache[name] = None

    def _load_run_files(self) -> None:
        self._batched = True
        self.requests_made += 1
        batch = self.backend.read_many([name for name in RUN_FILES if name not in self._cache], BATCHED_FOLDERS)
        self._cache.update({name: found for name, found in batch.files.items() if name not in self._cache})
        self._listings.update(batch.folders)

    def _remember(self, name: str, current: Versioned | None) -> None:
        self._cache[name] = current
        listing = self._listings.get(_folder(name))
        if listing is not None and current is not None:
            listing[name] = current.version
        elif listing is not None:
            listing.pop(name, None)

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
            self._remember(name, Versioned(new, version))
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
        """Every stored manifest; listed by the run's batch read, so this costs no request of its own."""
        if MANIFESTS not in self._listings:
            self._load_run_files()
        return sorted(self._listings.get(MANIFESTS, {}))

    def prune_manifests(self, before_date: str, limit: int = MAX_PRUNE_PER_RUN) -> int:
        """Delete up to ``limit`` manifests dated before ``before_date`` (YYYY-MM-DD), oldest first.

        Returns how many this call deleted (one already gone is not counted)."""
        old = [name for name in self.manifest_names() if Path(name).name[:10] < before_date]
        return sum(self._delete(name) for name in old[:limit])

    def _delete(self, name: str) -> bool:
        """Delete at the listed version; when it changed meanwhile, re-read and delete at the fresh one."""
        version = self._listings.get(_folder(name), {}).get(name)
        for _attempt in range(2):
            if version is None:
                self._remember(name, None)
                return False
            try:
                self.requests_made += 1
                deleted = self.backend.delete(name, version)
            except StateConflict:
                self.requests_made += 1
                fresh = self.backend.read(name)
                version = fresh.version if fresh else None
                continue
            self._remember(name, None)
            return deleted
        raise StateError(f"{name}: changed again while being pruned")


def _folder(name: str) -> str:
    return name.rpartition("/")[0]


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
        text = path.read_bytes().decode("utf-8", errors="replace")  # as the branch backend: damage is a state error
        return Versioned(text, _digest(text))

    def read_many(self, names: list[str], folders: Sequence[str] = ()) -> Batch:
        files = {name: self.read(name) for name in names}
        listings: dict[str, dict[str, str]] = {}
        for folder in folders:
            found = {name: self.read(name) for name in self._names_in(folder)}
            files.update(found)
            listings[folder] = {name: current.version for name, current in found.items() if current}
        return Batch(files, listings)

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

    def _names_in(self, folder: str) -> list[str]:
        base = self.root / folder
        return [f"{folder}/{path.name}" for path in base.iterdir() if path.is_file()] if base.is_dir() else []

    def delete(self, name: str, version: str) -> bool:
        with self._locked():
            current = self.read(name)
            if current is None:
                return False
            if current.version != version:
                raise StateConflict(f"{name} changed since it was read")
            (self.root / name).unlink()
        return True

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

    def read_snapshot(self, branch: str, paths: Sequence[str], folders: Sequence[str] = ()) -> BranchSnapshot: ...

    def write_file(self, branch: str, path: str, content: bytes, sha: str | None, message: str) -> str: ...

    def delete_file(self, branch: str, path: str, sha: str, message: str) -> None: ...

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

    def read_many(self, names: list[str], folders: Sequence[str] = ()) -> Batch:
        try:
            found = self.contents.read_snapshot(self.branch, names, folders)
        except ForgeError as exc:
            raise StateError(f"reading {', '.join([*names, *folders])} from {self.branch}: {exc}") from None
        files = {name: _versioned(found.files.get(name)) for name in [*names, *found.files]}
        return Batch(files, {folder: dict(found.folders.get(folder, {})) for folder in folders})

    def write(self, name: str, text: str, version: str | None) -> str:
        try:
            return self._write(name, text.encode(), version)
        except ForgeConflict as exc:
            raise StateConflict(f"{name}: {exc}") from None
        except ForgeError as exc:
            raise StateError(f"writing {name} to {self.branch}: {exc}") from None

    def delete(self, name: str, version: str) -> bool:
        try:
            self.contents.delete_file(self.branch, name, version, f"trace-harness: prune {name}")
        except ForgeNotFound:
            return False  # already gone: what pruning wanted
        except ForgeConflict as exc:
            raise StateConflict(f"{name}: {exc}") from None
        except ForgeError as exc:
            raise StateError(f"deleting {name} from {self.branch}: {exc}") from None
        return True

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
