"""The bundled sample evidence shows what the demo promises: recurring clusters, one severe event, noise."""

from __future__ import annotations

import json
from pathlib import Path

from trace_harness.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "evidence"


def test_bundled_evidence_is_small_and_fully_readable(tmp_path: Path) -> None:
    assert sum(path.stat().st_size for path in EXAMPLES.rglob("*") if path.is_file()) < 200_000
    out = tmp_path / "report.json"
    assert main(["report", "--evidence", str(EXAMPLES), "--json-out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["evidence_problems"] == []
    clusters = report["clusters"]
    recurring = [c for c in clusters if c["occurrences"] >= 2 and len(c["affected"]["runs"]) >= 2]
    assert len(recurring) >= 3
    assert {c["failure_class"] for c in clusters if c["severity"] == "severe"} == {"scope_policy"}
    assert sum(1 for c in clusters if c["occurrences"] == 1) >= 3  # single-occurrence noise


def test_recurring_failures_come_from_different_runs_and_readers(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    main(["report", "--evidence", str(EXAMPLES), "--json-out", str(out)])
    clusters = json.loads(out.read_text())["clusters"]
    by_source = {c["id"]: {e["source"] for e in c["evidence"]} for c in clusters if c["occurrences"] >= 2}
    assert any("actions_log" in sources for sources in by_source.values())
    assert "runner-timeout" in by_source  # from the worker log
    refs = [e["ref"] for c in clusters for e in c["evidence"]]
    assert any("logs_15500000106.zip!0_test.txt:" in ref for ref in refs)  # read from inside the zip
