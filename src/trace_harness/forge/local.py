"""``LocalForge``: the Forge protocol on one SQLite file, so the whole loop runs without a token.

It lives at ``<state-dir>/forge.sqlite`` and mirrors GitHub's semantics where the driver relies on them:
closing sets ``closed_at`` and a reason (``completed`` by default), reopening sets ``reopened``, labels
given on create/update replace the set and are created when missing, bodies over 65,536 characters are
refused. The local user is an admin; anyone else has no permission until ``set_permission``.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import Permission
from ..errors import ForgeConflict, ForgeError, ForgeNotFound
from ..identity import TRACKING_LABEL
from .base import Clock, IssueComment, IssueState, LabelSpec, StateReason, TrackedIssue, utc_now

MAX_BODY_CHARS = 65_536
DEFAULT_LABEL_COLOR = "ededed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS issues (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, state_reason TEXT,
    labels TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, closed_at TEXT
);
CREATE TABLE IF NOT EXISTS comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, issue INTEGER NOT NULL REFERENCES issues(number),
    user TEXT NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (name TEXT PRIMARY KEY, color TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS permissions (user TEXT PRIMARY KEY, role TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dispatches (
    id INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, ref TEXT NOT NULL,
    inputs TEXT NOT NULL, created_at TEXT NOT NULL
);
"""
_ISSUE_COLUMNS = "i.*, (SELECT COUNT(*) FROM comments c WHERE c.issue = i.number) AS comment_count"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no USER in minimal containers
        return "local"


class LocalForge:
    """The embedded forge. Every public operation counts as one request."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = utc_now,
        local_user: str | None = None,
        namespace: str = TRACKING_LABEL,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.local_user = local_user or _default_user()
        self._clock = clock
        self._namespace = namespace
        self._requests = 0
        self._db = sqlite3.connect(path)
        self._db.row_factory = sqlite3.Row
        with self._db:
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO permissions VALUES (?, ?)", (self.local_user, "admin"))

    @property
    def requests_made(self) -> int:
        return self._requests

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> LocalForge:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _operation(self) -> Iterator[sqlite3.Connection]:
        """One request: a transaction whose SQLite errors surface as ForgeError."""
        self._requests += 1
        try:
            with self._db:
                yield self._db
        except sqlite3.Error as exc:
            raise ForgeError(f"local forge {self.path}: {exc}") from exc

    def _now(self) -> str:
        return self._clock().isoformat()

    # -- issues ---------------------------------------------------------------------------------

    def tracked_issues(self) -> list[TrackedIssue]:
        with self._operation() as db:
            rows = db.execute(f"SELECT {_ISSUE_COLUMNS} FROM issues i ORDER BY i.number").fetchall()
        issues = [self._issue(row) for row in rows]
        return [issue for issue in issues if self._namespace in issue.labels]

    def get_issue(self, number: int) -> TrackedIssue | None:
        with self._operation() as db:
            row = self._row(db, number)
        return self._issue(row) if row else None

    def create_issue(self, title: str, body: str, labels: Sequence[str]) -> TrackedIssue:
        _check_body(body)
        with self._operation() as db:
            now = self._now()
            self._create_missing_labels(db, labels)
            cursor = db.execute(
                "INSERT INTO issues (title, body, state, labels, created_at, updated_at) "
                "VALUES (?, ?, 'open', ?, ?, ?)",
                (title, body, json.dumps(list(labels)), now, now),
            )
            row = self._row(db, int(cursor.lastrowid or 0))
        assert row is not None
        return self._issue(row)

    def update_issue(
        self,
        number: int,
        *,
        body: str | None = None,
        labels: Sequence[str] | None = None,
        state: IssueState | None = None,
        state_reason: StateReason | None = None,
    ) -> TrackedIssue:
        if body is not None:
            _check_body(body)
        with self._operation() as db:
            current = self._existing(db, number)
            changes = self._changes(current, body, labels, state, state_reason)
            if labels is not None:
                self._create_missing_labels(db, labels)
            assignments = ", ".join(f"{column} = ?" for column in changes)
            db.execute(f"UPDATE issues SET {assignments} WHERE number = ?", (*changes.values(), number))
            row = self._existing(db, number)
        return self._issue(row)

    def _changes(
        self,
        current: sqlite3.Row,
        body: str | None,
        labels: Sequence[str] | None,
        state: IssueState | None,
        state_reason: StateReason | None,
    ) -> dict[str, Any]:
        now = self._now()
        changes: dict[str, Any] = {"updated_at": now}
        if body is not None:
            changes["body"] = body
        if labels is not None:
            changes["labels"] = json.dumps(list(labels))
        changes |= _state_changes(current, state, state_reason, now)
        return changes

    # -- comments -------------------------------------------------------------------------------

    def comment(self, number: int, body: str) -> None:
        _check_body(body)
        with self._operation() as db:
            self._existing(db, number)
            now = self._now()
            db.execute(
                "INSERT INTO comments (issue, user, body, created_at) VALUES (?, ?, ?, ?)",
                (number, self.local_user, body, now),
            )
            db.execute("UPDATE issues SET updated_at = ? WHERE number = ?", (now, number))

    def add_comment_as(self, number: int, user: str, body: str) -> None:
        """A comment by someone else (e.g. a maintainer's slash command); for tests and demos."""
        with self._operation() as db:
            self._existing(db, number)
            db.execute(
                "INSERT INTO comments (issue, user, body, created_at) VALUES (?, ?, ?, ?)",
                (number, user, body, self._now()),
            )

    def list_comments(self, number: int, since: datetime | None = None) -> list[IssueComment]:
        with self._operation() as db:
            self._existing(db, number)
            rows = db.execute("SELECT * FROM comments WHERE issue = ? ORDER BY id", (number,)).fetchall()
        comments = [self._comment(row) for row in rows]
        return [c for c in comments if since is None or c.created_at >= since]

    def _comment(self, row: sqlite3.Row) -> IssueComment:
        association = "OWNER" if row["user"] == self.local_user else "NONE"
        return IssueComment(
            id=row["id"],
            user=row["user"],
            body=row["body"],
            created_at=row["created_at"],
            author_association=association,
        )

    # -- labels, permissions, dispatch ---------------------------------------------------------

    def ensure_labels(self, specs: Sequence[LabelSpec]) -> None:
        with self._operation() as db:
            for spec in specs:
                db.execute(
                    "INSERT INTO labels VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                    "color = excluded.color, description = excluded.description",
                    (spec.name, spec.color.lower(), spec.description),
                )

    def labels(self) -> list[LabelSpec]:
        with self._operation() as db:
            rows = db.execute("SELECT * FROM labels ORDER BY name").fetchall()
        return [LabelSpec(name=r["name"], color=r["color"], description=r["description"]) for r in rows]

    def _create_missing_labels(self, db: sqlite3.Connection, labels: Sequence[str]) -> None:
        rows = [(name, DEFAULT_LABEL_COLOR, "") for name in labels]
        db.executemany("INSERT OR IGNORE INTO labels VALUES (?, ?, ?)", rows)

    def permission(self, user: str) -> Permission:
        with self._operation() as db:
            row = db.execute("SELECT role FROM permissions WHERE user = ?", (user,)).fetchone()
        return Permission(row["role"]) if row else Permission.NONE

    def set_permission(self, user: str, permission: Permission) -> None:
        with self._operation() as db:
            db.execute("INSERT OR REPLACE INTO permissions VALUES (?, ?)", (user, permission.value))

    def dispatch(self, workflow: str, ref: str, inputs: Mapping[str, str]) -> None:
        with self._operation() as db:
            db.execute(
                "INSERT INTO dispatches (workflow, ref, inputs, created_at) VALUES (?, ?, ?, ?)",
                (workflow, ref, json.dumps(dict(inputs), sort_keys=True), self._now()),
            )

    def dispatches(self) -> list[tuple[str, str, dict[str, str]]]:
        """Recorded dispatches as (workflow, ref, inputs), oldest first."""
        with self._operation() as db:
            rows = db.execute("SELECT * FROM dispatches ORDER BY id").fetchall()
        return [(r["workflow"], r["ref"], json.loads(r["inputs"])) for r in rows]

    def is_public(self) -> bool:
        return False  # nothing local is published

    # -- rows -----------------------------------------------------------------------------------

    def _row(self, db: sqlite3.Connection, number: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = db.execute(
            f"SELECT {_ISSUE_COLUMNS} FROM issues i WHERE i.number = ?", (number,)
        ).fetchone()
        return row

    def _existing(self, db: sqlite3.Connection, number: int) -> sqlite3.Row:
        row = self._row(db, number)
        if row is None:
            raise ForgeNotFound(f"local forge: no issue #{number}")
        return row

    def _issue(self, row: sqlite3.Row) -> TrackedIssue:
        return TrackedIssue.build(
            body=row["body"],
            labels=json.loads(row["labels"]),
            namespace=self._namespace,
            number=row["number"],
            title=row["title"],
            state=row["state"],
            state_reason=row["state_reason"],
            url=f"{self.path.resolve().as_uri()}#issue-{row['number']}",
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            closed_at=row["closed_at"],
            comments=row["comment_count"],
        )


def _check_body(body: str) -> None:
    if len(body) > MAX_BODY_CHARS:
        raise ForgeConflict(f"body is too long ({len(body)} characters; maximum is {MAX_BODY_CHARS})")


def _state_changes(
    current: sqlite3.Row, state: IssueState | None, reason: StateReason | None, now: str
) -> dict[str, Any]:
    """GitHub's state machine: closing stamps closed_at; reopening a closed issue says `reopened`."""
    if state == "closed" and current["state"] != "closed":
        return {"state": "closed", "state_reason": reason or "completed", "closed_at": now}
    if state == "open" and current["state"] == "closed":
        return {"state": "open", "state_reason": reason or "reopened", "closed_at": None}
    return {"state_reason": reason} if reason is not None else {}
