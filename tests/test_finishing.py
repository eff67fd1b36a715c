"""Finishing a report's clusters on both cores (``finishing``): the same report as one process, a dead
helper's share finished here, a helper's error raised here, and which clusters the helper takes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trace_harness import finishing
from trace_harness.cluster import ClusterAccumulator
from trace_harness.config import Config
from trace_harness.errors import UsageError
from trace_harness.evidence import worker_native
from trace_harness.models import Finding
from trace_harness.pipeline import collect_report
from trace_harness.report import report_json
from trace_harness.taxonomy import FailureClass

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(params=["native", "python"])
def scan_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "native" and worker_native.NATIVE is None:
        pytest.skip("the native scanner is not built here")
    if request.param == "python":
        monkeypatch.setattr(worker_native, "NATIVE", None)
    return str(request.param)


@pytest.fixture(scope="module")
def worker_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finishing") / "worker.log"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_worker_log.py"), str(out), "4000", "23"], check=True)
    with out.open("ab") as handle:  # records of other shapes: their clusters also get per-record state
        handle.write((FIXTURES / "worker" / "mixed.log").read_bytes())
    return out


def report_with_helper_from(fork_min_bytes: int, paths: dict[str, list[Path]], config: Config | None = None) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(finishing, "FORK_MIN_BYTES", fork_min_bytes)
        report = collect_report(paths, config or Config(), generated_at="2026-01-01T00:00:00Z")
    return report_json(report)


@pytest.mark.usefixtures("scan_path")
def test_a_helper_finishing_some_clusters_gives_the_one_process_report(worker_log: Path) -> None:
    paths = {"worker_log": [worker_log, FIXTURES / "worker" / "crlf_invalid_utf8.log"]}
    one = report_with_helper_from(1 << 60, paths)
    assert report_with_helper_from(0, paths) == one
    assert one.count('"github_issue"') >= 4  # several clusters, so the helper had a share


def _die() -> list[object]:
    os._exit(9)  # killed (as by the OOM killer): no result, no exception to pickle


def test_a_dead_helper_costs_time_not_the_report(worker_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = report_with_helper_from(1 << 60, {"worker_log": [worker_log]})
    monkeypatch.setattr(finishing, "_run_inherited", _die)
    assert report_with_helper_from(0, {"worker_log": [worker_log]}) == one


def test_an_error_in_the_helper_is_the_error_here(worker_log: Path, tmp_path: Path) -> None:
    """An override template that does not render fails the report the same way, whoever renders it."""
    (tmp_path / "draft_pr_plan.md.j2").write_text("{{ cluster.id | no_such_filter }}\n")
    config = Config.model_validate({"templates": str(tmp_path)})
    messages = []
    for fork_min_bytes in (1 << 60, 0):
        with pytest.raises(UsageError) as raised:
            report_with_helper_from(fork_min_bytes, {"worker_log": [worker_log]}, config)
        messages.append(str(raised.value))
    assert messages[0] == messages[1] and "does not render" in messages[0]


def finding(cluster: str, index: int) -> Finding:
    return Finding(
        cluster_id=cluster, failure_class=FailureClass.TOOL_FAILURE, title=cluster, symptom_class="s",
        signature=cluster, source="test", ref=f"x.log:{index}", kind="k", excerpt="e", timestamp="t",
        issue=f"issue-{index}",
    )  # fmt: skip


def test_the_helper_takes_the_largest_clusters_within_its_share() -> None:
    accumulator = ClusterAccumulator()
    for cluster, count in (("big", 700), ("mid", 400), ("small", 300), ("tiny", 10)):
        for index in range(count):
            accumulator.add(finding(cluster, index))
    assert finishing.helper_share(accumulator, accumulator.cluster_ids()) == ["mid", "tiny"]
    only = ClusterAccumulator()
    only.add(finding("one", 1))
    assert finishing.helper_share(only, only.cluster_ids()) == []  # one cluster: nothing to share
    for index in range(50):
        only.add(finding("two", index))
    assert finishing.helper_share(only, only.cluster_ids()) == []  # a share of 1 in 51: not worth a fork


def test_deferred_parts_fold_in_when_the_cluster_is_needed() -> None:
    accumulator = ClusterAccumulator()
    settled: list[str] = []
    accumulator.defer("late", 5, lambda: (settled.append("late"), accumulator.add(finding("late", 1)))[0])
    assert accumulator.cluster_ids() == ["late"] and settled == []
    assert accumulator.finishing_weights() == {"late": 5}
    (cluster,) = accumulator.clusters()
    assert cluster.id == "late" and settled == ["late"]
    assert accumulator.clusters()[0] == cluster and settled == ["late"]  # settled once
