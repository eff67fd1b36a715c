"""The fake GitHub's repository-content and Actions routes: contents (read, write and delete, sha-checked),
the GraphQL blob and tree lookups, git refs, branches, workflow runs, jobs, logs and artifacts (downloads
answer with a 302 to a fake blob host, as GitHub does)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .fake_http import Handler, Reply, Req, invalid, not_found

if TYPE_CHECKING:
    from .fake_github import FakeGitHub

_ALIAS_RE = re.compile(r"(\w+): object\(expression: \$(\w+)\) \{ \.\.\. on (Blob|Tree)\b")
_REPOSITORY_RE = re.compile(r"repository\(owner: \$owner, name: \$name\)")
GRAPHQL_TEXT_LIMIT = 512 * 1024  # GitHub truncates Blob.text of large blobs; tests lower it to hit the fallback


def blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()  # git's object id, not security


class GitRoutes:
    """State and handlers for contents, refs and Actions, owned by a ``FakeGitHub``."""

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self.branches: dict[str, str] = {fake.default_branch: blob_sha(b"initial commit")}
        self.files: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.runs: dict[int, dict[str, Any]] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.artifacts: dict[int, dict[str, Any]] = {}
        self.downloads: dict[str, bytes] = {}
        self.graphql_text_limit = GRAPHQL_TEXT_LIMIT
        self.workflows: set[str] = {"ci.yml"}  # workflow files that exist (unknown ones answer 404)

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", r"/contents/(?P<path>.+)", self._get_contents),
            ("PUT", r"/contents/(?P<path>.+)", self._put_contents),
            ("DELETE", r"/contents/(?P<path>.+)", self._delete_contents),
            ("GET", r"/git/ref/heads/(?P<branch>.+)", self._get_ref),
            ("POST", r"/git/refs", self._create_ref),
            ("GET", r"/branches/(?P<branch>.+)", self._get_branch),
            ("GET", r"/actions/runs", self._list_runs),
            ("GET", r"/actions/workflows/(?P<wf>[^/]+)/runs", self._list_runs),
            ("GET", r"/actions/runs/(?P<id>\d+)", self._get_run),
            ("GET", r"/actions/runs/(?P<id>\d+)/jobs", self._list_jobs),
            ("GET", r"/actions/runs/(?P<id>\d+)/logs", self._run_logs),
            ("GET", r"/actions/jobs/(?P<id>\d+)/logs", self._job_logs),
            ("GET", r"/actions/runs/(?P<id>\d+)/artifacts", self._list_artifacts),
            ("GET", r"/actions/artifacts/(?P<id>\d+)/zip", self._artifact_zip),
        ]

    # -- seeding --------------------------------------------------------------------------------

    def add_run(self, workflow: str = "ci.yml", conclusion: str = "failure", **extra: Any) -> int:
        run_id = 9_000_000 + self.fake.next_id()
        self.workflows.add(workflow)
        now = self.fake.stamp()
        self.runs[run_id] = {
            "id": run_id,
            "name": workflow.removesuffix(".yml"),
            "path": f".github/workflows/{workflow}",
            "head_branch": "main",
            "head_sha": blob_sha(str(run_id).encode()),
            "event": "push",
            "status": "completed",
            "conclusion": conclusion,
            "run_attempt": 1,
            "html_url": f"https://github.com/{self.fake.repo}/actions/runs/{run_id}",
            "created_at": now,
            "updated_at": now,
            **extra,
        }
        return run_id

    def add_job(self, run_id: int, name: str, log: str, conclusion: str = "failure") -> int:
        job_id = 8_000_000 + self.fake.next_id()
        self.jobs[job_id] = {
            "id": job_id,
            "run_id": run_id,
            "name": name,
            "status": "completed",
            "conclusion": conclusion,
        }
        self.downloads[f"logs/job-{job_id}.txt"] = log.encode()
        return job_id

    def add_artifact(self, run_id: int, name: str, data: bytes) -> int:
        artifact_id = 7_000_000 + self.fake.next_id()
        url = f"{self.fake.api}/repos/{self.fake.repo}/actions/artifacts/{artifact_id}/zip"
        self.artifacts[artifact_id] = {
            "id": artifact_id,
            "node_id": f"MDg6QXJ0aWZhY3Q{artifact_id}",
            "name": name,
            "size_in_bytes": len(data),
            "archive_download_url": url,
            "expired": False,
            "url": f"{self.fake.api}/repos/{self.fake.repo}/actions/artifacts/{artifact_id}",
            "created_at": self.fake.stamp(),
            "updated_at": self.fake.stamp(),
            "expires_at": None,
            "workflow_run": {"id": run_id},
        }
        self.downloads[f"artifacts/{artifact_id}.zip"] = data
        return artifact_id

    # -- contents -------------------------------------------------------------------------------

    def _get_contents(self, m: re.Match[str], req: Req) -> Reply:
        path, branch = unquote(m["path"]), req.params.get("ref", self.fake.default_branch)
        if branch not in self.branches:
            return not_found(f"No commit found for the ref {branch}")
        stored = self.files.get((branch, path))
        if stored is None:
            return not_found()
        content, sha = stored
        return Reply(200, {**self._content_payload(path, content, sha), "encoding": "base64"})

    def _put_contents(self, m: re.Match[str], req: Req) -> Reply:
        path, body = unquote(m["path"]), req.body or {}
        branch = body.get("branch", self.fake.default_branch)
        if branch not in self.branches:
            return not_found(f"Branch {branch} not found")
        current = self.files.get((branch, path))
        if current is not None and "sha" not in body:
            return invalid("sha", "missing_field", '"sha" wasn\'t supplied.')
        if (current is not None and body["sha"] != current[1]) or (current is None and body.get("sha")):
            return Reply(409, {"message": f"{path} does not match {body.get('sha')}"})
        return self._store(branch, path, base64.b64decode(body.get("content", "")), body.get("message", ""), current)

    def _delete_contents(self, m: re.Match[str], req: Req) -> Reply:
        path, body = unquote(m["path"]), req.body or {}
        branch = body.get("branch", self.fake.default_branch)
        if not body.get("sha") or not body.get("message"):
            return invalid("sha", "missing_field")
        current = self.files.get((branch, path)) if branch in self.branches else None
        if current is None:
            return not_found()
        if body["sha"] != current[1]:
            return Reply(409, {"message": f"{path} does not match {body['sha']}"})
        del self.files[(branch, path)]
        commit = self._commit(branch, path, "deleted", body["message"])
        return Reply(200, {"content": None, "commit": commit})

    def _commit(self, branch: str, path: str, sha: str, message: str) -> dict[str, str]:
        commit = blob_sha(f"{branch}:{path}:{sha}:{self.fake.next_id()}".encode())
        self.branches[branch] = commit
        return {"sha": commit, "message": message}

    def _store(self, branch: str, path: str, content: bytes, message: str, current: object) -> Reply:
        sha = blob_sha(content)
        self.files[(branch, path)] = (content, sha)
        payload = {
            "content": self._content_payload(path, content, sha),
            "commit": self._commit(branch, path, sha, message),
        }
        return Reply(200 if current is not None else 201, payload)

    def _content_payload(self, path: str, content: bytes, sha: str) -> dict[str, Any]:
        url = f"{self.fake.api}/repos/{self.fake.repo}/contents/{path}"
        return {
            "type": "file",
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "size": len(content),
            "url": url,
            "html_url": f"https://github.com/{self.fake.repo}/blob/{path}",
            "git_url": f"{self.fake.api}/repos/{self.fake.repo}/git/blobs/{sha}",
            "download_url": f"https://raw.githubusercontent.com/{self.fake.repo}/{sha}/{path}",
            "content": base64.encodebytes(content).decode(),
        }

    # -- GraphQL: the aliased ``object(expression: "<branch>:<path>")`` lookups the state store sends; each
    # answers only its ``... on Blob`` or ``... on Tree`` fragment, like GitHub (another kind answers {})

    def graphql(self, _m: re.Match[str], req: Req) -> Reply:
        body = req.body or {}
        query, variables = str(body.get("query", "")), body.get("variables") or {}
        if not _REPOSITORY_RE.search(query):
            return Reply(200, {"errors": [{"message": "the fake answers repository blob lookups only"}]})
        if f"{variables.get('owner')}/{variables.get('name')}" != self.fake.repo:
            error = {"type": "NOT_FOUND", "path": ["repository"], "message": "Could not resolve to a Repository"}
            return Reply(200, {"data": {"repository": None}, "errors": [error]})
        lookups = _ALIAS_RE.findall(query)
        found = {alias: self._object(str(variables.get(var, "")), kind) for alias, var, kind in lookups}
        return Reply(200, {"data": {"repository": found}})

    def _object(self, expression: str, kind: str) -> dict[str, Any] | None:
        branch, _, path = expression.partition(":")
        stored = self.files.get((branch, path))
        if stored is not None:
            return self._blob_fields(*stored) if kind == "Blob" else {}
        children = self._children(branch, path)
        if not children:
            return None
        return {"entries": [self._entry(branch, path, name) for name in children]} if kind == "Tree" else {}

    def _children(self, branch: str, folder: str) -> list[str]:
        """The names directly in ``folder`` (files and sub-folders), in git's order."""
        prefix = f"{folder}/" if folder else ""
        names = {p[len(prefix) :].split("/", 1)[0] for b, p in self.files if b == branch and p.startswith(prefix)}
        return sorted(names)

    def _entry(self, branch: str, folder: str, name: str) -> dict[str, Any]:
        path = f"{folder}/{name}" if folder else name
        stored = self.files.get((branch, path))
        if stored is None:  # a sub-folder: its oid is not a blob's, and it matches no Blob fragment
            return {"name": name, "type": "tree", "oid": blob_sha(path.encode()), "object": {}}
        fields = self._blob_fields(*stored)
        return {"name": name, "type": "blob", "oid": fields.pop("oid"), "object": fields}

    def _blob_fields(self, content: bytes, sha: str) -> dict[str, Any]:
        truncated = len(content) > self.graphql_text_limit
        text = content[: self.graphql_text_limit].decode("utf-8", errors="replace")
        return {"text": text, "oid": sha, "byteSize": len(content), "isTruncated": truncated}

    # -- refs and branches ------------------------------------------------------------------------

    def _get_ref(self, m: re.Match[str], _req: Req) -> Reply:
        branch = unquote(m["branch"])
        if branch not in self.branches:
            return not_found()
        return Reply(200, self._ref_payload(branch, self.branches[branch]))

    def _ref_payload(self, branch: str, sha: str) -> dict[str, Any]:
        base = f"{self.fake.api}/repos/{self.fake.repo}/git"
        return {
            "ref": f"refs/heads/{branch}",
            "node_id": f"REF_{branch}",
            "url": f"{base}/refs/heads/{branch}",
            "object": {"sha": sha, "type": "commit", "url": f"{base}/commits/{sha}"},
        }

    def _create_ref(self, _m: re.Match[str], req: Req) -> Reply:
        body = req.body or {}
        ref, sha = body.get("ref", ""), body.get("sha", "")
        if not ref.startswith("refs/heads/") or not sha:
            return invalid("ref", "invalid")
        branch = ref.removeprefix("refs/heads/")
        if branch in self.branches:
            return Reply(422, {"message": "Reference already exists"})
        self.branches[branch] = sha
        return Reply(201, self._ref_payload(branch, sha))

    def _get_branch(self, m: re.Match[str], _req: Req) -> Reply:
        branch = unquote(m["branch"])
        if branch not in self.branches:
            return not_found("Branch not found")
        return Reply(200, {"name": branch, "commit": {"sha": self.branches[branch]}, "protected": False})

    # -- actions --------------------------------------------------------------------------------

    def _list_runs(self, m: re.Match[str], req: Req) -> Reply:
        workflow = m.groupdict().get("wf")
        if workflow is not None and unquote(workflow) not in self.workflows:
            return not_found()
        runs = [
            run
            for run in sorted(self.runs.values(), key=lambda r: -int(r["id"]))
            if (workflow is None or run["path"].endswith(f"/{workflow}"))
            and all(run.get(key) == req.params[key] for key in ("status", "branch", "event") if key in req.params)
            and _created_matches(run["created_at"], req.params.get("created", ""))
        ]
        return self.fake.paginate(runs, req, wrap="workflow_runs")

    def _get_run(self, m: re.Match[str], _req: Req) -> Reply:
        run = self.runs.get(int(m["id"]))
        return Reply(200, run) if run else not_found()

    def _list_jobs(self, m: re.Match[str], req: Req) -> Reply:
        jobs = [job for job in self.jobs.values() if job["run_id"] == int(m["id"])]
        return self.fake.paginate(jobs, req, wrap="jobs")

    def _job_logs(self, m: re.Match[str], _req: Req) -> Reply:
        key = f"logs/job-{m['id']}.txt"
        return self._redirect(key) if key in self.downloads else not_found()

    def _run_logs(self, m: re.Match[str], _req: Req) -> Reply:
        run_id = int(m["id"])
        if run_id not in self.runs:
            return not_found()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for job in (j for j in self.jobs.values() if j["run_id"] == run_id):
                archive.writestr(f"{job['name']}.txt", self.downloads[f"logs/job-{job['id']}.txt"])
        self.downloads[f"logs/run-{run_id}.zip"] = buffer.getvalue()
        return self._redirect(f"logs/run-{run_id}.zip")

    def _list_artifacts(self, m: re.Match[str], req: Req) -> Reply:
        found = [a for a in self.artifacts.values() if a["workflow_run"]["id"] == int(m["id"])]
        return self.fake.paginate(found, req, wrap="artifacts")

    def _artifact_zip(self, m: re.Match[str], _req: Req) -> Reply:
        key = f"artifacts/{m['id']}.zip"
        return self._redirect(key) if key in self.downloads else not_found()

    def _redirect(self, key: str) -> Reply:
        return Reply(302, headers={"Location": self.fake.download_url(key)})


def _created_matches(created_at: str, query: str) -> bool:
    """GitHub's ``created`` qualifier, in the ``>=`` / ``<=`` / ``>`` / ``<`` forms (ISO strings compare in order)."""
    for operator, test in ((">=", str.__ge__), ("<=", str.__le__), (">", str.__gt__), ("<", str.__lt__)):
        if query.startswith(operator):
            return bool(test(created_at, query[len(operator) :]))
    return not query or created_at.startswith(query)
