"""The run ledger: one `trace-harness-ledger/v1` line per run, never lost.

A line is built by the driver in a ``finally`` so failed runs are recorded too. If the state store
cannot take it, the line goes to a local spool file, and the next run flushes the spool first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import StateError
from .redact import mask
from .state import StateStore

LEDGER_SCHEMA: Literal["trace-harness-ledger/v1"] = "trace-harness-ledger/v1"
Trigger = Literal["schedule", "dispatch", "event", "manual"]
MAX_ERROR_CHARS = 500
MAX_ERRORS = 20


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LedgerInput(_Frozen):
    type: str
    sha256: str
    bytes: int


class Counts(_Frozen):
    seen: int = 0
    created: int = 0
    updated: int = 0
    reopened: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)


class Requests(_Frozen):
    forge: int = 0
    state: int = 0


class LedgerLine(_Frozen):
    schema_: Literal["trace-harness-ledger/v1"] = Field(LEDGER_SCHEMA, alias="schema")
    run_id: str
    started_at: str
    finished_at: str
    trigger: Trigger = "manual"
    mode: str = "issue"
    window: str = ""
    inputs: tuple[LedgerInput, ...] = ()
    counts: Counts = Counts()
    requests: Requests = Requests()
    evidence_problems: int = 0
    errors: tuple[str, ...] = ()
    exit_code: int = 0

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), separators=(",", ":"), sort_keys=True)


def clean_errors(errors: list[str]) -> tuple[str, ...]:
    """Redacted, one-line, bounded error messages (a ledger is read by humans and posted nowhere)."""
    lines = (mask(" ".join(str(error).split()))[:MAX_ERROR_CHARS] for error in errors[:MAX_ERRORS])
    return tuple(lines)


def parse_lines(text: str) -> list[LedgerLine]:
    """Ledger lines from JSONL text; a damaged line is skipped, never fatal."""
    lines: list[LedgerLine] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            lines.append(LedgerLine.model_validate_json(raw))
        except ValidationError:
            continue
    return lines


class Ledger:
    """Writes ledger lines to a state store, spooling locally when the store fails."""

    def __init__(self, store: StateStore, spool: Path) -> None:
        self.store = store
        self.spool = spool

    def record(self, line: LedgerLine) -> bool:
        """Append ``line`` (after any spooled lines). True if it reached the store, False if spooled."""
        pending = [*self._spooled(), line.to_json()]
        try:
            self.store.append_ledger(pending)
        except (StateError, OSError):
            self._write_spool(pending)
            return False
        self._clear_spool()
        return True

    def flush(self) -> int:
        """Push spooled lines to the store; returns how many were flushed (0 if the store still fails)."""
        pending = self._spooled()
        if not pending:
            return 0
        try:
            self.store.append_ledger(pending)
        except (StateError, OSError):
            return 0
        self._clear_spool()
        return len(pending)

    def _spooled(self) -> list[str]:
        if not self.spool.exists():
            return []
        return [raw for raw in self.spool.read_text(encoding="utf-8").splitlines() if raw.strip()]

    def _write_spool(self, lines: list[str]) -> None:
        self.spool.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.spool.with_suffix(".tmp")
        tmp.write_text("".join(f"{raw}\n" for raw in lines), encoding="utf-8")
        tmp.replace(self.spool)

    def _clear_spool(self) -> None:
        self.spool.unlink(missing_ok=True)
