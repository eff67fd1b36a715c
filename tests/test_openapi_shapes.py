"""Every request GitHubForge makes must be one GitHub documents: checked against the official OpenAPI description.

A workload drives every adapter operation (retries included) against the fake; each recorded request must
match a path template and method, use only that operation's query parameters, and carry a JSON body that
validates against the operation's requestBody schema (OpenAPI 3.0 ``nullable`` mapped to JSON Schema types).
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft4Validator

from conftest import SHARED
from trace_harness.errors import ForgeNotFound
from trace_harness.forge.base import LabelSpec
from trace_harness.forge.github import GitHubForge
from trace_harness.identity import cluster_label, cluster_marker
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_git import blob_sha
from trace_harness.testing.fake_github import FakeGitHub, RecordedRequest
from trace_harness.testing.faults import Fault

SPEC_PATH = SHARED / "data" / "github-openapi" / "api.github.com.json"
pytestmark = pytest.mark.skipif(not SPEC_PATH.exists(), reason="GitHub OpenAPI description not available")
_MULTI_SEGMENT = {"path", "ref"}  # contents paths and git refs contain slashes


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return loaded


@cache
def _template_regex(template: str, loose: bool) -> re.Pattern[str]:
    def param(match: re.Match[str]) -> str:
        return "(.+)" if loose or match[1] in _MULTI_SEGMENT else "([^/]+)"

    return re.compile(re.sub(r"\\\{(\w[\w-]*)\\\}", param, re.escape(template)))


def find_operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The documented template for ``path``; among several matches, the most literal one wins."""
    candidates = []
    for template, item in spec()["paths"].items():
        if method.lower() in item and _template_regex(template, loose=False).fullmatch(path):
            candidates.append((len(re.sub(r"\{[^}]+\}", "", template)), template))
    if not candidates:
        return None
    template = max(candidates)[1]
    return template, spec()["paths"][template][method.lower()]


def resolve(node: Any, seen: frozenset[str] = frozenset()) -> Any:
    """Inline ``#/components`` refs and turn OpenAPI 3.0 ``nullable`` into JSON Schema's null type."""
    if isinstance(node, list):
        return [resolve(item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            return {}  # recursive schema: deep enough for request bodies
        target: Any = spec()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return resolve(target, seen | {ref})
    out = {key: resolve(value, seen) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if node.get("nullable") and "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def graphql_problems(body: Any) -> list[str]:
    """``POST /graphql`` is GraphQL's one endpoint, outside the REST description: check its envelope instead."""
    if not isinstance(body, dict) or set(body) != {"query", "variables"}:
        return ["/graphql: body must be exactly {query, variables}"]
    if not str(body["query"]).startswith("query(") or "mutation" in body["query"]:
        return ["/graphql: only read queries are sent"]
    return [f"/graphql: variable {k} is not a string" for k, v in body["variables"].items() if not isinstance(v, str)]


def problems(request: RecordedRequest) -> list[str]:
    if (request.method, request.path) == ("POST", "/graphql"):
        return graphql_problems(request.json)
    found = find_operation(request.method, request.path)
    if found is None:
        return [f"{request.method} {request.path}: no documented operation"]
    template, operation = found
    params = [resolve(p) for p in operation.get("parameters", [])]
    allowed = {p["name"] for p in params if p["in"] == "query"}
    errors = [f"{template}: unknown query parameter {name!r}" for name in request.params if name not in allowed]
    return errors + body_problems(template, operation, request.json)


def body_problems(template: str, operation: dict[str, Any], body: Any) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    if body is None:
        return [f"{template}: required body missing"] if operation.get("requestBody", {}).get("required") else []
    schema = resolve(content.get("application/json", {}).get("schema"))
    if schema is None:
        return [f"{template}: sends a body the operation does not take"]
    errors = [f"{template}: {error.message}" for error in Draft4Validator(schema).iter_errors(body)]
    declared = schema.get("properties", {})
    return errors + [f"{template}: undocumented field {key!r}" for key in body if declared and key not in declared]


def workload(fake: FakeGitHub, forge: GitHubForge) -> None:
    """Every adapter operation, with a retried read and a retried write."""
    fake.faults.at(0, Fault.BAD_GATEWAY)
    fake.seed_issue("seeded", cluster_marker("oom-00000001"), ("trace-harness",))
    forge.tracked_issues()
    forge.tracked_issues()
    issue = forge.create_issue("t", cluster_marker("oom-00000002"), ["trace-harness", cluster_label("oom-00000002")])
    forge.update_issue(issue.number, body="b", labels=["trace-harness"], state="closed", state_reason="not_planned")
    forge.update_issue(issue.number, state="open")
    forge.get_issue(issue.number)
    fake.faults.on("POST", "/comments$", Fault.SECONDARY_RATE_LIMIT)
    forge.comment(issue.number, "hello")
    forge.list_comments(issue.number, since=fake.clock())
    fake.labels["trace-harness"] = {"color": "000000", "description": ""}
    forge.ensure_labels([LabelSpec(name="trace-harness", color="aabbcc"), LabelSpec(name="x:y", color="112233")])
    forge.permission("octocat")
    forge.dispatch("trace-harness.yml", "main", {"mode": "issue"})
    forge.is_public()
    forge.ensure_branch("trace-harness/state")
    forge.read_file("trace-harness/state", "ledger.jsonl")
    forge.read_files("trace-harness/state", ["ledger.jsonl", "issues.json"])
    actions_workload(fake, forge)


def actions_workload(fake: FakeGitHub, forge: GitHubForge) -> None:
    """Evidence collection: runs in the window, failed jobs, a job log and an artifact zip (302s)."""
    run_id = fake.git.add_run("ci.yml")
    job_id = fake.git.add_job(run_id, "test", "log\n")
    artifact_id = fake.git.add_artifact(run_id, "worker-logs", b"PK\x05\x06" + bytes(18))
    forge.actions.failed_runs("ci.yml", fake.clock() - timedelta(days=7))
    forge.actions.failed_jobs(run_id)
    forge.actions.artifacts(run_id, ["worker-logs*"])
    b"".join(forge.actions.job_log(job_id))
    b"".join(forge.actions.artifact_zip(artifact_id))
    sha = forge.write_file("trace-harness/state", "ledger.jsonl", b"{}\n", None, "state")
    forge.write_file("trace-harness/state", "ledger.jsonl", b"{}\n{}\n", sha, "state")
    old = forge.write_file("trace-harness/state", "manifests/2026-01-01-r.json", b"{}", None, "state")
    forge.read_snapshot("trace-harness/state", ["ledger.jsonl"], ["manifests"])
    fake.faults.on("DELETE", "/contents/", Fault.APPLIED_BAD_GATEWAY)  # retried: the retry answers 404
    with pytest.raises(ForgeNotFound):
        forge.delete_file("trace-harness/state", "manifests/2026-01-01-r.json", old, "prune")
    forge.write_file("trace-harness/state", "manifests/2026-01-02-r.json", b"{}", None, "state")
    forge.delete_file("trace-harness/state", "manifests/2026-01-02-r.json", blob_sha(b"{}"), "prune")


@pytest.fixture(scope="module")
def ran_workload() -> FakeGitHub:
    clock = FakeClock()
    with FakeGitHub("octo/demo", clock=clock) as fake:
        workload(fake, GitHubForge("octo/demo", "t", clock=clock, sleep=clock.sleep))
    return fake


@pytest.fixture
def recorded(ran_workload: FakeGitHub) -> list[RecordedRequest]:
    return ran_workload.requests


@pytest.fixture
def fake_replies(ran_workload: FakeGitHub) -> list[tuple[RecordedRequest, int, Any]]:
    return ran_workload.replies


def test_every_request_matches_the_openapi_description(recorded: list[RecordedRequest]) -> None:
    assert [problem for request in recorded for problem in problems(request)] == []


def test_the_workload_covers_every_operation_the_adapter_uses(recorded: list[RecordedRequest]) -> None:
    used = {op["operationId"] for r in recorded if (found := find_operation(r.method, r.path)) for op in [found[1]]}
    assert used == {
        "issues/list-for-repo",
        "issues/create",
        "issues/get",
        "issues/update",
        "issues/create-comment",
        "issues/list-comments",
        "issues/list-labels-for-repo",
        "issues/create-label",
        "issues/update-label",
        "repos/get-collaborator-permission-level",
        "actions/create-workflow-dispatch",
        "repos/get",
        "repos/get-content",
        "repos/create-or-update-file-contents",
        "repos/delete-file",
        "git/get-ref",
        "git/create-ref",
        "actions/list-workflow-runs",
        "actions/list-jobs-for-workflow-run",
        "actions/list-workflow-run-artifacts",
        "actions/download-job-logs-for-workflow-run",
        "actions/download-artifact",
    }


# The fake answers these with the fields consumers read, not GitHub's full (60+ field) objects.
_PARTIAL_RESPONSES = {
    "repos/get",
    "actions/list-workflow-runs",
    "actions/list-jobs-for-workflow-run",
}


def test_the_fake_answers_in_github_shapes(fake_replies: list[tuple[RecordedRequest, int, Any]]) -> None:
    errors = []
    for request, status, payload in fake_replies:
        found = find_operation(request.method, request.path)
        if payload is None or found is None or found[1]["operationId"] in _PARTIAL_RESPONSES:
            continue
        response = resolve(found[1]["responses"].get(str(status), {}))
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        errors += [f"{request.path} {status}: {e.message}" for e in Draft4Validator(schema or {}).iter_errors(payload)]
    assert errors == []


def test_checker_rejects_what_github_would_reject() -> None:
    bad = [
        RecordedRequest("GET", "/repos/o/r/issues", {"q": "label:x"}, None, {}),
        RecordedRequest("POST", "/repos/o/r/issues", {}, {"body": "no title"}, {}),
        RecordedRequest("PATCH", "/repos/o/r/issues/1", {}, {"state": "shut"}, {}),
        RecordedRequest("POST", "/repos/o/r/issues/1/comments", {}, {"body": "x", "pinned": True}, {}),
        RecordedRequest("GET", "/search/nowhere", {}, None, {}),
        RecordedRequest("POST", "/graphql", {}, {"query": "mutation { x }", "variables": {}}, {}),
        RecordedRequest("POST", "/graphql", {}, {"query": "query { x }", "variables": {"n": 1}, "extra": 1}, {}),
    ]
    assert all(problems(request) for request in bad)
