"""aiops trace-evidence-manifest/v2: writing, bounds, round trip through the report, and strict reading."""

from __future__ import annotations

import io
import json
from pathlib import Path
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostile_json import json_values
from trace_harness.cli import manifest_cmd
from trace_harness.cluster import ClusterAccumulator, evidence_key
from trace_harness.config import Config
from trace_harness.errors import InputFormatError
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.manifest import SCHEMA, ManifestBuilder, fold_manifest, manifest_json, manifest_runs
from trace_harness.evidence.manifest_group import RunGroup, compact, finish_run, run_json
from trace_harness.evidence.worker_log import read_worker_log
from trace_harness.models import Finding
from trace_harness.pipeline import collect_report

SECRET_URL = "https://user:secret@example.test/org/repo.git"
LOG = "\n".join([
    "2026/06/18 09:00:00 event=runner_timeout task_id=run-1 issue_id=issue-1 session_id=session-1 msg=\"t\" "
    f"payload=map[elapsed_ms:6 output_head:{SECRET_URL}]",
    '2026/06/18 09:02:00 event=runner_end task_id=run-1 issue_id=issue-1 msg="runner failed" payload=map[ok:false]',
    '2026/06/18 09:01:00 event=turn_input_required task_id=run-2 issue_id=issue-2 msg="input" '
    "payload=map[method:approval]",
]) + "\n"  # fmt: skip


def build(log: str) -> dict[str, object]:
    builder = ManifestBuilder()
    for item in read_worker_log(io.BytesIO(log.encode()), "w.log", ReaderOptions()):
        assert isinstance(item, Finding)
        builder.add(item)
    return json.loads(manifest_json(builder.manifest([], "2026-06-19T00:00:00Z")))


def findings_of(log: str) -> list[Finding]:
    items = list(read_worker_log(io.BytesIO(log.encode()), "w.log", ReaderOptions()))
    return [item for item in items if isinstance(item, Finding)]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_manifest_groups_runs_by_class_and_redacts() -> None:
    manifest = build(LOG)
    assert manifest["schema_version"] == "trace-evidence-manifest/v2"
    runs = {run["run"]: run for run in manifest["runs"]}  # type: ignore[attr-defined]
    assert sorted(runs) == ["run-1", "run-2"]
    assert [event["class"] for event in runs["run-1"]["events"]] == ["runner-timeout", "runner-failure"]
    assert runs["run-1"]["affected_by_class"]["runner-timeout"]["sessions"] == ["session-1"]
    assert runs["run-1"]["events"][0]["metadata"] == {"elapsed_ms": "6", "timestamp": "2026/06/18 09:00:00"}
    assert "secret" not in json.dumps(manifest)


@settings(max_examples=20, deadline=None)
@given(st.randoms(use_true_random=False))
def test_kept_events_do_not_depend_on_order(random: Random) -> None:
    log = "".join(
        f"2026/06/18 09:{n % 7:02d}:00 event=runner_timeout task_id=run-1 issue_id=i-{n} "
        f'msg="{"x" * (n * 311 % 3000)}"\n'
        for n in range(60)
    )
    findings = [item for item in read_worker_log(io.BytesIO(log.encode()), "w.log", ReaderOptions())]
    shuffled = list(findings)
    random.shuffle(shuffled)
    outputs = []
    for order in (findings, shuffled):
        builder = ManifestBuilder()
        for item in order:
            assert isinstance(item, Finding)
            builder.add(item)
        outputs.append(manifest_json(builder.manifest([], "t")))
    assert outputs[0] == outputs[1]
    assert '"dropped_events"' in outputs[0]


def test_dropped_events_keep_their_ids_under_their_own_class(tmp_path: Path) -> None:
    filler = "x" * 3000
    lines = [
        f'2026/06/18 09:00:{n:02d} event=runner_timeout task_id=run-1 issue_id=issue-{n} msg="{filler}"'
        for n in range(40)
    ]
    lines.append('2026/06/18 09:59:00 event=turn_input_required task_id=run-1 issue_id=late-issue msg="i"')
    manifest = build("\n".join(lines) + "\n")
    (run,) = manifest["runs"]  # type: ignore[misc]
    assert run["dropped_events"] > 0
    assert all(event["class"] == "runner-timeout" for event in run["events"])
    assert run["affected_by_class"]["input-required"]["issues"] == ["late-issue"]

    path = write(tmp_path, "m.json", json.dumps(manifest))
    accumulator = ClusterAccumulator()
    fold_manifest(manifest_runs(path), accumulator, ReaderOptions())
    clusters = {cluster.id: cluster for cluster in accumulator.clusters()}
    assert clusters["input-required"].affected.issues == ("late-issue",)
    assert clusters["input-required"].evidence == ()
    assert len(clusters["runner-timeout"].affected.issues) == 40
    assert "late-issue" not in clusters["runner-timeout"].affected.issues


def test_round_trip_matches_the_raw_log_path(tmp_path: Path) -> None:
    log = write(tmp_path, "w.log", LOG)
    manifest = write(tmp_path, "m.json", json.dumps(build(LOG)))
    raw = collect_report({"worker_log": [log]}, Config(), generated_at="t")
    folded = collect_report({"evidence_manifest": [manifest]}, Config(), generated_at="t")
    assert [c.id for c in raw.clusters] == [c.id for c in folded.clusters]
    for left, right in zip(raw.clusters, folded.clusters, strict=True):
        assert left.affected == right.affected
        assert left.occurrences == right.occurrences
    assert [ref.type for ref in folded.inputs] == ["evidence_manifest"]


def test_identical_inputs_are_read_once(tmp_path: Path) -> None:
    first = write(tmp_path, "a.log", LOG)
    second = write(tmp_path, "b.log", LOG)
    pieces = manifest_cmd._worker_manifest(ManifestBuilder(), [first, second, first], ReaderOptions())
    manifest = json.loads("".join(pieces))
    assert [ref["path"] for ref in manifest["inputs"]] == [str(first)]
    report = collect_report({"worker_log": [first, second]}, Config(), generated_at="t")
    assert len(report.inputs) == 1
    assert all(len(cluster.evidence) == 1 for cluster in report.clusters)


@pytest.mark.parametrize(
    "content",
    [
        '{"schema_version": "trace-harness-report/v3", "clusters": []}',
        '{"schema_version": "trace-evidence-manifest/v1", "runs": []}',
        '{"schema_version": "trace-evidence-manifest/v2", "runs": {}}',
        "[]",
        "{",
    ],
)
def test_non_manifest_json_is_rejected(tmp_path: Path, content: str) -> None:
    with pytest.raises(InputFormatError, match=r"m\.json"):
        list(manifest_runs(write(tmp_path, "m.json", content)))


def test_a_run_is_assembled_from_its_texts_as_its_dict_would_encode() -> None:
    """``run_json`` joins the kept events' texts unless the run must be trimmed; both give the same bytes."""
    many_ids = "".join(
        f'2026/06/18 09:00:{n % 60:02d} event=malformed task_id=run-1 issue_id=issue-{n:05d}-{"z" * 40} msg="m"\n'
        for n in range(5000)
    )
    for log in (LOG * 3, many_ids):
        groups: dict[str, RunGroup] = {}
        for finding in findings_of(log):
            key = evidence_key(finding.timestamp, finding.ref)
            text = compact({"ref": finding.ref, "class": finding.cluster_id})
            pairs = [(0, finding.issue)]
            groups.setdefault(finding.run, RunGroup(finding.run)).fold(finding.cluster_id, pairs, key, text, len(text))
        for group in groups.values():
            assert run_json(group) == compact(finish_run(group))
    assert "omitted" in run_json(group)


def clusters_of(path: Path) -> list[tuple[str, object, int]]:
    accumulator = ClusterAccumulator()
    fold_manifest(manifest_runs(path), accumulator, ReaderOptions())
    return [(c.id, c.affected, len(c.evidence)) for c in accumulator.clusters()]


def test_a_key_sorted_manifest_reads_the_same(tmp_path: Path) -> None:
    """Key-sorted writers put `runs` before `schema_version`: the version is then found by a second pass."""
    manifest = build(LOG * 2)
    compact = write(tmp_path, "compact.json", json.dumps(manifest))
    pretty = write(tmp_path, "sorted.json", json.dumps(manifest, sort_keys=True, indent=2))
    assert pretty.read_text().index('"runs"') < pretty.read_text().index('"schema_version"')
    assert clusters_of(pretty) == clusters_of(compact) != []


@pytest.mark.parametrize(
    "content",
    [
        '{"schema_version": 2, "runs": []}',
        '{"runs": [], "schema_version": "trace-harness-report/v3"}',
        '{"schema_version": "trace-evidence-manifest/v2", "runs": [{"run": "r", "events": [',
        '{"schema_version": "trace-evidence-manifest/v2", "runs": []} trailing',
        "",
    ],
)
def test_broken_or_foreign_manifests_are_refused_with_their_path(tmp_path: Path, content: str) -> None:
    with pytest.raises(InputFormatError, match=r"^m\.json|/m\.json"):
        list(manifest_runs(write(tmp_path, "m.json", content)))


def test_a_run_over_the_read_bound_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trace_harness.evidence.manifest.MAX_MANIFEST_RUN_BYTES", 200_000)
    events = [{"class": "malformed-protocol", "ref": f"w.log:{n}", "excerpt": "x" * 1000} for n in range(400)]
    small = {"run": "small", "events": events[:2]}
    path = write(
        tmp_path, "m.json", json.dumps({"schema_version": SCHEMA, "runs": [small, {"run": "big", "events": events}]})
    )
    runs = manifest_runs(path)
    assert next(runs)["run"] == "small"  # runs stream: the first is folded before the large one is read
    with pytest.raises(InputFormatError, match="a run over 200000 bytes"):
        next(runs)


class Watching:
    """A tracker that wants every finding (as `run`'s recorder does): stored events take `add`."""

    def __init__(self) -> None:
        self.seen: list[Finding] = []

    def observe(self, finding: Finding) -> None:
        self.seen.append(finding)

    def flaky(self, cluster_id: str) -> bool:
        return False

    def systemic(self, cluster_id: str) -> bool:
        return False


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_stored_events_fold_as_findings_would(random: Random) -> None:
    """The counting path (a Finding only for an entry that may be kept; ids a summary lists joined in one star
    join) gives the clusters `add` gives, also where a trimmed summary leaves ids unlisted."""
    lines = [
        f"2026/06/18 09:{n % 13:02d}:00 event={random.choice(['malformed', 'runner_timeout'])} "
        f'task_id=run-{n % 4} issue_id=i-{random.randrange(30)} msg="{"x" * random.randrange(4000)}"'
        for n in range(120)
    ]
    manifest = build("\n".join(lines) + "\n")
    runs: list[dict[str, Any]] = manifest["runs"]  # type: ignore[assignment]
    runs[0]["events"].append({"class": "malformed-protocol", "ref": "hand.log:1", "excerpt": "no ids, no stamp"})
    runs[0]["events"].append({"class": "not-a-class", "ref": "hand.log:2"})
    runs[0]["events"].append({"class": "runner-timeout", "ref": "hand.log:3", "affected": {"sessions": ["s-1"]}})
    for run in random.sample(runs, 2):  # a trimmed summary: some events' ids are not listed, only counted
        for summary in run["affected_by_class"].values():
            summary["issues"] = summary["issues"][: len(summary["issues"]) // 2]
            summary["omitted"] = {"issues": 3}
    random.shuffle(runs)
    tracker = Watching()
    counted, watched = ClusterAccumulator(), ClusterAccumulator(tracker)
    fold_manifest(runs, counted, ReaderOptions())
    fold_manifest(runs, watched, ReaderOptions())
    assert counted.clusters() == watched.clusters()
    assert len(tracker.seen) == sum(len(run["events"]) for run in runs) - 1
    assert any(cluster.affected.omitted for cluster in counted.clusters())


stored_class = st.sampled_from(["malformed-protocol", "runner-timeout", "other"])
hostile_event = st.fixed_dictionaries(
    {"class": stored_class},
    optional={"ref": json_values, "affected": json_values, "metadata": json_values, "excerpt": json_values},
)
hostile_run = st.fixed_dictionaries(
    {},
    optional={
        "events": st.lists(hostile_event | json_values, max_size=4) | json_values,
        "affected_by_class": st.dictionaries(stored_class, json_values | st.fixed_dictionaries(
            {}, optional={"issues": json_values, "omitted": json_values})),
    },
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(hostile_run | json_values, max_size=4))
def test_a_hand_edited_manifest_never_crashes_the_fold(
    tmp_path_factory: pytest.TempPathFactory, runs: list[Any]
) -> None:
    """Any JSON in a manifest's runs folds: what is not a stored event or summary is skipped. (Integers past
    64 bits are refused as not JSON by the streaming parser, with the path.)"""
    path = tmp_path_factory.mktemp("m") / "m.json"
    path.write_text(json.dumps({"schema_version": SCHEMA, "runs": runs}))
    accumulator = ClusterAccumulator()
    fold_manifest(manifest_runs(path), accumulator, ReaderOptions())
    for cluster in accumulator.clusters():
        assert cluster.id in {"malformed-protocol", "runner-timeout"}
        assert all(count > 0 for count in cluster.affected.omitted.values())
