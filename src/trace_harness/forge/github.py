"""``GitHubForge``: the Forge protocol over GitHub's REST API, through PyGithub (the only importer of ``github``).

PyGithub gives us authentication, base URLs (GitHub Enterprise too), sessions and timeouts. Every request
goes through one funnel, ``_request``, which counts it, paces writes, retries what is safe to retry, waits
out rate limits (403 or 429) with the injected sleep, and maps failures onto ``errors.ForgeError``. Transport
retries inside PyGithub/urllib3 are off (``retry=0``) so every attempt is counted and no sleep is hidden.

Creates, comments and dispatches are not idempotent: after an ambiguous failure (5xx, timeout, reset) they
raise ``ForgeOutcomeUnknown`` instead of resending, and the driver re-lists and adopts.
The tracked-issue list uses the Issues endpoint filtered by label (never Search) with a per-page ETag.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from github import Auth, Github

from ..config import Permission
from ..errors import ForgeAuthError, ForgeConflict, ForgeError, ForgeNotFound, ForgeOutcomeUnknown
from ..identity import TRACKING_LABEL
from ..redact import mask
from .base import (
    BranchSnapshot,
    CachedList,
    CachedPage,
    Clock,
    IssueComment,
    IssueState,
    LabelSpec,
    ListCache,
    MemoryListCache,
    Sleep,
    StateReason,
    TrackedIssue,
    permission_from_role,
    utc_now,
)
from .github_graphql import (
    folder_blobs,
    graphql_rate_limited,
    graphql_repository,
    snapshot_query,
    snapshot_variables,
    split_folders,
)
from .retry import RetryPolicy, WritePacer, backoff, rate_limit_wait

if TYPE_CHECKING:
    from .github_actions import GitHubActions

DEFAULT_BASE_URL = "https://api.github.com"
GRAPHQL = "/graphql"  # resolved against PyGithub's GraphQL URL (`/api/graphql` on GitHub Enterprise)
_MAX_PAGES = 200  # 20,000 tracked issues: far beyond any sane repository, but never an endless loop


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    data: Any

    @property
    def has_next(self) -> bool:
        return 'rel="next"' in self.headers.get("link", "")


class GitHubForge:
    """One repository on GitHub or GitHub Enterprise. Constructing it makes no request."""

    def __init__(
        self,
        repo: str,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        list_cache: ListCache | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = time.sleep,
        throttle: bool = True,
        timeout: int = 30,
        policy: RetryPolicy | None = None,
        namespace: str = TRACKING_LABEL,
    ) -> None:
        self.repo = repo
        self._base_url = base_url.rstrip("/")
        self._policy = policy or RetryPolicy()
        self._clock, self._sleep = clock, sleep
        self._cache: ListCache = list_cache if list_cache is not None else MemoryListCache()
        self._pacer = WritePacer(clock, sleep, self._policy.writes_per_minute) if throttle else None
        self._namespace = namespace
        self._requests = 0
        self._repo_info: dict[str, Any] | None = None
        self._actions: GitHubActions | None = None
        github = Github(
            auth=Auth.Token(token),
            base_url=self._base_url,
            lazy=True,
            timeout=timeout,
            retry=0,
            per_page=100,
            seconds_between_requests=None,  # pacing is ours, on the injected clock
            seconds_between_writes=None,
        )
        self._requester = github.get_repo(repo).requester
        self._path = f"/repos/{repo}"

    @property
    def requests_made(self) -> int:
        return self._requests

    # -- the request funnel -----------------------------------------------------------------------

    def _request(
        self,
        verb: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> Response:
        """One logical call: retried while safe, with every attempt counted."""
        for attempt in range(self._policy.max_attempts):
            response = self._attempt(verb, path, params, body, headers, idempotent, attempt)
            if response is not None:
                return response
        raise ForgeError(f"{verb} {path}: still failing after {self._policy.max_attempts} attempts")

    def _attempt(
        self,
        verb: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        attempt: int,
    ) -> Response | None:
        """The response, or None after waiting when the call should be tried again."""
        if verb != "GET" and path != GRAPHQL and self._pacer is not None:  # a GraphQL query is a read
            self._pacer.wait()
        self._requests += 1
        url = self._requester.graphql_url if path == GRAPHQL else self._base_url + path
        try:
            status, raw_headers, text = self._requester.requestJson(
                verb, url, dict(params or {}), dict(headers or {}), body
            )
        except requests.exceptions.RequestException as exc:
            self._after_transport_failure(exc, verb, path, idempotent, attempt)
            return None
        response = Response(status, {k.lower(): str(v) for k, v in raw_headers.items()}, _parse(text))
        if status < 400 and path == GRAPHQL and graphql_rate_limited(response.data):
            wait = rate_limit_wait(429, response.headers, "", self._clock(), attempt, self._policy)
            self._wait(wait or 0.0, verb, path)  # GraphQL answers its rate limit inside a 200: nothing was done
            return None
        if status < 400:
            return response
        self._after_error(response, verb, path, idempotent, attempt)
        return None

    def _after_transport_failure(
        self, exc: requests.exceptions.RequestException, verb: str, path: str, idempotent: bool, attempt: int
    ) -> None:
        never_sent = isinstance(exc, requests.exceptions.ConnectTimeout)
        if not (idempotent or never_sent):
            raise ForgeOutcomeUnknown(f"{verb} {path}: {type(exc).__name__}; it may have been applied") from exc
        if not isinstance(exc, requests.exceptions.Timeout | requests.exceptions.ConnectionError):
            raise ForgeError(mask(f"{verb} {path}: {exc}")) from exc
        self._wait(backoff(attempt, self._policy), verb, path)

    def _after_error(self, response: Response, verb: str, path: str, idempotent: bool, attempt: int) -> None:
        message = _message(response.data)
        wait = rate_limit_wait(response.status, response.headers, message, self._clock(), attempt, self._policy)
        if wait is not None:
            self._wait(wait, verb, path)  # a rate-limited request was not applied, so any verb may retry
            return
        if response.status >= 500 and not idempotent:
            raise ForgeOutcomeUnknown(f"{verb} {path}: HTTP {response.status}; it may have been applied")
        if response.status >= 500:
            self._wait(backoff(attempt, self._policy), verb, path)
            return
        raise _error(response.status, mask(f"{verb} {path}: HTTP {response.status}: {message}"))

    def _wait(self, seconds: float, verb: str, path: str) -> None:
        if seconds > self._policy.max_wait:
            raise ForgeError(
                f"{verb} {path}: rate limited for {seconds:.0f}s, more than the {self._policy.max_wait:.0f}s allowed"
            )
        self._sleep(seconds)

    def _pages(self, path: str, params: Mapping[str, Any]) -> list[Any]:
        """Every item of a plain-list endpoint, following ``Link: rel="next"`` by page number."""
        items: list[Any] = []
        for page in range(1, _MAX_PAGES + 1):
            response = self._request("GET", path, params={**params, "per_page": 100, "page": page})
            items.extend(response.data or [])
            if not response.has_next:
                break
        return items

    # -- issues ---------------------------------------------------------------------------------

    def tracked_issues(self) -> list[TrackedIssue]:
        key = f"{self._base_url}|{self.repo}|issues|{self._namespace}"
        cached = self._cache.get_list(key)
        prior = cached.pages if cached else ()
        pages: list[CachedPage] = []
        for number in range(1, _MAX_PAGES + 1):
            pages.append(self._issue_page(number, prior[number - 1] if number <= len(prior) else None))
            if not pages[-1].has_next:
                break
        self._cache.put_list(key, CachedList(pages=tuple(pages)))
        return [issue for page in pages for issue in page.issues]

    def _issue_page(self, number: int, prior: CachedPage | None) -> CachedPage:
        """One page of the label-filtered list; a 304 against the stored ETag reuses the stored page."""
        params = {"labels": self._namespace, "state": "all", "sort": "created", "direction": "asc"}
        headers = {"If-None-Match": prior.etag} if prior else {}
        response = self._request(
            "GET", f"{self._path}/issues", params={**params, "per_page": 100, "page": number}, headers=headers
        )
        if response.status == 304 and prior is not None:
            return prior
        issues = tuple(self._tracked(item) for item in response.data or [] if "pull_request" not in item)
        return CachedPage(etag=response.headers.get("etag", ""), has_next=response.has_next, issues=issues)

    def get_issue(self, number: int) -> TrackedIssue | None:
        try:
            data = self._request("GET", f"{self._path}/issues/{number}").data
        except ForgeNotFound:
            return None
        return None if "pull_request" in data else self._tracked(data)

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> TrackedIssue:
        payload = {"title": title, "body": body, "labels": list(labels)}
        return self._tracked(self._request("POST", f"{self._path}/issues", body=payload, idempotent=False).data)

    def update_issue(
        self,
        number: int,
        *,
        body: str | None = None,
        labels: Sequence[str] | None = None,
        state: IssueState | None = None,
        state_reason: StateReason | None = None,
    ) -> TrackedIssue:
        fields = {"body": body, "labels": list(labels) if labels is not None else None, "state": state}
        payload = {key: value for key, value in fields.items() if value is not None}
        if state_reason is not None:
            payload["state_reason"] = state_reason
        return self._tracked(self._request("PATCH", f"{self._path}/issues/{number}", body=payload).data)

    def _tracked(self, data: Mapping[str, Any]) -> TrackedIssue:
        return TrackedIssue.build(
            body=data.get("body"),
            labels=[label["name"] for label in data.get("labels", [])],
            namespace=self._namespace,
            number=data["number"],
            title=data["title"],
            state=data["state"],
            state_reason=data.get("state_reason"),
            url=data.get("html_url", ""),
            created_at=data["created_at"],
            updated_at=data["updated_at"],
            closed_at=data.get("closed_at"),
            comments=data.get("comments", 0),
        )

    # -- comments -------------------------------------------------------------------------------

    def comment(self, number: int, body: str) -> None:
        self._request("POST", f"{self._path}/issues/{number}/comments", body={"body": body}, idempotent=False)

    def list_comments(self, number: int, since: datetime | None = None) -> list[IssueComment]:
        params = {"since": _iso(since)} if since else {}
        items = self._pages(f"{self._path}/issues/{number}/comments", params)
        return [
            IssueComment(
                id=item["id"],
                user=item["user"]["login"],
                body=item.get("body") or "",
                created_at=item["created_at"],
                author_association=item.get("author_association", "NONE"),
            )
            for item in items
        ]

    # -- labels, permissions, dispatch, visibility -------------------------------------------------

    def ensure_labels(self, specs: Sequence[LabelSpec]) -> None:
        existing = {item["name"]: item for item in self._pages(f"{self._path}/labels", {})}
        for spec in specs:
            current = existing.get(spec.name)
            if current is None:
                self._create_label(spec)
            elif _label_differs(current, spec):
                self._patch_label(spec)

    def _create_label(self, spec: LabelSpec) -> None:
        try:
            self._request("POST", f"{self._path}/labels", body=_label_body(spec) | {"name": spec.name})
        except ForgeConflict:  # created meanwhile (or by our own lost response): make it match instead
            self._patch_label(spec)

    def _patch_label(self, spec: LabelSpec) -> None:
        self._request("PATCH", f"{self._path}/labels/{quote(spec.name, safe='')}", body=_label_body(spec))

    def permission(self, user: str) -> Permission:
        try:
            data = self._request("GET", f"{self._path}/collaborators/{quote(user, safe='')}/permission").data
        except ForgeNotFound:
            return Permission.NONE
        return permission_from_role(data.get("role_name"), data.get("permission"))

    def dispatch(self, workflow: str, ref: str, inputs: Mapping[str, str]) -> None:
        path = f"{self._path}/actions/workflows/{quote(workflow, safe='')}/dispatches"
        self._request("POST", path, body={"ref": ref, "inputs": dict(inputs)}, idempotent=False)

    def is_public(self) -> bool:
        return not self._repository().get("private", True)

    def _repository(self) -> dict[str, Any]:
        if self._repo_info is None:
            self._repo_info = dict(self._request("GET", self._path).data)
        return self._repo_info

    @property
    def actions(self) -> GitHubActions:
        """Failed runs, job logs and artifacts, through this forge's counted funnel."""
        if self._actions is None:
            from .github_actions import GitHubActions

            self._actions = GitHubActions(self)
        return self._actions

    # -- contents API, for the git-branch state store --------------------------------------------

    def read_file(self, branch: str, path: str) -> tuple[bytes, str] | None:
        """The file's bytes and blob sha on ``branch``, or None when it does not exist."""
        try:
            data = self._request("GET", self._contents(path), params={"ref": branch}).data
        except ForgeNotFound:
            return None
        if not isinstance(data, dict) or data.get("type") != "file":
            raise ForgeError(f"{path} on {branch} is not a file")
        return base64.b64decode(data.get("content") or ""), str(data["sha"])

    def read_files(self, branch: str, paths: Sequence[str]) -> dict[str, tuple[bytes, str] | None]:
        """Several files of ``branch`` in ONE GraphQL request: bytes and blob sha (the Contents API's ``sha``)."""
        return self.read_snapshot(branch, paths).files if paths else {}

    def read_snapshot(self, branch: str, paths: Sequence[str], folders: Sequence[str] = ()) -> BranchSnapshot:
        """Named files and every blob of ``folders`` in ONE GraphQL request.

        A named blob GraphQL truncates (or cannot show as text) is re-read through the Contents API now; a
        folder's such blob is only listed (the store reads it when it is wanted)."""
        if not paths and not folders:
            return BranchSnapshot()
        variables = snapshot_variables(self.repo, branch, paths, folders)
        body = {"query": snapshot_query(len(paths), len(folders)), "variables": variables}
        repository = graphql_repository(self._request("POST", GRAPHQL, body=body).data)
        named = {path: self._blob(branch, path, repository.get(f"f{i}")) for i, path in enumerate(paths)}
        listed = {folder: folder_blobs(folder, repository.get(f"t{j}")) for j, folder in enumerate(folders)}
        whole, shas = split_folders(listed)
        return BranchSnapshot(files={**whole, **named}, folders=shas)

    def _blob(self, branch: str, path: str, blob: Any) -> tuple[bytes, str] | None:
        if blob is None:
            return None
        if not isinstance(blob, dict) or "oid" not in blob:
            raise ForgeError(f"{path} on {branch} is not a file")
        if blob.get("isTruncated") or blob.get("text") is None:
            return self.read_file(branch, path)
        return str(blob["text"]).encode(), str(blob["oid"])

    def write_file(self, branch: str, path: str, content: bytes, sha: str | None, message: str) -> str:
        """Create or replace the file; a stale ``sha`` raises ForgeConflict (re-read and merge). Returns the new sha."""
        body = {"message": message, "content": base64.b64encode(content).decode(), "branch": branch}
        if sha is not None:
            body["sha"] = sha
        return str(self._request("PUT", self._contents(path), body=body).data["content"]["sha"])

    def delete_file(self, branch: str, path: str, sha: str, message: str) -> None:
        """Delete the file if its blob is still ``sha``: else ForgeConflict; ForgeNotFound when it is gone."""
        self._request("DELETE", self._contents(path), body={"message": message, "sha": sha, "branch": branch})

    def ensure_branch(self, branch: str) -> None:
        """Create ``branch`` from the default branch's head unless it exists."""
        if self._branch_sha(branch) is not None:
            return
        head = self._branch_sha(str(self._repository()["default_branch"]))
        if head is None:
            raise ForgeNotFound(f"default branch of {self.repo} has no head")
        try:
            self._request("POST", f"{self._path}/git/refs", body={"ref": f"refs/heads/{branch}", "sha": head})
        except ForgeConflict:  # created concurrently: fine, it exists now
            return

    def _branch_sha(self, branch: str) -> str | None:
        try:
            data = self._request("GET", f"{self._path}/git/ref/heads/{quote(branch)}").data
        except ForgeNotFound:
            return None
        return str(data["object"]["sha"])

    def _contents(self, path: str) -> str:
        return f"{self._path}/contents/{quote(path)}"


def _parse(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:  # proxies answer 502s with HTML
        return {"message": text[:200]}


def _message(data: Any) -> str:
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def _error(status: int, message: str) -> ForgeError:
    if status in (401, 403):
        return ForgeAuthError(message)
    if status in (404, 410):
        return ForgeNotFound(message)
    if status in (409, 422):
        return ForgeConflict(message)
    return ForgeError(message)


def _label_body(spec: LabelSpec) -> dict[str, str]:
    return {"color": spec.color.lower(), "description": spec.description}


def _label_differs(current: Mapping[str, Any], spec: LabelSpec) -> bool:
    return (
        str(current.get("color", "")).lower() != spec.color.lower()
        or (current.get("description") or "") != spec.description
    )


def _iso(moment: datetime) -> str:
    """GitHub's timestamp form; a naive datetime is taken as UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
