"""The Forge protocol: what the driver needs from an issue tracker, and the models it exchanges.

Two implementations satisfy it: ``GitHubForge`` (PyGithub, REST) and ``LocalForge`` (SQLite, the
default without a token). Both map failures onto ``errors.ForgeError`` subclasses. ``ListCache`` lets
the state store keep the tracked-issue list's ETags so a repeated listing is a cheap conditional request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from ..config import Permission
from ..identity import TRACKING_LABEL, label_cluster_id, marker_cluster_id, marker_special

IssueState = Literal["open", "closed"]
StateReason = Literal["completed", "not_planned", "reopened", "duplicate"]
Clock = Callable[[], datetime]
Sleep = Callable[[float], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrackedIssue(_Frozen):
    """An issue as the driver sees it; ``cluster_id``/``special`` come from the body marker, then labels."""

    number: int
    title: str
    state: IssueState
    state_reason: StateReason | None = None
    labels: tuple[str, ...] = ()
    body: str = ""
    cluster_id: str | None = None
    special: str | None = None
    url: str = ""
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    comments: int = 0

    @classmethod
    def build(
        cls,
        *,
        body: str | None,
        labels: Sequence[str],
        namespace: str = TRACKING_LABEL,
        **fields: object,
    ) -> TrackedIssue:
        """Derive the cluster id (marker first: labels are easier to edit by hand) and the special name."""
        text = body or ""
        cluster_id = marker_cluster_id(text) or label_cluster_id(tuple(labels), namespace)
        return cls.model_validate(
            {**fields, "body": text, "labels": tuple(labels), "cluster_id": cluster_id, "special": marker_special(text)}
        )


class IssueComment(_Frozen):
    id: int
    user: str
    body: str
    created_at: datetime
    author_association: str = "NONE"


class LabelSpec(_Frozen):
    name: str = Field(min_length=1, max_length=50)
    color: str = Field(pattern=r"^[0-9a-fA-F]{6}$")
    description: str = Field("", max_length=100)


class CachedPage(_Frozen):
    """One page of the tracked-issue list with the ETag that validates it."""

    etag: str
    has_next: bool
    issues: tuple[TrackedIssue, ...]


class CachedList(_Frozen):
    pages: tuple[CachedPage, ...]


class BranchSnapshot(_Frozen):
    """Files of a branch read in one request: the named ``files`` (None: absent) and every blob of the
    listed ``folders`` (path -> blob sha); a folder blob whose text came whole is in ``files`` too."""

    files: dict[str, tuple[bytes, str] | None] = Field(default_factory=dict)
    folders: dict[str, dict[str, str]] = Field(default_factory=dict)


class ListCache(Protocol):
    """Where the tracked-issue list and its ETags persist between runs (the state store implements it)."""

    def get_list(self, key: str) -> CachedList | None: ...

    def put_list(self, key: str, value: CachedList) -> None: ...


class MemoryListCache:
    """A ``ListCache`` kept in memory: for one process, and for tests."""

    def __init__(self) -> None:
        self.entries: dict[str, CachedList] = {}

    def get_list(self, key: str) -> CachedList | None:
        return self.entries.get(key)

    def put_list(self, key: str, value: CachedList) -> None:
        self.entries[key] = value


class Forge(Protocol):
    """The operations the driver performs on an issue tracker."""

    @property
    def requests_made(self) -> int: ...

    def tracked_issues(self) -> list[TrackedIssue]: ...

    def get_issue(self, number: int) -> TrackedIssue | None: ...

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> TrackedIssue: ...

    def update_issue(
        self,
        number: int,
        *,
        body: str | None = None,
        labels: Sequence[str] | None = None,
        state: IssueState | None = None,
        state_reason: StateReason | None = None,
    ) -> TrackedIssue: ...

    def comment(self, number: int, body: str) -> None: ...

    def list_comments(self, number: int, since: datetime | None = None) -> list[IssueComment]: ...

    def ensure_labels(self, specs: Sequence[LabelSpec]) -> None: ...

    def permission(self, user: str) -> Permission: ...

    def dispatch(self, workflow: str, ref: str, inputs: Mapping[str, str]) -> None: ...

    def is_public(self) -> bool: ...


def permission_from_role(role_name: str | None, permission: str | None) -> Permission:
    """``role_name`` tells maintain and triage apart; custom roles fall back to the coarse ``permission``."""
    known = {member.value for member in Permission}
    for value in (role_name, permission):
        if value in known:
            return Permission(value)
    return Permission.NONE


class WorkflowRun(_Frozen):
    """A completed Actions run, as evidence collection needs it."""

    id: int
    workflow: str
    conclusion: str | None = None
    created_at: datetime
    run_attempt: int = 1
    html_url: str = ""


class WorkflowJob(_Frozen):
    id: int
    run_id: int
    name: str
    conclusion: str | None = None


class Artifact(_Frozen):
    id: int
    run_id: int
    name: str
    size_in_bytes: int = 0
    expired: bool = False


class ActionsSource(Protocol):
    """What evidence collection reads from GitHub Actions (``GitHubForge.actions`` provides it)."""

    @property
    def requests_made(self) -> int: ...

    def failed_runs(self, workflow: str, since: datetime, after_id: int = 0) -> list[WorkflowRun]: ...

    def failed_jobs(self, run_id: int) -> list[WorkflowJob]: ...

    def artifacts(self, run_id: int, patterns: Sequence[str]) -> list[Artifact]: ...

    def job_log(self, job_id: int) -> Iterator[bytes]: ...

    def artifact_zip(self, artifact_id: int) -> Iterator[bytes]: ...
