"""GitHubForge against the stateful fake: listing with ETags, writes, contents, retries, ambiguity, counting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trace_harness.config import Permission
from trace_harness.errors import ForgeConflict, ForgeError, ForgeNotFound, ForgeOutcomeUnknown
from trace_harness.forge.base import LabelSpec, MemoryListCache, permission_from_role
from trace_harness.forge.github import GitHubForge
from trace_harness.forge.retry import RetryPolicy, rate_limit_wait
from trace_harness.identity import cluster_label, cluster_marker
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub
from trace_harness.testing.faults import Fault, FaultPlan

REPO = "octo/demo"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakeGitHub]:
    with FakeGitHub(REPO, clock=clock) as gh:
        yield gh


def make_forge(clock: FakeClock, **kw: object) -> GitHubForge:
    return GitHubForge(REPO, "test-token", clock=clock, sleep=clock.sleep, throttle=False, **kw)  # type: ignore[arg-type]


@pytest.fixture
def forge(fake: FakeGitHub, clock: FakeClock) -> GitHubForge:
    return make_forge(clock)


def seed_tracked(fake: FakeGitHub, count: int) -> None:
    for n in range(count):
        cid = f"oom-{n:08x}"
        fake.seed_issue(f"issue {n}", cluster_marker(cid), ("trace-harness", cluster_label(cid)))


# -- construction and listing ---------------------------------------------------------------------


def test_constructing_makes_no_request(fake: FakeGitHub, clock: FakeClock) -> None:
    forge = make_forge(clock)
    assert fake.requests == [] and forge.requests_made == 0


def test_list_paginates_by_label_with_state_all_and_never_searches(fake: FakeGitHub, forge: GitHubForge) -> None:
    seed_tracked(fake, 250)
    fake.seed_issue("unrelated", "", ("bug",))
    fake.seed_issue("a PR", "", ("trace-harness",), pull_request=True)
    issues = forge.tracked_issues()
    assert [i.number for i in issues] == list(range(1, 251))
    assert [i.cluster_id for i in issues[:2]] == ["oom-00000000", "oom-00000001"]
    assert [(r.params["page"], r.params["labels"], r.params["state"]) for r in fake.requests] == [
        (str(p), "trace-harness", "all") for p in (1, 2, 3)
    ]
    assert fake.count(path_regex="search") == 0


def test_unchanged_list_is_one_conditional_request(fake: FakeGitHub, forge: GitHubForge) -> None:
    seed_tracked(fake, 3)
    first = forge.tracked_issues()
    before = forge.requests_made
    second = forge.tracked_issues()
    assert second == first
    assert forge.requests_made - before == 1
    assert fake.requests[-1].headers["if-none-match"].startswith('W/"')


def test_etag_cache_survives_a_new_forge_instance(fake: FakeGitHub, clock: FakeClock) -> None:
    seed_tracked(fake, 2)
    cache = MemoryListCache()
    listed = make_forge(clock, list_cache=cache).tracked_issues()
    again = make_forge(clock, list_cache=cache)
    assert again.tracked_issues() == listed and again.requests_made == 1


def test_a_change_invalidates_the_cached_page(fake: FakeGitHub, forge: GitHubForge, clock: FakeClock) -> None:
    seed_tracked(fake, 2)
    forge.tracked_issues()
    clock.advance(10)
    fake.issues[2]["title"] = "edited on github"
    assert [i.title for i in forge.tracked_issues()] == ["issue 0", "edited on github"]


# -- writes -------------------------------------------------------------------------------------


def test_create_update_comment_send_the_expected_bodies(fake: FakeGitHub, forge: GitHubForge) -> None:
    issue = forge.create_issue("title", cluster_marker("oom-00000001"), ["trace-harness"])
    forge.update_issue(issue.number, state="closed", state_reason="not_planned")
    forge.comment(issue.number, "closing")
    bodies = [(r.method, r.json) for r in fake.requests]
    assert bodies == [
        ("POST", {"title": "title", "body": cluster_marker("oom-00000001"), "labels": ["trace-harness"]}),
        ("PATCH", {"state": "closed", "state_reason": "not_planned"}),
        ("POST", {"body": "closing"}),
    ]
    assert issue.url == f"https://github.com/{REPO}/issues/1"


def test_ensure_labels_writes_only_what_differs(fake: FakeGitHub, forge: GitHubForge) -> None:
    fake.labels["trace-harness"] = {"color": "aabbcc", "description": "same"}
    fake.labels["trace-harness:approved"] = {"color": "000000", "description": "old"}
    forge.ensure_labels(
        [
            LabelSpec(name="trace-harness", color="AABBCC", description="same"),
            LabelSpec(name="trace-harness:approved", color="00ff00", description="new"),
            LabelSpec(name="trace-harness:regressed", color="ff0000", description=""),
        ]
    )
    writes = [(r.method, r.path) for r in fake.requests if r.method != "GET"]
    assert writes == [
        ("PATCH", f"/repos/{REPO}/labels/trace-harness%3Aapproved"),
        ("POST", f"/repos/{REPO}/labels"),
    ]
    assert fake.labels["trace-harness:approved"] == {"color": "00ff00", "description": "new"}


def test_permission_reads_role_name(fake: FakeGitHub, forge: GitHubForge) -> None:
    fake.roles.update(keeper="maintain", sorter="triage", dev="write")
    assert [forge.permission(u) for u in ("keeper", "sorter", "dev")] == [
        Permission.MAINTAIN,
        Permission.TRIAGE,
        Permission.WRITE,
    ]


def test_custom_role_falls_back_to_coarse_permission() -> None:
    assert permission_from_role("release-manager", "write") is Permission.WRITE
    assert permission_from_role(None, None) is Permission.NONE


def test_dispatch_posts_ref_and_inputs(fake: FakeGitHub, forge: GitHubForge) -> None:
    forge.dispatch("trace-harness.yml", "main", {"mode": "issue"})
    [request] = fake.requests
    assert (request.path, request.json) == (
        f"/repos/{REPO}/actions/workflows/trace-harness.yml/dispatches",
        {"ref": "main", "inputs": {"mode": "issue"}},
    )


def test_visibility_is_read_once(fake: FakeGitHub, forge: GitHubForge) -> None:
    assert forge.is_public() and forge.is_public()
    assert forge.requests_made == 1


# -- contents -----------------------------------------------------------------------------------


def test_contents_roundtrip_on_a_new_branch(fake: FakeGitHub, forge: GitHubForge) -> None:
    forge.ensure_branch("trace-harness/state")
    forge.ensure_branch("trace-harness/state")  # second call finds it
    assert forge.read_file("trace-harness/state", "issues.json") is None
    sha = forge.write_file("trace-harness/state", "issues.json", b'{"a": 1}', None, "state: init")
    assert forge.read_file("trace-harness/state", "issues.json") == (b'{"a": 1}', sha)
    new_sha = forge.write_file("trace-harness/state", "issues.json", b'{"a": 2}', sha, "state: update")
    assert new_sha != sha and fake.count("POST", "git/refs") == 1


def test_stale_or_missing_sha_is_a_conflict(forge: GitHubForge) -> None:
    sha = forge.write_file("main", "ledger.jsonl", b"one\n", None, "m")
    forge.write_file("main", "ledger.jsonl", b"two\n", sha, "m")
    with pytest.raises(ForgeConflict):
        forge.write_file("main", "ledger.jsonl", b"three\n", sha, "m")
    with pytest.raises(ForgeConflict):
        forge.write_file("main", "ledger.jsonl", b"three\n", None, "m")


def test_read_files_is_one_graphql_request_with_contents_api_shas(fake: FakeGitHub, forge: GitHubForge) -> None:
    branch = "trace-harness/state"
    forge.ensure_branch(branch)
    shas = {name: forge.write_file(branch, name, text, None, "m") for name, text in FILES.items()}
    before = len(fake.requests)
    found = forge.read_files(branch, [*FILES, "cursor.json", 'odd "name".json'])
    assert [(r.method, r.path) for r in fake.requests[before:]] == [("POST", "/graphql")]
    assert found == {**{n: (FILES[n], shas[n]) for n in FILES}, "cursor.json": None, 'odd "name".json': None}
    assert found["ledger.jsonl"] == forge.read_file(branch, "ledger.jsonl")  # sha-checked writes keep working
    forge.write_file(branch, "ledger.jsonl", b"{}\n{}\n", shas["ledger.jsonl"], "m")


FILES = {"issues.json": b'{"clusters": {}}\n', "ledger.jsonl": b"{}\n", "manifests/a.json": "é\n".encode()}


def test_read_files_on_a_missing_branch_finds_nothing(fake: FakeGitHub, forge: GitHubForge) -> None:
    assert forge.read_files("nowhere", ["issues.json"]) == {"issues.json": None}
    assert forge.read_files("nowhere", []) == {} and fake.count("POST", "graphql") == 1


def test_a_truncated_blob_falls_back_to_the_contents_api(fake: FakeGitHub, forge: GitHubForge) -> None:
    fake.git.graphql_text_limit = 8
    sha = forge.write_file("main", "ledger.jsonl", b"0123456789abcdef\n", None, "m")
    assert forge.read_files("main", ["ledger.jsonl"]) == {"ledger.jsonl": (b"0123456789abcdef\n", sha)}
    assert fake.count("GET", "/contents/ledger.jsonl") == 1


def test_read_files_of_a_folder_or_unknown_repo_fails(fake: FakeGitHub, forge: GitHubForge, clock: FakeClock) -> None:
    forge.write_file("main", "manifests/a.json", b"{}", None, "m")
    with pytest.raises(ForgeError, match="not a file"):
        forge.read_files("main", ["manifests"])
    with pytest.raises(ForgeNotFound):
        GitHubForge("octo/other", "t", clock=clock, sleep=clock.sleep, throttle=False).read_files("main", ["x"])


def test_read_files_retries_faults_and_is_not_paced(fake: FakeGitHub, clock: FakeClock) -> None:
    forge = GitHubForge(REPO, "t", clock=clock, sleep=clock.sleep)
    fake.faults.on("POST", "graphql", Fault.BAD_GATEWAY).on("POST", "graphql", Fault.SECONDARY_RATE_LIMIT)
    sha = forge.write_file("main", "issues.json", b"{}", None, "m")
    slept = len(clock.sleeps)
    assert forge.read_files("main", ["issues.json"]) == {"issues.json": (b"{}", sha)}
    assert clock.sleeps[slept:] == [1.0, 7.0] and fake.count("POST", "graphql") == 3


def test_read_snapshot_lists_a_folder_in_the_same_request(fake: FakeGitHub, forge: GitHubForge) -> None:
    shas = {name: forge.write_file("main", name, text, None, "m") for name, text in FILES.items()}
    forge.write_file("main", "manifests/deeper/b.json", b"{}", None, "m")  # a sub-folder is not listed
    before = len(fake.requests)
    snapshot = forge.read_snapshot("main", ["issues.json", "cursor.json"], ["manifests", "absent"])
    assert [(r.method, r.path) for r in fake.requests[before:]] == [("POST", "/graphql")]
    assert snapshot.folders == {"manifests": {"manifests/a.json": shas["manifests/a.json"]}, "absent": {}}
    assert snapshot.files == {
        "issues.json": (FILES["issues.json"], shas["issues.json"]),
        "cursor.json": None,
        "manifests/a.json": (FILES["manifests/a.json"], shas["manifests/a.json"]),
    }


def test_a_truncated_folder_blob_is_listed_but_not_read(fake: FakeGitHub, forge: GitHubForge) -> None:
    fake.git.graphql_text_limit = 4
    sha = forge.write_file("main", "manifests/big.json", b"0123456789", None, "m")
    snapshot = forge.read_snapshot("main", [], ["manifests"])
    assert snapshot.folders == {"manifests": {"manifests/big.json": sha}} and snapshot.files == {}
    assert fake.count("GET", "/contents/") == 0  # read through the Contents API only when wanted


def test_delete_file_is_sha_checked(fake: FakeGitHub, forge: GitHubForge) -> None:
    old = forge.write_file("main", "manifests/a.json", b"1", None, "m")
    new = forge.write_file("main", "manifests/a.json", b"2", old, "m")
    with pytest.raises(ForgeConflict):
        forge.delete_file("main", "manifests/a.json", old, "prune")
    forge.delete_file("main", "manifests/a.json", new, "prune")
    assert forge.read_file("main", "manifests/a.json") is None
    with pytest.raises(ForgeNotFound):
        forge.delete_file("main", "manifests/a.json", new, "prune")
    assert fake.requests[-1].json == {"message": "prune", "sha": new, "branch": "main"}


def test_a_delete_applied_then_lost_is_retried_and_finds_the_file_gone(fake: FakeGitHub, forge: GitHubForge) -> None:
    sha = forge.write_file("main", "manifests/a.json", b"1", None, "m")
    fake.faults.on("DELETE", "/contents/", Fault.APPLIED_BAD_GATEWAY)
    with pytest.raises(ForgeNotFound):  # the state store takes this as "already gone"
        forge.delete_file("main", "manifests/a.json", sha, "prune")
    assert fake.count("DELETE", "/contents/") == 2 and ("main", "manifests/a.json") not in fake.git.files


# -- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "sleeps"),
    [
        ([Fault.BAD_GATEWAY], [1.0]),
        ([Fault.SERVER_ERROR, Fault.UNAVAILABLE], [1.0, 2.0]),
        ([Fault.SECONDARY_RATE_LIMIT], [7.0]),
        ([Fault.TOO_MANY_RETRY_AFTER], [7.0]),
        ([Fault.TOO_MANY], [60.0]),
        ([Fault.TOO_MANY, Fault.TOO_MANY], [60.0, 120.0]),
        ([Fault.PRIMARY_RATE_LIMIT], [31.0]),
        ([Fault.TIMEOUT, Fault.RESET], [1.0, 2.0]),
    ],
)
def test_reads_retry_with_the_right_waits(
    fake: FakeGitHub, forge: GitHubForge, clock: FakeClock, faults: list[Fault], sleeps: list[float]
) -> None:
    seed_tracked(fake, 1)
    for index, fault in enumerate(faults):
        fake.faults.at(index, fault)
    assert [i.number for i in forge.tracked_issues()] == [1]
    assert clock.sleeps == sleeps
    assert forge.requests_made == len(fake.requests) == len(faults) + 1


def test_rate_limited_create_is_retried_and_files_once(fake: FakeGitHub, forge: GitHubForge) -> None:
    fake.faults.on("POST", "/issues$", Fault.SECONDARY_RATE_LIMIT).on("POST", "/issues$", Fault.TOO_MANY)
    forge.create_issue("t", "b", ["trace-harness"])
    assert len(fake.issues) == 1 and forge.requests_made == 3


def test_idempotent_patch_is_retried_after_a_reset(fake: FakeGitHub, forge: GitHubForge) -> None:
    number = fake.seed_issue("t", "", ("trace-harness",))
    fake.faults.on("PATCH", "/issues/", Fault.APPLIED_TIMEOUT)
    assert forge.update_issue(number, body="new").body == "new"


@pytest.mark.parametrize("fault", [Fault.APPLIED_BAD_GATEWAY, Fault.APPLIED_TIMEOUT, Fault.BAD_GATEWAY, Fault.RESET])
def test_ambiguous_create_is_never_resent(fake: FakeGitHub, forge: GitHubForge, fault: Fault) -> None:
    fake.faults.on("POST", "/issues$", fault)
    with pytest.raises(ForgeOutcomeUnknown):
        forge.create_issue("t", cluster_marker("oom-00000001"), ["trace-harness"])
    assert fake.count("POST") == 1
    adopted = forge.tracked_issues()  # the driver re-lists and adopts
    assert [i.cluster_id for i in adopted] == (["oom-00000001"] if fault.applies_first else [])


def test_ambiguous_comment_and_dispatch_are_not_resent(fake: FakeGitHub, forge: GitHubForge) -> None:
    number = fake.seed_issue("t", "", ("trace-harness",))
    fake.faults.on("POST", "/comments$", Fault.APPLIED_TIMEOUT).on("POST", "/dispatches$", Fault.APPLIED_BAD_GATEWAY)
    with pytest.raises(ForgeOutcomeUnknown):
        forge.comment(number, "hello")
    with pytest.raises(ForgeOutcomeUnknown):
        forge.dispatch("ci.yml", "main", {})
    assert len(fake.comments) == 1 and len(fake.dispatches) == 1


def test_gives_up_after_max_attempts(fake: FakeGitHub, forge: GitHubForge, clock: FakeClock) -> None:
    fake.faults.on("GET", "/issues$", Fault.UNAVAILABLE, times=10)
    with pytest.raises(ForgeError, match="5 attempts"):
        forge.tracked_issues()
    assert forge.requests_made == 5 and clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_a_long_rate_limit_fails_instead_of_sleeping(fake: FakeGitHub, clock: FakeClock) -> None:
    fake.faults.reset_in = 3600
    fake.faults.at(0, Fault.PRIMARY_RATE_LIMIT)
    forge = make_forge(clock, policy=RetryPolicy(max_wait=900))
    with pytest.raises(ForgeError, match="rate limited"):
        forge.tracked_issues()
    assert clock.sleeps == []


def test_client_errors_are_not_retried(fake: FakeGitHub, forge: GitHubForge) -> None:
    with pytest.raises(ForgeNotFound, match="HTTP 404"):
        forge.update_issue(7, body="x")
    assert forge.requests_made == 1


@pytest.mark.parametrize("seed", range(8))
def test_random_read_faults_never_change_the_listing(clock: FakeClock, seed: int) -> None:
    kinds = (Fault.BAD_GATEWAY, Fault.SECONDARY_RATE_LIMIT, Fault.TOO_MANY, Fault.TIMEOUT, Fault.RESET)
    with FakeGitHub(REPO, clock=clock, faults=FaultPlan(seed=seed, rate=0.3, kinds=kinds)) as fake:
        seed_tracked(fake, 120)
        forge = make_forge(clock, policy=RetryPolicy(max_attempts=12))
        assert [i.number for i in forge.tracked_issues()] == list(range(1, 121))
        assert forge.requests_made == len(fake.requests) == 2 + len(fake.faults.injected)


# -- pacing and counting ------------------------------------------------------------------------------


def test_writes_are_paced_under_80_per_minute(fake: FakeGitHub, clock: FakeClock) -> None:
    forge = GitHubForge(REPO, "t", clock=clock, sleep=clock.sleep, throttle=True)
    start = clock()
    number = forge.create_issue("t", "", ["trace-harness"]).number
    for n in range(80):
        forge.comment(number, f"c{n}")
    assert (clock() - start).total_seconds() >= 60.0
    assert all(s <= 0.75 for s in clock.sleeps)


def test_requests_made_counts_every_attempt(fake: FakeGitHub, forge: GitHubForge) -> None:
    fake.faults.at(1, Fault.BAD_GATEWAY).at(3, Fault.SECONDARY_RATE_LIMIT)
    issue = forge.create_issue("t", "", ["trace-harness"])
    forge.update_issue(issue.number, labels=["trace-harness", "x"])
    forge.tracked_issues()
    forge.permission("someone")
    assert forge.requests_made == len(fake.requests) == 6


@given(st.integers(min_value=0, max_value=3600), st.sampled_from([403, 429]))
def test_retry_after_always_wins(seconds: int, status: int) -> None:
    headers = {"Retry-After": str(seconds), "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}
    wait = rate_limit_wait(status, headers, "", datetime(2026, 1, 1, tzinfo=UTC), 0, RetryPolicy())
    assert wait == seconds


def test_plain_403_is_not_a_rate_limit() -> None:
    assert (
        rate_limit_wait(403, {}, "Resource not accessible by integration", datetime.now(UTC), 0, RetryPolicy()) is None
    )
