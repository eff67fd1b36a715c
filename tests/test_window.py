"""Recurrence across runs: findings stored by earlier runs count, once, while inside the window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from driver_support import START
from trace_harness.config import Config
from trace_harness.driver import Driver, RunResult
from trace_harness.forge.local import LocalForge
from trace_harness.ledger import Ledger
from trace_harness.models import Finding
from trace_harness.occurrences import occurrence_key
from trace_harness.state import MANIFESTS, DirectoryStore
from trace_harness.taxonomy import FailureClass
from trace_harness.testing.clock import FakeClock
from trace_harness.window import (
    FULL_RECORDS_PER_CLUSTER,
    EvidenceWindow,
    FindingRecorder,
    slim,
    without_inputs,
)

TIMEOUT = "runner-timeout"


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[LocalForge]:
    with LocalForge(tmp_path / "forge.sqlite", clock=FakeClock()) as local:
        yield local


def worker_log(path: Path, *runs: str) -> Path:
    lines = [f'2026/01/10 09:0{n}:00 event=runner_timeout task_id={run} msg="timeout"' for n, run in enumerate(runs)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_once(forge: LocalForge, state: Path, log: Path, now: datetime = START, **config: object) -> RunResult:
    store, cfg = DirectoryStore(state), Config.model_validate(config)
    window = EvidenceWindow(store, cfg, lambda: now)
    driver = Driver(forge, store, cfg, ledger=Ledger(store, state / "spool.jsonl"), clock=lambda: now,
                    public=False, window=window)  # fmt: skip
    return driver.run(lambda: window.collect({"worker_log": [log]}))


def outcome(result: RunResult) -> tuple[str, str, int]:
    (only,) = [o for o in result.outcomes if o.cluster_id == TIMEOUT]
    assert result.plan is not None
    action = result.plan.action_for(TIMEOUT)
    assert action is not None
    return only.action, only.reason, action.occurrences


def manifests(state: Path) -> list[str]:
    return sorted(path.name for path in (state / MANIFESTS).glob("*.json"))


def test_an_occurrence_stored_by_an_earlier_run_makes_the_next_one_recur(forge: LocalForge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = run_once(forge, state, worker_log(tmp_path / "a.log", "run-1"))
    assert outcome(first) == ("skip", "below-threshold", 1)
    (stored,) = manifests(state)
    assert stored.startswith(START.date().isoformat()) and first.ledger.run_id in stored
    second = run_once(forge, state, worker_log(tmp_path / "b.log", "run-2"), START + timedelta(hours=6))
    assert outcome(second) == ("create", "recurring", 2)
    assert [o.result for o in second.outcomes] == ["created"]


def test_manifests_older_than_the_window_are_pruned_and_stop_counting(forge: LocalForge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    run_once(forge, state, worker_log(tmp_path / "a.log", "run-1"))
    later = START + timedelta(days=3)
    result = run_once(forge, state, worker_log(tmp_path / "b.log", "run-2"), later, window="2d")
    assert outcome(result) == ("skip", "below-threshold", 1)
    assert [name[:10] for name in manifests(state)] == [later.date().isoformat()]


def test_the_same_input_read_again_is_counted_once(forge: LocalForge, tmp_path: Path) -> None:
    state, log = tmp_path / "state", worker_log(tmp_path / "a.log", "run-1")
    run_once(forge, state, log)
    again = run_once(forge, state, log, START + timedelta(hours=1))
    assert outcome(again) == ("skip", "below-threshold", 1)
    assert len(manifests(state)) == 1  # nothing new to store


def test_the_same_run_in_two_inputs_is_one_occurrence(forge: LocalForge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    run_once(forge, state, worker_log(tmp_path / "a.log", "run-1"))
    log = tmp_path / "b.log"
    log.write_text('2026/01/10 10:00:00 event=runner_timeout task_id=run-1 msg="timeout again"\n')
    assert outcome(run_once(forge, state, log, START + timedelta(hours=1)))[2] == 1


def test_a_damaged_stored_manifest_is_a_counted_problem(forge: LocalForge, tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / MANIFESTS).mkdir(parents=True)
    (state / MANIFESTS / f"{START.date().isoformat()}-x.json").write_text("{not json")
    result = run_once(forge, state, worker_log(tmp_path / "a.log", "run-1"))
    assert result.exit_code == 0 and result.ledger.evidence_problems == 1


def _finding(ref: str, run: str = "", timestamp: str = "") -> Finding:
    texts = {"title": "t", "symptom_class": "s", "signature": "sig", "source": "x", "kind": "k", "excerpt": "e"}
    return Finding(cluster_id="c-1", failure_class=FailureClass.UNKNOWN, ref=ref, run=run, timestamp=timestamp, **texts)


def test_recorder_keeps_one_earliest_finding_per_occurrence_key() -> None:
    recorder = FindingRecorder()
    for finding in (_finding("a.log:9", "r1", "t2"), _finding("a.log:3", "r1", "t1"), _finding("b.log:1")):
        recorder.observe(finding)
    recorder.close()
    recorder.observe(_finding("c.log:1", "r9"))  # an earlier run's finding: not this run's
    assert [(f.ref, f.run) for f in recorder.findings()] == [("b.log:1", ""), ("a.log:3", "r1")]
    assert occurrence_key(_finding("x.log:1")) == ("c-1", "", "x.log")


def test_without_inputs_drops_only_findings_of_current_inputs() -> None:
    manifest = {
        "inputs": [{"path": "a.log", "sha256": "1"}, {"path": "b.log", "sha256": "2"}],
        "runs": [{"run": "r", "findings": [{"ref": "a.log:1"}, {"ref": "b.log:2"}, {"ref": "elsewhere:3"}]}],
    }
    kept = without_inputs(manifest, {"1"})["runs"][0]["findings"]
    assert [record["ref"] for record in kept] == ["b.log:2", "elsewhere:3"]
    assert without_inputs(manifest, {"1", "2"})["runs"][0]["findings"] == []


def test_slim_keeps_a_few_whole_findings_per_cluster_and_ids_for_the_rest() -> None:
    findings = [_finding(f"a.log:{n}", f"r{n}") for n in range(FULL_RECORDS_PER_CLUSTER + 3)]
    slimmed = slim(findings)
    assert [f.excerpt for f in slimmed].count("") == 3
    assert [f.run for f in slimmed] == [f.run for f in findings]  # ids, and so occurrences, are kept
