"""A stateful fake of GitHub's REST API on top of ``responses``, for tests of anything that talks to GitHub.

``with FakeGitHub("octo/demo") as gh:`` intercepts every request to ``https://api.github.com[:443]`` (PyGithub
adds the port; ``api=`` serves another root, e.g. GitHub Enterprise Server's ``https://HOST/api/v3``, with
GraphQL at ``/api/graphql``), answers from in-memory state with payloads shaped like the real API, records each request
(method, path, params, JSON body) and injects faults from a seeded ``FaultPlan``. Issues, labels, comments,
permissions, dispatches and the repository live here; contents, git refs and Actions are in ``fake_git``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import requests
import responses

from .fake_git import GitRoutes
from .fake_http import API, Handler, RecordedRequest, Reply, Req, invalid, not_found
from .faults import Fault, FaultPlan

_DOWNLOAD_HOST = "https://fake-downloads.githubusercontent.com"
_COARSE = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}
_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
_USER_LINKS = (
    "followers",
    "following",
    "gists",
    "starred",
    "subscriptions",
    "organizations",
    "repos",
    "events",
    "received_events",
)


class FakeGitHub:
    """In-memory GitHub for one repository. Seed it, run code against it, then inspect ``requests``."""

    def __init__(
        self,
        repo: str = "octo/demo",
        *,
        clock: Callable[[], datetime] | None = None,
        faults: FaultPlan | None = None,
        private: bool = False,
        default_branch: str = "main",
        actor: str = "trace-harness-bot",
        api: str = API,
    ) -> None:
        self.repo, self.private, self.default_branch, self.actor = repo, private, default_branch, actor
        self.api = api.rstrip("/")  # e.g. GitHub Enterprise Server's https://HOST/api/v3
        parts = urlsplit(self.api)
        self._host = re.escape(f"{parts.scheme}://{parts.hostname}") + r"(?::\d+)?"  # PyGithub adds the port
        self._prefix = parts.path
        self._graphql = parts.path.removesuffix("/v3") + "/graphql"  # where PyGithub sends GraphQL
        self.clock = clock or (lambda: datetime.now(UTC))
        self.faults = faults or FaultPlan()
        self.requests: list[RecordedRequest] = []
        self.replies: list[tuple[RecordedRequest, int, Any]] = []  # (request, status, JSON payload) as answered
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self.roles: dict[str, str] = {}
        self.dispatches: list[tuple[str, str, dict[str, str]]] = []
        self.download_requests: list[tuple[str, dict[str, str]]] = []  # (key, headers) seen by the blob host
        self.git = GitRoutes(self)
        self._ids = 0
        self._mock: responses.RequestsMock | None = None
        self._routes = self._route_table()

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        self._mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        self._mock.start()
        self.install(self._mock)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock.reset()

    def install(self, mock: responses.RequestsMock) -> None:
        """Register the callbacks on an existing ``responses`` mock."""
        for method in _METHODS:
            mock.add_callback(method, re.compile(self._host + re.escape(self._prefix) + r"/.*"), callback=self._handle)
        if not self._graphql.startswith(self._prefix + "/"):
            mock.add_callback("POST", re.compile(self._host + re.escape(self._graphql)), callback=self._handle)
        mock.add_callback("GET", re.compile(re.escape(_DOWNLOAD_HOST) + r"/.*"), callback=self._download)

    # -- helpers for tests ------------------------------------------------------------------------

    def next_id(self) -> int:
        self._ids += 1
        return self._ids

    def stamp(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def seed_issue(self, title: str, body: str = "", labels: tuple[str, ...] = (), **extra: Any) -> int:
        """An issue filed by someone else (``pull_request=True`` makes it a PR)."""
        reply = self._create_issue_state({"title": title, "body": body, "labels": list(labels)})
        number = int(reply["number"])
        self.issues[number].update(extra)
        return number

    def add_comment(self, number: int, user: str, body: str) -> int:
        comment_id = self.next_id()
        now = self.stamp()
        self.comments[comment_id] = {"issue": number, "user": user, "body": body, "created_at": now, "updated_at": now}
        self.issues[number]["updated_at"] = now
        return comment_id

    def count(self, method: str | None = None, path_regex: str = "") -> int:
        return sum(1 for r in self.requests if (method is None or r.method == method) and re.search(path_regex, r.path))

    def download_url(self, key: str) -> str:
        return f"{_DOWNLOAD_HOST}/{key}"

    # -- transport ------------------------------------------------------------------------------

    def _handle(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        req = _decode(request, self._prefix, self._graphql)
        index = len(self.requests)
        self.requests.append(RecordedRequest(req.method, req.path, req.params, req.body, req.headers))
        fault = self.faults.choose(index, req.method, req.path)
        if fault is not None and not fault.applies_first:
            return self._fail(fault, req.path)
        reply = self._dispatch(req)
        if fault is not None:
            return self._fail(fault, req.path)
        self.replies.append((self.requests[-1], reply.status, reply.payload))
        return self._encode(reply, req)

    def _dispatch(self, req: Req) -> Reply:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(req.path)
            if match and method == req.method:
                return handler(match, req)
        return not_found()

    def _encode(self, reply: Reply, req: Req) -> tuple[int, dict[str, str], bytes]:
        headers = {**self._rate_headers(), **reply.headers}
        if reply.raw is not None:
            return reply.status, headers, reply.raw
        if reply.payload is None:
            return reply.status, headers, b""
        body = json.dumps(reply.payload).encode()
        headers["Content-Type"] = "application/json; charset=utf-8"
        if req.method == "GET" and reply.status == 200:
            etag = f'W/"{hashlib.sha256(body).hexdigest()[:40]}"'
            headers["ETag"] = etag
            if req.headers.get("if-none-match") == etag:
                return 304, {k: v for k, v in headers.items() if k != "Content-Type"}, b""
        return reply.status, headers, body

    def _fail(self, fault: Fault, path: str) -> tuple[int, dict[str, str], bytes]:
        if fault in (Fault.TIMEOUT, Fault.APPLIED_TIMEOUT):
            raise requests.exceptions.ReadTimeout("fake: read timed out")
        if fault is Fault.RESET:
            raise requests.exceptions.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))
        if fault is Fault.CONNECT_TIMEOUT:
            raise requests.exceptions.ConnectTimeout("fake: connection to api.github.com timed out")
        if fault is Fault.GRAPHQL_RATE_LIMITED and path.endswith("/graphql"):
            reset = str(int(self.clock().timestamp()) + self.faults.reset_in)
            limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset, "Content-Type": "application/json"}
            error = {"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}
            return 200, {**self._rate_headers(), **limited}, json.dumps({"data": None, "errors": [error]}).encode()
        status, message, headers = self._fault_reply(fault)
        return status, {**self._rate_headers(), **headers}, json.dumps({"message": message}).encode()

    def _fault_reply(self, fault: Fault) -> tuple[int, str, dict[str, str]]:
        retry_after = {"Retry-After": str(self.faults.retry_after)}
        if fault is Fault.SECONDARY_RATE_LIMIT:
            return 403, "You have exceeded a secondary rate limit. Please wait a few minutes.", retry_after
        if fault in (Fault.PRIMARY_RATE_LIMIT, Fault.GRAPHQL_RATE_LIMITED):  # the REST form of GraphQL's limit
            reset = str(int(self.clock().timestamp()) + self.faults.reset_in)
            return (
                403,
                "API rate limit exceeded for user ID 1.",
                {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset},
            )
        if fault is Fault.BAD_CREDENTIALS:
            return 401, "Bad credentials", {}
        if fault is Fault.TOO_MANY:
            return 429, "Too Many Requests", {}
        if fault is Fault.TOO_MANY_RETRY_AFTER:
            return 429, "Too Many Requests", retry_after
        status = 502 if fault is Fault.APPLIED_BAD_GATEWAY else int(fault.value)
        return status, "Server Error", {}

    def _rate_headers(self) -> dict[str, str]:
        reset = str(int(self.clock().timestamp()) + 3600)
        return {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999", "x-ratelimit-reset": reset}

    def _download(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        key = urlsplit(request.url or "").path.lstrip("/")
        self.download_requests.append((key, {k.lower(): str(v) for k, v in request.headers.items()}))
        data = self.git.downloads.get(key)
        return (200, {"Content-Type": "application/octet-stream"}, data) if data is not None else (404, {}, b"")

    # -- routes ---------------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        base = f"/repos/{re.escape(self.repo)}"
        table: list[tuple[str, str, Handler]] = [
            ("GET", "", self._get_repo),
            ("GET", "/issues", self._list_issues),
            ("POST", "/issues", self._create_issue),
            ("GET", r"/issues/(?P<n>\d+)", self._get_issue),
            ("PATCH", r"/issues/(?P<n>\d+)", self._patch_issue),
            ("GET", r"/issues/(?P<n>\d+)/comments", self._list_comments),
            ("POST", r"/issues/(?P<n>\d+)/comments", self._create_comment),
            ("GET", "/labels", self._list_labels),
            ("POST", "/labels", self._create_label),
            ("GET", r"/labels/(?P<name>[^/]+)", self._get_label),
            ("PATCH", r"/labels/(?P<name>[^/]+)", self._patch_label),
            ("GET", r"/collaborators/(?P<user>[^/]+)/permission", self._permission),
            ("POST", r"/actions/workflows/(?P<wf>[^/]+)/dispatches", self._dispatch_workflow),
            *self.git.routes(),
        ]
        routes = [(method, re.compile(base + suffix), handler) for method, suffix, handler in table]
        return [*routes, ("POST", re.compile("/graphql"), self.git.graphql)]

    def _get_repo(self, _m: re.Match[str], _req: Req) -> Reply:
        owner, name = self.repo.split("/")
        return Reply(
            200,
            {
                "id": 1,
                "node_id": "R_1",
                "name": name,
                "full_name": self.repo,
                "owner": self.user_payload(owner),
                "private": self.private,
                "visibility": "private" if self.private else "public",
                "html_url": f"https://github.com/{self.repo}",
                "url": f"{self.api}/repos/{self.repo}",
                "default_branch": self.default_branch,
            },
        )

    # issues

    def _list_issues(self, _m: re.Match[str], req: Req) -> Reply:
        wanted = [name for name in req.params.get("labels", "").split(",") if name]
        state = req.params.get("state", "open")
        chosen = [
            issue
            for issue in self.issues.values()
            if all(name in issue["labels"] for name in wanted) and state in ("all", issue["state"])
        ]
        key = {"created": "number", "updated": "updated_at", "comments": "number"}[req.params.get("sort", "created")]
        chosen.sort(key=lambda issue: issue[key], reverse=req.params.get("direction", "desc") == "desc")
        return self.paginate([self.issue_payload(i) for i in chosen], req)

    def _create_issue(self, _m: re.Match[str], req: Req) -> Reply:
        body = req.body or {}
        if not body.get("title"):
            return invalid("title", "missing_field")
        if len(body.get("body") or "") > 65_536:
            return invalid("body", "custom", "body is too long (maximum is 65536 characters)")
        return Reply(201, self._create_issue_state(body))

    def _create_issue_state(self, body: dict[str, Any]) -> dict[str, Any]:
        number = max(self.issues, default=0) + 1
        now = self.stamp()
        labels = list(dict.fromkeys(body.get("labels") or []))
        self._auto_labels(labels)
        self.issues[number] = {
            "number": number,
            "title": body["title"],
            "body": body.get("body"),
            "state": "open",
            "state_reason": None,
            "labels": labels,
            "user": self.actor,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
        }
        return self.issue_payload(self.issues[number])

    def _get_issue(self, m: re.Match[str], _req: Req) -> Reply:
        issue = self.issues.get(int(m["n"]))
        return Reply(200, self.issue_payload(issue)) if issue else not_found()

    def _patch_issue(self, m: re.Match[str], req: Req) -> Reply:
        issue = self.issues.get(int(m["n"]))
        if issue is None:
            return not_found()
        body: dict[str, Any] = req.body or {}
        if len(body.get("body") or "") > 65_536:
            return invalid("body", "custom", "body is too long (maximum is 65536 characters)")
        self._apply_patch(issue, body)
        return Reply(200, self.issue_payload(issue))

    def _apply_patch(self, issue: dict[str, Any], body: dict[str, Any]) -> None:
        now = self.stamp()
        issue.update({k: body[k] for k in ("title", "body") if k in body})
        if "labels" in body:
            issue["labels"] = list(dict.fromkeys(body["labels"]))
            self._auto_labels(issue["labels"])
        state, reason = body.get("state"), body.get("state_reason")
        if state == "closed" and issue["state"] == "open":
            issue.update(state="closed", state_reason=reason or "completed", closed_at=now)
        elif state == "open" and issue["state"] == "closed":
            issue.update(state="open", state_reason=reason or "reopened", closed_at=None)
        elif reason is not None:
            issue["state_reason"] = reason
        issue["updated_at"] = now

    def issue_payload(self, issue: dict[str, Any]) -> dict[str, Any]:
        n, url = issue["number"], f"{self.api}/repos/{self.repo}/issues/{issue['number']}"
        payload = {
            "id": 100_000 + n,
            "node_id": f"I_kw{n}",
            "number": n,
            "url": url,
            "repository_url": f"{self.api}/repos/{self.repo}",
            "comments_url": f"{url}/comments",
            "labels_url": f"{url}/labels{{/name}}",
            "events_url": f"{url}/events",
            "html_url": f"https://github.com/{self.repo}/issues/{n}",
            "title": issue["title"],
            "body": issue["body"],
            "state": issue["state"],
            "state_reason": issue["state_reason"],
            "locked": False,
            "labels": [self.label_payload(name) for name in issue["labels"]],
            "user": self.user_payload(issue["user"]),
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": sum(1 for c in self.comments.values() if c["issue"] == n),
            "created_at": issue["created_at"],
            "updated_at": issue["updated_at"],
            "closed_at": issue["closed_at"],
            "author_association": "OWNER",
        }
        if issue.get("pull_request"):
            payload["pull_request"] = {"url": f"{self.api}/repos/{self.repo}/pulls/{n}"}
        return payload

    def user_payload(self, login: str) -> dict[str, Any]:
        kind = "Bot" if login.endswith("[bot]") else "User"
        url = f"{self.api}/users/{login}"
        links = {f"{name}_url": f"{url}/{name}" for name in _USER_LINKS}
        return {
            "login": login,
            "id": len(login),
            "node_id": f"U_{login}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{len(login)}",
            "gravatar_id": "",
            "url": url,
            "html_url": f"https://github.com/{login}",
            **links,
            "type": kind,
            "site_admin": False,
        }

    # comments

    def _list_comments(self, m: re.Match[str], req: Req) -> Reply:
        number = int(m["n"])
        if number not in self.issues:
            return not_found()
        since = req.params.get("since", "")
        chosen = [(i, c) for i, c in self.comments.items() if c["issue"] == number and c["updated_at"] >= since]
        return self.paginate([self._comment_payload(i, c) for i, c in chosen], req)

    def _create_comment(self, m: re.Match[str], req: Req) -> Reply:
        number = int(m["n"])
        if number not in self.issues:
            return not_found()
        if not (req.body or {}).get("body"):
            return invalid("body", "missing_field")
        comment_id = self.add_comment(number, self.actor, req.body["body"])
        return Reply(201, self._comment_payload(comment_id, self.comments[comment_id]))

    def _comment_payload(self, comment_id: int, comment: dict[str, Any]) -> dict[str, Any]:
        association = "OWNER" if comment["user"] == self.actor else "CONTRIBUTOR"
        return {
            "id": comment_id,
            "node_id": f"IC_{comment_id}",
            "url": f"{self.api}/repos/{self.repo}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{self.repo}/issues/{comment['issue']}#issuecomment-{comment_id}",
            "issue_url": f"{self.api}/repos/{self.repo}/issues/{comment['issue']}",
            "body": comment["body"],
            "user": self.user_payload(comment["user"]),
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "author_association": association,
        }

    # labels

    def _auto_labels(self, names: list[str]) -> None:
        for name in names:
            self.labels.setdefault(name, {"color": "ededed", "description": ""})

    def label_payload(self, name: str) -> dict[str, Any]:
        label = self.labels.get(name, {"color": "ededed", "description": ""})
        return {
            "id": abs(hash(name)) % 10**9,
            "node_id": f"LA_{name}",
            "url": f"{self.api}/repos/{self.repo}/labels/{name}",
            "name": name,
            "color": label["color"],
            "default": False,
            "description": label["description"] or None,
        }

    def _list_labels(self, _m: re.Match[str], req: Req) -> Reply:
        return self.paginate([self.label_payload(name) for name in sorted(self.labels)], req)

    def _get_label(self, m: re.Match[str], _req: Req) -> Reply:
        name = unquote(m["name"])
        return Reply(200, self.label_payload(name)) if name in self.labels else not_found()

    def _create_label(self, _m: re.Match[str], req: Req) -> Reply:
        body = req.body or {}
        name = body.get("name", "")
        if name in self.labels:
            return Reply(
                422, {"message": "Validation Failed", "errors": [{"resource": "Label", "code": "already_exists"}]}
            )
        if not name or len(name) > 50 or not re.fullmatch(r"[0-9a-fA-F]{6}", body.get("color", "ededed")):
            return invalid("name", "invalid")
        self.labels[name] = {"color": body.get("color", "ededed"), "description": body.get("description") or ""}
        return Reply(201, self.label_payload(name))

    def _patch_label(self, m: re.Match[str], req: Req) -> Reply:
        name = unquote(m["name"])
        if name not in self.labels:
            return not_found()
        body = req.body or {}
        self.labels[name].update({k: body[k] or "" for k in ("color", "description") if k in body})
        return Reply(200, self.label_payload(name))

    # permissions, dispatch

    def _permission(self, m: re.Match[str], _req: Req) -> Reply:
        user = unquote(m["user"])
        role = self.roles.get(user, "none" if self.private else "read")
        permission = _COARSE.get(role, "none")
        collaborator = {**self.user_payload(user), "role_name": role}
        return Reply(200, {"permission": permission, "role_name": role, "user": collaborator})

    def _dispatch_workflow(self, m: re.Match[str], req: Req) -> Reply:
        body = req.body or {}
        if not body.get("ref"):
            return invalid("ref", "missing_field")
        self.dispatches.append((unquote(m["wf"]), body["ref"], dict(body.get("inputs") or {})))
        return Reply(204)

    # pagination

    def paginate(self, items: list[Any], req: Req, wrap: str | None = None) -> Reply:
        """One page of ``items`` with a Link header like GitHub's (``wrap`` nests it as Actions lists do)."""
        per_page = min(int(req.params.get("per_page", "30")), 100)
        page = max(int(req.params.get("page", "1")), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chosen = items[(page - 1) * per_page : page * per_page]
        links = [(page + 1, "next"), (last, "last")] if page < last else []
        links += [(page - 1, "prev"), (1, "first")] if page > 1 else []
        headers = {"Link": ", ".join(f'<{self._page_url(req, p)}>; rel="{rel}"' for p, rel in links)} if links else {}
        payload: Any = {"total_count": len(items), wrap: chosen} if wrap else chosen
        return Reply(200, payload, headers)

    def _page_url(self, req: Req, page: int) -> str:
        return f"{self.api}{req.path}?{urlencode({**req.params, 'page': str(page)})}"


def _decode(request: requests.PreparedRequest, prefix: str, graphql: str) -> Req:
    """The request, its path relative to the API root (GraphQL's as ``/graphql`` wherever it is served)."""
    parts = urlsplit(request.url or "")
    path = "/graphql" if parts.path == graphql else parts.path.removeprefix(prefix)
    raw = request.body
    text = raw.decode() if isinstance(raw, bytes) else raw if isinstance(raw, str) else ""
    body = json.loads(text) if text else None
    kept = ("if-none-match", "accept")
    headers = {k.lower(): str(v) for k, v in request.headers.items() if k.lower() in kept}
    return Req(request.method or "GET", path, dict(parse_qsl(parts.query)), body, headers)
