"""GitHub Actions evidence over ``GitHubForge``'s request funnel: failed runs, their failed jobs' logs, artifacts.

Listings go through the forge's counted, retried funnel. Job logs and artifact zips answer ``302`` with a
short-lived URL on a blob host: the Location is read from that answer and fetched with a session that carries
no credentials (no token, no ``.netrc``), so the token never reaches the blob host. A blob URL is signed, so
it never appears in an error message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from ..errors import ForgeError
from .base import Artifact, WorkflowJob, WorkflowRun

if TYPE_CHECKING:
    from .github import GitHubForge

FAILED_RUNS = frozenset({"failure", "timed_out", "startup_failure"})  # cancelled: usually superseded by a push
FAILED_JOBS = frozenset({"failure", "timed_out"})
CHUNK_BYTES = 64 * 1024
_MAX_PAGES = 10  # 1,000 runs of one workflow in the window: more is not worth a run's budget


class GitHubActions:
    """The ``ActionsSource`` of one repository; ``blob_requests`` counts fetches from the blob host."""

    def __init__(self, forge: GitHubForge, *, timeout: int = 60, session: requests.Session | None = None) -> None:
        self._forge = forge
        self._path = f"/repos/{forge.repo}/actions"
        self._timeout = timeout
        self._session = session or anonymous_session()
        self.blob_requests = 0

    @property
    def requests_made(self) -> int:
        return self._forge.requests_made

    def failed_runs(self, workflow: str, since: datetime, after_id: int = 0) -> list[WorkflowRun]:
        """Completed runs created since ``since`` and newer than ``after_id`` that failed, newest first."""
        params = {"status": "completed", "created": f">={_iso(since)}"}
        path = f"{self._path}/workflows/{quote(workflow, safe='')}/runs"
        items = self._listing(path, "workflow_runs", params, stop_at=after_id)
        runs = [_run(item, workflow) for item in items if int(item["id"]) > after_id]
        return [run for run in runs if run.conclusion in FAILED_RUNS]

    def failed_jobs(self, run_id: int) -> list[WorkflowJob]:
        items = self._listing(f"{self._path}/runs/{run_id}/jobs", "jobs", {"filter": "latest"})
        jobs = [_job(item, run_id) for item in items]
        return [job for job in jobs if job.conclusion in FAILED_JOBS]

    def artifacts(self, run_id: int, patterns: Sequence[str]) -> list[Artifact]:
        """The run's unexpired artifacts whose name matches one of the glob ``patterns``."""
        items = self._listing(f"{self._path}/runs/{run_id}/artifacts", "artifacts", {})
        found = [_artifact(item, run_id) for item in items]
        return [a for a in found if not a.expired and any(fnmatchcase(a.name, p) for p in patterns)]

    def job_log(self, job_id: int) -> Iterator[bytes]:
        return self._download(f"{self._path}/jobs/{job_id}/logs")

    def artifact_zip(self, artifact_id: int) -> Iterator[bytes]:
        return self._download(f"{self._path}/artifacts/{artifact_id}/zip")

    def _listing(self, path: str, key: str, params: Mapping[str, Any], stop_at: int = 0) -> list[Any]:
        """Every item of a wrapped Actions list; stops early at an id at or below ``stop_at`` (newest first)."""
        items: list[Any] = []
        for page in range(1, _MAX_PAGES + 1):
            response = self._forge._request("GET", path, params={**params, "per_page": 100, "page": page})
            found = list((response.data or {}).get(key) or [])
            items += found
            if not response.has_next or any(int(item["id"]) <= stop_at for item in found):
                break
        return items

    def _download(self, path: str) -> Iterator[bytes]:
        """Ask the API where the file is (a counted request), then stream it from there without credentials."""
        response = self._forge._request("GET", path)
        location = response.headers.get("location", "")
        if response.status != 302 or not location.startswith("https://"):
            raise ForgeError(f"GET {path}: HTTP {response.status} without a download location")
        return self._stream(location, path)

    def _stream(self, url: str, path: str) -> Iterator[bytes]:
        self.blob_requests += 1
        try:
            with self._session.get(url, stream=True, timeout=self._timeout, allow_redirects=False) as reply:
                if reply.status_code != 200:
                    raise ForgeError(f"download of {path}: HTTP {reply.status_code} from the blob host")
                yield from reply.iter_content(CHUNK_BYTES)
        except requests.exceptions.RequestException as exc:
            raise ForgeError(f"download of {path}: {type(exc).__name__}") from None


def _no_auth(request: Any) -> Any:
    return request


def anonymous_session() -> requests.Session:
    session = requests.Session()
    session.auth = _no_auth  # any auth set stops requests from sending ~/.netrc credentials to the blob host
    return session


def _run(item: Mapping[str, Any], workflow: str) -> WorkflowRun:
    return WorkflowRun(
        id=int(item["id"]),
        workflow=workflow,
        conclusion=item.get("conclusion"),
        created_at=item["created_at"],
        run_attempt=int(item.get("run_attempt") or 1),
        html_url=str(item.get("html_url") or ""),
    )


def _job(item: Mapping[str, Any], run_id: int) -> WorkflowJob:
    return WorkflowJob(
        id=int(item["id"]), run_id=run_id, name=str(item.get("name") or ""), conclusion=item.get("conclusion")
    )


def _artifact(item: Mapping[str, Any], run_id: int) -> Artifact:
    return Artifact(
        id=int(item["id"]),
        run_id=run_id,
        name=str(item.get("name") or ""),
        size_in_bytes=int(item.get("size_in_bytes") or 0),
        expired=bool(item.get("expired")),
    )


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
