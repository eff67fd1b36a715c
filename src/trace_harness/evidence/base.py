"""What every evidence reader shares: its signature, options and output items.

A reader is ``read(stream, display_path, options) -> Iterator[Item]``. It takes a binary stream
(files and zip members alike), never raises on bad content, and yields:
  * ``Finding``         a root-cause failure,
  * ``TestPass``        a passing test (evidence against flakiness),
  * ``RunFacts``        the workflow and commit of a run, which places its tests' results (flakiness),
  * ``EvidenceProblem`` content it could not read (counted in the report).
``display_path`` is the path as the user gave it; refs are ``<display_path>:<line>``.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field

from ..config import ClassRule, Config
from ..models import EvidenceProblem, Finding, RunFacts, TestPass
from ..taxonomy import FailureClass

Item = Finding | TestPass | RunFacts | EvidenceProblem
# A run id in a path: GitHub's log archives (`logs_<id>.zip`) and our collector's folders (`run-<id>/`).
RUN_ID_RE = re.compile(r"(?:^|[/_!-])(?:logs?|runs?|run_logs)[_-](\d{6,})(?=\D|$)")


def run_id_in(display_path: str) -> str:
    """The workflow run id a path names, or "" when it names none."""
    found = RUN_ID_RE.search(display_path)
    return found.group(1) if found else ""


class ReaderOptions(BaseModel):
    """The slice of config that readers need, passed in explicitly."""

    model_config = ConfigDict(frozen=True)

    worker_log_tz: str = "UTC"
    events: dict[str, FailureClass | None] = Field(default_factory=lambda: dict(Config().evidence.events))
    rules: tuple[ClassRule, ...] = ()

    @classmethod
    def from_config(cls, config: Config) -> ReaderOptions:
        return cls(
            worker_log_tz=config.worker_log_tz,
            events=dict(config.evidence.events),
            rules=config.evidence.rules,
        )


Reader = Callable[[BinaryIO, str, ReaderOptions], Iterator[Item]]


_STEP_FILE_RE = re.compile(r"^\d+_(.+?)(?:\.txt|\.log)?$")


def path_identity(display_path: str) -> tuple[str, str, str]:
    """(run, job, step) as far as the path tells: archive members are ``N_job.txt`` or ``job/N_step.txt``."""
    archive, _, inner = display_path.rpartition("!")
    run = run_id_in(display_path) or archive or display_path  # one run per archive
    parts = [part for part in inner.replace("\\", "/").split("/") if part]
    base = parts[-1] if parts else inner
    named = _STEP_FILE_RE.match(base)
    stem = named.group(1) if named else base.rsplit(".", 1)[0]
    if len(parts) >= 2 and "!" in display_path:
        return run, parts[-2], stem
    return run, stem, ""


def can_fork_helpers() -> bool:
    """Whether a reader may fork a helper process: the platform forks, and this process is not daemonic
    (a ``multiprocessing.Pool`` worker may not have children)."""
    return "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon
