"""The ledger line model and the spool that keeps a line when the store fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trace_harness.errors import StateError
from trace_harness.ledger import Counts, Ledger, LedgerLine, Requests, clean_errors, parse_lines
from trace_harness.state import DirectoryStore


def _line(run_id: str, **extra: object) -> LedgerLine:
    return LedgerLine.model_validate(
        {"run_id": run_id, "started_at": "2025-01-01T00:00:00Z", "finished_at": "2025-01-01T00:00:01Z", **extra}
    )


class FailingStore(DirectoryStore):
    def append_ledger(self, lines: list[str]) -> None:
        raise StateError("branch unavailable")


def test_line_serializes_the_design_fields() -> None:
    line = _line(
        "r1",
        trigger="schedule",
        counts=Counts(seen=3, created=1, skipped={"below-threshold": 2}),
        requests=Requests(forge=2, state=2),
        exit_code=0,
    )
    data = json.loads(line.to_json())
    assert data["schema"] == "trace-harness-ledger/v1"
    expected = {"run_id", "started_at", "finished_at", "trigger", "mode", "window", "inputs", "counts"}
    expected |= {"requests", "evidence_problems", "errors", "exit_code", "schema"}
    assert set(data) == expected
    assert data["counts"]["skipped"] == {"below-threshold": 2}
    assert parse_lines(line.to_json() + "\n{damaged\n") == [line]


def test_bad_trigger_is_rejected() -> None:
    with pytest.raises(ValueError):
        _line("r1", trigger="cron")


def test_errors_are_redacted_single_lines() -> None:
    token = "ghp_1234567890abcdefghij1234567890abcdef"
    cleaned = clean_errors([f"boom\n  with {token}"])
    assert cleaned == ("boom with [redacted-token]",)


def test_failed_store_spools_and_the_next_run_flushes_first(tmp_path: Path) -> None:
    spool = tmp_path / "spool" / "ledger.jsonl"
    assert Ledger(FailingStore(tmp_path / "state"), spool).record(_line("r1")) is False
    assert spool.exists()
    store = DirectoryStore(tmp_path / "state")
    assert Ledger(store, spool).record(_line("r2")) is True
    assert [line.run_id for line in parse_lines(store.ledger_text())] == ["r1", "r2"]
    assert not spool.exists()


def test_flush_keeps_the_spool_while_the_store_fails(tmp_path: Path) -> None:
    spool = tmp_path / "spool.jsonl"
    Ledger(FailingStore(tmp_path / "s"), spool).record(_line("r1"))
    Ledger(FailingStore(tmp_path / "s"), spool).record(_line("r2"))
    assert Ledger(FailingStore(tmp_path / "s"), spool).flush() == 0
    assert Ledger(DirectoryStore(tmp_path / "s"), spool).flush() == 2
    assert [line.run_id for line in parse_lines(DirectoryStore(tmp_path / "s").ledger_text())] == ["r1", "r2"]
