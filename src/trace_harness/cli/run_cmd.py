"""`trace-harness run`, `plan` and `issues`: the whole loop, its dry plan, and the tracked issues.

This is the only place that reads the environment (`GITHUB_TOKEN`/`GH_TOKEN`, `GITHUB_REPOSITORY`,
`GITHUB_API_URL`, `GITHUB_EVENT_NAME`, and `GITHUB_SERVER_URL`/`GITHUB_RUN_ID` for the run link); everything
below receives plain values. Without a token the local SQLite forge is used, and without `--evidence` the
bundled `examples/evidence/` shows the loop. Every file under `--evidence` is sniffed once and read by
exactly one reader (``evidence.sniff``); files no reader takes are counted evidence problems.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from ..collect import ActionsEvidence
from ..config import Config, load_config
from ..driver import Driver, Outcome, RunResult
from ..errors import UsageError
from ..evidence.sniff import group_by_kind
from ..forge.base import Forge, TrackedIssue
from ..forge.local import LocalForge
from ..ledger import Ledger, Trigger
from ..models import EvidenceProblem, Report
from ..plan import Plan
from ..redact import mask
from ..report import load_report
from ..state import BranchStore, ContentsApi, DirectoryStore, StateStore
from ..window import EvidenceWindow

DEFAULT_CONFIG = Path(".github/trace-harness.yml")
DEFAULT_STATE_DIR = Path(".trace-harness")
BUNDLED_EVIDENCE = Path("examples/evidence")
SHORT_ID_CHARS = 30
_EVENT_TRIGGERS: dict[str, Trigger] = {"schedule": "schedule", "workflow_dispatch": "dispatch"}


@dataclass(frozen=True)
class Environment:
    """What the CLI takes from the environment, read once."""

    token: str | None = None
    repository: str | None = None
    api_url: str | None = None
    event: str | None = None
    run_url: str = ""

    @classmethod
    def from_os(cls, environ: Mapping[str, str] | None = None) -> Environment:
        env = os.environ if environ is None else environ
        return cls(
            token=env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None,
            repository=env.get("GITHUB_REPOSITORY") or None,
            api_url=env.get("GITHUB_API_URL") or None,
            event=env.get("GITHUB_EVENT_NAME") or None,
            run_url=_run_url(env),
        )


def _run_url(env: Mapping[str, str]) -> str:
    """The Actions run that filed an issue: `GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`."""
    parts = [env.get(name, "") for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0].rstrip('/')}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else ""


def register(subparsers: Any) -> None:
    """Add `run`, `plan` and `issues`."""
    run = subparsers.add_parser("run", help="collect evidence, decide, and file or update tracking issues")
    _add_inputs(run)
    run.add_argument("--dry-run", action="store_true", help="print the plan; write nothing")
    run.set_defaults(handler=run_command)
    plan = subparsers.add_parser("plan", help="print the plan JSON for the evidence; write nothing")
    _add_inputs(plan)
    plan.set_defaults(handler=plan_command)
    issues = subparsers.add_parser("issues", help="list the tracking issues")
    _add_target(issues)
    issues.add_argument("--json", action="store_true", help="print JSON instead of a table")
    issues.add_argument("--all", action="store_true", help="include the special issues (systemic, rolling, ...)")
    issues.set_defaults(handler=issues_command)


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, metavar="PATH")
    parser.add_argument("--forge", choices=("local", "github"), help="default: github when a token is set")
    parser.add_argument("--repo", metavar="OWNER/NAME", help="default: config `repo`, then GITHUB_REPOSITORY")
    parser.add_argument("--state-dir", type=Path, metavar="DIR", help="local state (default .trace-harness/)")


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    _add_target(parser)
    parser.add_argument("--evidence", nargs="+", action="extend", default=[], type=Path, metavar="PATH")
    parser.add_argument("--report", type=Path, metavar="FILE", help="a ready trace-harness-report/v3 JSON")
    parser.add_argument("--trigger", choices=("schedule", "dispatch", "event", "manual"))
    parser.add_argument("--plan-out", type=Path, metavar="FILE", help="also write the plan JSON here")


# -- commands -------------------------------------------------------------------------------------


def run_command(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    return _execute(args, Environment.from_os(environ), dry_run=bool(args.dry_run), as_plan=False)


def plan_command(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    return _execute(args, Environment.from_os(environ), dry_run=True, as_plan=True)


def _execute(args: argparse.Namespace, env: Environment, *, dry_run: bool, as_plan: bool) -> int:
    config = load_config(args.config)
    if not config.enabled:
        print("trace-harness is disabled in the config (enabled: false); nothing to do.")
        return 0
    load = _report_loader(args, config, env)
    with open_target(args, config, env, writes=not dry_run) as (forge, store):
        ledger = None if dry_run else Ledger(store, _spool_path(args))
        window = EvidenceWindow(store, config, _now)
        driver = Driver(forge, store, config, ledger=ledger, public=config.public_repo, run_url=env.run_url,
                        window=window, clock=_now)  # fmt: skip
        report_of = _actions_evidence(forge, store, config, window) if load is None else partial(load, window)
        result = driver.run(report_of, trigger=_trigger(args, env), dry_run=dry_run)
        if isinstance(report_of, ActionsEvidence) and result.exit_code == 0 and not dry_run:
            report_of.commit()  # only a completed run moves the Actions cursor past what it collected
    if args.plan_out is not None and result.plan is not None:
        write_plan(args.plan_out, result.plan)
    if as_plan and result.plan is not None:
        print(result.plan.to_json())
    else:
        print(summary(result, dry_run=dry_run))
    for error in result.ledger.errors:
        print(f"trace-harness: error: {error}", file=sys.stderr)
    return result.exit_code


def _now() -> datetime:
    return datetime.now(UTC)


def write_plan(path: Path, plan: Plan) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(plan.to_json() + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the plan to {mask(str(path))}: {exc.strerror or exc}") from None


def issues_command(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> int:
    config = load_config(args.config)
    with open_target(args, config, Environment.from_os(environ), writes=False) as (forge, _store):
        issues = [issue for issue in forge.tracked_issues() if issue.cluster_id or (args.all and issue.special)]
    rows = [issue_row(issue) for issue in sorted(issues, key=lambda issue: issue.number)]
    print(json.dumps(rows, indent=2) if args.json else issues_table(rows))
    return 0


def issue_row(issue: TrackedIssue) -> dict[str, Any]:
    """The design's `issues --json` shape."""
    return {
        "number": issue.number,
        "title": issue.title,
        "state": issue.state,
        "state_reason": issue.state_reason,
        "labels": list(issue.labels),
        "cluster_id": issue.cluster_id or issue.special,
        "url": issue.url,
    }


def issues_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No tracking issues."
    cells = [["#", "state", "cluster", "title"]]
    cells += [[f"#{r['number']}", r["state"], short_id(r["cluster_id"] or "-"), r["title"]] for r in rows]
    return "\n".join(aligned(cells, right={0}))


REASON_HELP = {
    "recurring": "seen in enough independent runs",
    "severe": "severe enough to file on first sight",
    "new-evidence": "the issue now shows the new evidence",
    "regressed": "seen again after the issue was closed as fixed",
    "duplicate-unchanged": "its issue already shows this evidence",
    "below-threshold": "not recurring yet (recurrence.min_occurrences)",
    "rejected": "a maintainer closed its issue as not planned",
    "muted": "muted in the config",
    "capped": "over max_new_issues_per_run; filed on a later run",
    "cooldown": "recently rejected or decided no-op (cooldown)",
    "notify-only": "notify-only mode: listed in the rolling issue",
    "systemic-merged": "part of the systemic-failure issue",
    "duplicate": "a twin issue, closed as a duplicate",
}


def summary(result: RunResult, *, dry_run: bool) -> str:
    """The per-cluster table a person reads after a run, why each cluster went that way, and the totals."""
    outcomes = sorted(result.outcomes, key=lambda outcome: (outcome.action == "skip", outcome.cluster_id))
    verdict = _verdict(result, dry_run=dry_run)
    if not outcomes:
        return verdict
    rows = [["cluster", "action", "reason", "issue", "occurrences", "result"]]
    rows += [_row(outcome, result.plan) for outcome in outcomes]
    lines = aligned(rows, right={3, 4})
    reasons = sorted({outcome.reason for outcome in outcomes if outcome.reason in REASON_HELP})
    why = [f"  {reason}: {REASON_HELP[reason]}" for reason in reasons]
    return "\n".join([*lines, "", "Why:", *why, "", verdict])


def _row(outcome: Outcome, plan: Plan | None) -> list[str]:
    action = plan.action_for(outcome.cluster_id) if plan is not None else None
    occurrences = str(action.occurrences) if action is not None else "-"
    return [short_id(outcome.cluster_id), outcome.action, outcome.reason, _issue_ref(outcome.issue), occurrences,
            outcome.result]  # fmt: skip


def aligned(rows: list[list[str]], right: set[int]) -> list[str]:
    """A header row, a rule, and the rows, in columns as wide as their widest cell (``right``: numbers)."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        cells = [text.rjust(widths[i]) if i in right else text.ljust(widths[i]) for i, text in enumerate(row)]
        return "  ".join(cells).rstrip()

    return [line(rows[0]), "  ".join("-" * width for width in widths), *map(line, rows[1:])]


def short_id(cluster_id: str) -> str:
    """A cluster id that fits the table: the family slug is shortened, the hex that identifies it is kept."""
    if len(cluster_id) <= SHORT_ID_CHARS:
        return cluster_id
    family, _, tail = cluster_id.rpartition("-")
    return f"{family[: SHORT_ID_CHARS - len(tail) - 2]}…-{tail}"


def _verdict(result: RunResult, *, dry_run: bool) -> str:
    """One line of totals."""
    counts = result.ledger.counts
    written = counts.created + counts.updated + counts.reopened
    skipped = sum(counts.skipped.values())
    if dry_run:
        verdict = "Dry run: nothing was written."
    elif written:
        verdict = f"Filed {counts.created}, updated {counts.updated}, reopened {counts.reopened} issue(s)."
    else:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in counts.skipped.items()) or "no clusters"
        verdict = f"Nothing new to file ({reasons})."
    problems = result.ledger.evidence_problems
    totals = f"Totals: {counts.seen} cluster(s) seen, {written} written, {skipped} skipped"
    return f"{totals}, {problems} evidence problem(s). {verdict}"


def _issue_ref(number: int | None) -> str:
    return f"#{number}" if number else "-"


# -- wiring ---------------------------------------------------------------------------------------


def _trigger(args: argparse.Namespace, env: Environment) -> Trigger:
    if args.trigger:
        chosen: Trigger = args.trigger
        return chosen
    if env.event is None:
        return "manual"
    return _EVENT_TRIGGERS.get(env.event, "event")


def _spool_path(args: argparse.Namespace) -> Path:
    return (args.state_dir or DEFAULT_STATE_DIR) / "spool" / "ledger.jsonl"


def _use_github(args: argparse.Namespace, env: Environment) -> bool:
    if args.forge == "github" and not env.token:
        raise UsageError("--forge github needs GITHUB_TOKEN or GH_TOKEN")
    return args.forge == "github" or (args.forge is None and env.token is not None)


@contextmanager
def open_target(
    args: argparse.Namespace, config: Config, env: Environment, *, writes: bool
) -> Iterator[tuple[Forge, StateStore]]:
    """The forge and state store the flags, config and environment select."""
    state_dir: Path = args.state_dir or DEFAULT_STATE_DIR
    if _use_github(args, env):
        # The state branch has its own client, so forge and state requests are counted apart.
        store: StateStore = DirectoryStore(state_dir) if args.state_dir else _branch_store(args, config, env)
        yield _github_forge(args, config, env, store), store
        return
    database = state_dir / "forge.sqlite"
    path = database if writes or database.exists() else Path(":memory:")  # a dry run creates no files
    with LocalForge(path, namespace=config.labels.namespace) as local:
        yield local, DirectoryStore(state_dir)


def _branch_store(args: argparse.Namespace, config: Config, env: Environment) -> StateStore:
    contents: ContentsApi = _github_client(args, config, env, None)
    return BranchStore(contents, config.state.branch)


def _github_forge(args: argparse.Namespace, config: Config, env: Environment, cache: StateStore) -> Forge:
    forge: Forge = _github_client(args, config, env, cache)
    return forge


REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def _github_client(args: argparse.Namespace, config: Config, env: Environment, cache: StateStore | None) -> Any:
    repo = args.repo or config.repo or env.repository
    if not repo:
        raise UsageError("no repository: pass --repo OWNER/NAME, set `repo` in the config, or GITHUB_REPOSITORY")
    if not REPO_RE.match(repo):
        raise UsageError(f"not a repository name: {repo!r} (expected OWNER/NAME)")
    from ..forge.github import DEFAULT_BASE_URL, GitHubForge  # only GitHub runs pay for importing PyGithub

    base_url = env.api_url or DEFAULT_BASE_URL
    return GitHubForge(repo, env.token or "", base_url=base_url, list_cache=cache, namespace=config.labels.namespace)


# -- evidence -------------------------------------------------------------------------------------


Loader = Callable[[EvidenceWindow], Report]


def _report_loader(args: argparse.Namespace, config: Config, env: Environment) -> Loader | None:
    """How the run gets its report: a ready one (``--report``), the evidence plus the stored window, or None:
    collect from GitHub Actions once the forge is open (the GitHub forge without --evidence/--report)."""
    if args.report and args.evidence:
        raise UsageError("--report and --evidence are alternatives; pass one")
    if not args.report and not args.evidence and _use_github(args, env):
        return None
    if args.report:
        report_path: Path = args.report
        if not report_path.is_file():
            raise UsageError(f"no such report file: {mask(str(report_path))}")
        return lambda _window: load_report(report_path)
    paths = evidence_paths(args.evidence, config, env)
    return lambda window: collect_evidence(paths, window)


def _actions_evidence(forge: Forge, store: StateStore, config: Config, window: EvidenceWindow) -> ActionsEvidence:
    """Failed Actions runs in the window, downloaded to a temp folder and read like ``--evidence DIR``."""
    return ActionsEvidence(getattr(forge, "actions", None), store, config, partial(collect_evidence, window=window))


def collect_evidence(paths: Sequence[Path], window: EvidenceWindow) -> Report:
    """Each file read once by its reader; files no reader takes are counted problems, never skipped silently."""
    grouped, problems = evidence_by_kind(paths)
    report = window.collect(grouped)
    return report.model_copy(update={"evidence_problems": (*problems, *report.evidence_problems)})


def evidence_paths(given: list[Path], config: Config, env: Environment) -> list[Path]:
    if given:
        return given
    if env.token is None and BUNDLED_EVIDENCE.is_dir():
        print(f"Using the bundled sample evidence in {BUNDLED_EVIDENCE}/ (pass --evidence for yours).", file=sys.stderr)
        return [BUNDLED_EVIDENCE]
    found = sorted({path for pattern in config.evidence.paths for path in Path().glob(pattern) if path.is_file()})
    if not found:
        raise UsageError(f"no evidence: nothing matches {list(config.evidence.paths)}; pass --evidence PATH")
    return found


def evidence_by_kind(paths: Sequence[Path]) -> tuple[dict[str, list[Path]], list[EvidenceProblem]]:
    """Files under the given paths, grouped by the reader their content calls for (``evidence.sniff``)."""
    for path in paths:
        if not path.exists():
            raise UsageError(f"no such evidence path: {mask(str(path))}")
    grouped, problems = group_by_kind(paths)
    if not grouped:
        raise UsageError(
            f"no readable evidence: none of the {len(problems)} file(s) is in a format trace-harness reads"
        )
    return grouped, problems


__all__ = ["Environment", "Report", "evidence_by_kind", "issue_row", "register", "summary"]
