"""The state store: both backends, version-checked writes, and merging instead of overwriting."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trace_harness.errors import ForgeConflict, ForgeNotFound, StateError
from trace_harness.forge.base import BranchSnapshot, CachedList, CachedPage, TrackedIssue
from trace_harness.forge.github import GitHubForge
from trace_harness.state import (
    ISSUES,
    LEDGER,
    MAX_PRUNE_PER_RUN,
    BranchStore,
    ClusterRecord,
    ContentsApi,
    DirectoryStore,
    IssueMap,
    StateStore,
    merge_issue_map,
)
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub
from trace_harness.testing.faults import Fault, FaultPlan


class MemoryContents:
    """An in-memory Contents API with blob shas; ``before_write`` lets a test race a write."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, str]] = {}
        self.branches: set[str] = set()
        self.before_write: Callable[[str], None] | None = None
        self.batch_reads = 0

    def read_file(self, branch: str, path: str) -> tuple[bytes, str] | None:
        found = self.files.get(f"{branch}:{path}")
        return (found[0].encode(), found[1]) if found else None

    def read_snapshot(self, branch: str, paths: Sequence[str], folders: Sequence[str] = ()) -> BranchSnapshot:
        self.batch_reads += 1
        listed = {folder: self._folder(branch, folder) for folder in folders}
        files = {path: self.read_file(branch, path) for path in [*paths, *(p for f in listed.values() for p in f)]}
        return BranchSnapshot(files=files, folders=listed)

    def _folder(self, branch: str, folder: str) -> dict[str, str]:
        inside = {key.removeprefix(f"{branch}:"): sha for key, (_text, sha) in self.files.items()}
        return {path: sha for path, sha in inside.items() if path.startswith(f"{folder}/")}

    def delete_file(self, branch: str, path: str, sha: str, message: str) -> None:
        current = self.files.get(f"{branch}:{path}")
        if current is None:
            raise ForgeNotFound(path)
        if current[1] != sha:
            raise ForgeConflict(f"{path} does not match {sha}")
        del self.files[f"{branch}:{path}"]

    def write_file(self, branch: str, path: str, content: bytes, sha: str | None, message: str) -> str:
        if branch not in self.branches:
            raise ForgeNotFound(f"no branch {branch}")
        hook, self.before_write = self.before_write, None
        if hook:
            hook(path)
        current = self.files.get(f"{branch}:{path}")
        if (current[1] if current else None) != sha:
            raise ForgeConflict(f"{path} does not match {sha}")
        new_sha = hashlib.sha1(content).hexdigest()
        self.files[f"{branch}:{path}"] = (content.decode(), new_sha)
        return new_sha

    def ensure_branch(self, branch: str) -> None:
        self.branches.add(branch)


StoreFactory = Callable[[], tuple[StateStore, Callable[[], StateStore]]]


def _directory(tmp_path: Path) -> tuple[StateStore, Callable[[], StateStore]]:
    return DirectoryStore(tmp_path / "state"), lambda: DirectoryStore(tmp_path / "state")


def _branch(_tmp_path: Path) -> tuple[StateStore, Callable[[], StateStore]]:
    contents = MemoryContents()
    return BranchStore(contents), lambda: BranchStore(contents)


@pytest.fixture(params=[_directory, _branch], ids=["directory", "branch"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[StateStore, Callable[[], StateStore]]:
    factory: Callable[[Path], tuple[StateStore, Callable[[], StateStore]]] = request.param
    return factory(tmp_path)


def test_ledger_lines_from_two_racing_runs_are_both_kept(stores: tuple[StateStore, Callable[[], StateStore]]) -> None:
    first, make_other = stores
    first.append_ledger(['{"run_id":"a"}'])
    assert first.ledger_text() == '{"run_id":"a"}\n'
    other = make_other()
    other.append_ledger(['{"run_id":"b"}'])  # written behind first's cached version
    first.append_ledger(['{"run_id":"c"}'])
    final = make_other().ledger_text().splitlines()
    assert final == ['{"run_id":"a"}', '{"run_id":"b"}', '{"run_id":"c"}']


def test_a_repeated_ledger_line_is_written_once(stores: tuple[StateStore, Callable[[], StateStore]]) -> None:
    store, make_other = stores
    store.append_ledger(['{"run_id":"a"}'])
    make_other().append_ledger(['{"run_id":"a"}', '{"run_id":"b"}'])
    assert make_other().ledger_text().splitlines() == ['{"run_id":"a"}', '{"run_id":"b"}']


def test_issue_maps_merge_key_wise(stores: tuple[StateStore, Callable[[], StateStore]]) -> None:
    store, make_other = stores
    store.save_issue_map({"alpha-00000001": ClusterRecord(issue=3)})
    assert store.issue_map().clusters["alpha-00000001"].issue == 3
    make_other().save_issue_map({"beta-00000002": ClusterRecord(issue=4)})
    store.save_issue_map({"alpha-00000001": ClusterRecord(issue=3, rejected_at="2025-01-02T00:00:00Z")})
    merged = make_other().issue_map().clusters
    assert merged["beta-00000002"].issue == 4
    assert merged["alpha-00000001"].rejected_at == "2025-01-02T00:00:00Z"


def test_list_cache_round_trips_and_skips_unchanged_writes(
    stores: tuple[StateStore, Callable[[], StateStore]],
) -> None:
    store, make_other = stores
    now = datetime(2025, 1, 1, tzinfo=UTC)
    issue = TrackedIssue.build(body="x", labels=["trace-harness"], number=1, title="t", state="open",
                               created_at=now, updated_at=now)  # fmt: skip
    cached = CachedList(pages=(CachedPage(etag='W/"1"', has_next=False, issues=(issue,)),))
    store.put_list("issues", cached)
    reader = make_other()
    assert reader.get_list("issues") == cached
    before = reader.requests_made
    reader.put_list("issues", cached)
    assert reader.requests_made == before  # nothing changed: no write
    assert reader.get_list("other") is None


def _steady_run(store: StateStore, cached: CachedList) -> None:
    """What a run with nothing new does to the store: read the map and the list cache, append the ledger."""
    store.issue_map()
    store.put_list("issues", store.get_list("issues") or cached)
    store.read_json("cursor.json")
    store.save_issue_map({})
    store.append_ledger(['{"run_id":"steady"}'])


def _seeded_branch_store(contents: ContentsApi, cached: CachedList) -> None:
    seed = BranchStore(contents)
    seed.save_issue_map({"alpha-00000001": ClusterRecord(issue=1)})
    seed.put_list("issues", cached)
    seed.append_ledger(['{"run_id":"first"}'])


def test_a_steady_run_reads_once_and_writes_only_the_ledger() -> None:
    contents, cached = MemoryContents(), CachedList(pages=())
    _seeded_branch_store(contents, cached)
    before = dict(contents.files)
    contents.batch_reads = 0
    store = BranchStore(contents)
    _steady_run(store, cached)
    changed = {key for key, value in contents.files.items() if before.get(key) != value}
    assert (store.requests_made, contents.batch_reads) == (2, 1)
    assert changed == {f"trace-harness/state:{LEDGER}"}


def test_a_race_after_the_batch_read_still_merges() -> None:
    contents, cached = MemoryContents(), CachedList(pages=())
    _seeded_branch_store(contents, cached)
    store = BranchStore(contents)
    store.issue_map()  # the batch read; another run then appends before our write
    BranchStore(contents).append_ledger(['{"run_id":"other"}'])
    store.append_ledger(['{"run_id":"mine"}'])
    assert store.requests_made == 4  # batch read, stale write, fresh read, write
    assert BranchStore(contents).ledger_text().splitlines() == [
        '{"run_id":"first"}',
        '{"run_id":"other"}',
        '{"run_id":"mine"}',
    ]


def test_steady_run_on_the_fake_github_is_two_http_requests() -> None:
    clock = FakeClock()
    with FakeGitHub("octo/demo", clock=clock) as fake:
        client = GitHubForge("octo/demo", "t", clock=clock, sleep=clock.sleep, throttle=False)
        _seeded_branch_store(client, CachedList(pages=()))
        before = len(fake.requests)
        _steady_run(BranchStore(client), CachedList(pages=()))
        assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests[before:]] == [
            ("POST", "graphql"),
            ("PUT", LEDGER),
        ]


def test_ledger_rotates_into_a_monthly_file(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path, clock=lambda: "202501")
    big = "x" * 1000
    for index in range(1000):
        store.append_ledger([f'{{"run_id":"{index}","pad":"{big}"}}'])
    archive = (tmp_path / "ledger-202501.jsonl").read_text().splitlines()
    current = (tmp_path / LEDGER).read_text().splitlines()
    assert len(archive) + len(current) == 1000
    assert (tmp_path / LEDGER).stat().st_size < 900 * 1024
    assert json.loads(current[-1])["run_id"] == "999"


@pytest.mark.parametrize(
    ("content", "first"),
    [
        (b"{not json", "first at top level: Invalid JSON"),
        (b"\xff\xfe{", "first at top level: Invalid JSON"),  # bytes that are not UTF-8: damage, not a crash
        (b'{"clusters": {"x": 5}}', "first at clusters.x: Input should be an object"),
    ],
)
def test_damaged_issue_map_is_a_state_error_that_says_where(tmp_path: Path, content: bytes, first: str) -> None:
    (tmp_path / ISSUES).write_bytes(content)
    with pytest.raises(StateError, match=f"{ISSUES} is damaged \\(1 problem\\(s\\); {first}.*delete it") as raised:
        DirectoryStore(tmp_path).issue_map()
    assert "\n" not in str(raised.value)


def test_damaged_cache_is_a_miss(tmp_path: Path) -> None:
    (tmp_path / "list-cache.json").write_text('{"issues": {"pages": "nope"}}')
    assert DirectoryStore(tmp_path).get_list("issues") is None


def test_manifests_are_written_listed_and_pruned(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.write_manifest("2025-01-01", "run1", {"n": 1})
    store.write_manifest("2025-01-09", "run2", {"n": 2})
    assert store.prune_manifests("2025-01-05") == 1
    assert store.manifest_names() == ["manifests/2025-01-09-run2.json"]


def _old_and_new_manifests(store: StateStore, old: int) -> None:
    for index in range(old):
        store.write_manifest("2025-01-01", f"old{index:02d}", {"n": index})
    store.write_manifest("2025-01-09", "new", {"n": "new"})


def test_manifests_come_with_the_batch_read_and_prune_a_few_per_run(
    stores: tuple[StateStore, Callable[[], StateStore]],
) -> None:
    seed, fresh = stores
    _old_and_new_manifests(seed, MAX_PRUNE_PER_RUN + 5)
    store = fresh()
    assert len(store.manifest_names()) == MAX_PRUNE_PER_RUN + 6
    assert store.read_json("manifests/2025-01-09-new.json") == {"n": "new"}
    assert store.read("manifests/2025-01-09-unknown.json") is None  # not listed: absent, no request
    assert store.ledger_text() == "" and store.requests_made == 1
    assert store.prune_manifests("2025-01-05") == MAX_PRUNE_PER_RUN
    assert store.requests_made == 1 + MAX_PRUNE_PER_RUN  # one delete each, nothing re-read
    assert fresh().prune_manifests("2025-01-05") == 5
    assert fresh().manifest_names() == ["manifests/2025-01-09-new.json"]


def test_pruning_a_manifest_changed_or_deleted_meanwhile(stores: tuple[StateStore, Callable[[], StateStore]]) -> None:
    seed, fresh = stores
    seed.write_manifest("2024-12-31", "gone", {"n": 1})
    _old_and_new_manifests(seed, 1)
    store = fresh()
    assert len(store.manifest_names()) == 3  # listed with their versions; then another run acts
    other = fresh()
    assert other.prune_manifests("2025-01-01") == 1
    other.update("manifests/2025-01-01-old00.json", lambda _text: "rewritten\n")
    assert store.prune_manifests("2025-01-05") == 1  # the gone one is fine, the rewritten one re-read
    assert fresh().manifest_names() == store.manifest_names() == ["manifests/2025-01-09-new.json"]


def test_branch_store_conflict_rereads_and_merges() -> None:
    contents = MemoryContents()
    store = BranchStore(contents)
    store.save_issue_map({"alpha-00000001": ClusterRecord(issue=1)})
    contents.before_write = lambda _path: BranchStore(contents).save_issue_map(
        {"beta-00000002": ClusterRecord(issue=2)}
    )
    store.save_issue_map({"gamma-00000003": ClusterRecord(issue=3)})
    final = BranchStore(contents).issue_map().clusters
    assert {key: record.issue for key, record in final.items()} == {
        "alpha-00000001": 1,
        "beta-00000002": 2,
        "gamma-00000003": 3,
    }
    assert contents.branches == {"trace-harness/state"}


def test_branch_store_gives_up_after_endless_conflicts() -> None:
    contents = MemoryContents()
    store = BranchStore(contents)
    races: list[int] = []

    def always_race(_path: str) -> None:
        races.append(1)
        BranchStore(contents).append_ledger([f'{{"race":{len(races)}}}'])
        contents.before_write = always_race

    contents.before_write = always_race
    with pytest.raises(StateError):
        store.append_ledger(['{"run_id":"mine"}'])


records = st.builds(
    ClusterRecord,
    issue=st.none() | st.integers(1, 50),
    rejected_at=st.none() | st.sampled_from(["2025-01-01", "2025-02-01"]),
)
maps = st.dictionaries(st.sampled_from(["a-1", "b-2", "c-3"]), records, max_size=3)


@settings(max_examples=100, deadline=None)
@given(fresh=maps, ours=maps)
def test_merge_never_loses_a_key_or_raises_an_issue_number(
    fresh: dict[str, ClusterRecord], ours: dict[str, ClusterRecord]
) -> None:
    merged = merge_issue_map(IssueMap(clusters=fresh), ours).clusters
    assert set(merged) == set(fresh) | set(ours)
    for key, record in merged.items():
        candidates = [r.issue for r in (fresh.get(key), ours.get(key)) if r is not None and r.issue is not None]
        assert record.issue == (min(candidates) if candidates else None)


def test_a_graphql_rate_limit_inside_a_200_waits_for_the_reset_and_retries() -> None:
    clock = FakeClock()
    faults = FaultPlan(reset_in=40)
    with FakeGitHub("octo/demo", clock=clock, faults=faults) as fake:
        client = GitHubForge("octo/demo", "t", clock=clock, sleep=clock.sleep, throttle=False)
        _seeded_branch_store(client, CachedList(pages=()))
        faults.on("POST", r"/graphql$", Fault.GRAPHQL_RATE_LIMITED)
        started, before = clock(), fake.count("POST", r"/graphql$")
        _steady_run(BranchStore(client), CachedList(pages=()))
        assert fake.count("POST", r"/graphql$") - before == 2  # limited, then answered
        assert [fault for *_, fault in faults.injected] == [Fault.GRAPHQL_RATE_LIMITED]
    assert (clock() - started).total_seconds() >= 40  # waited for the reset, on the injected clock
