"""`trace-harness run`, `plan` and `issues`: the whole loop, its dry plan, and the tracked issues.

This is the only place that reads the environment (`GITHUB_TOKEN`/`GH_TOKEN`, `GITHUB_REPOSITORY`,
`GITHUB_API_URL`, `GITHUB_EVENT_NAME`); everything below receives plain values. Without a token the
local SQLite forge is used, and without `--evidence` the bundled `examples/evidence/` shows the loop.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, load_config
from ..driver import Driver, RunResult
from ..errors import UsageError
from ..forge.base import Forge, TrackedIssue
from ..forge.local import LocalForge
from ..ledger import Ledger, Trigger
from ..models import Report
from ..pipeline import EVIDENCE_MANIFEST, WORKER_LOG, collect_report, reader_for
from ..redact import mask
from ..report import load_report
from ..state import BranchStore, ContentsApi, DirectoryStore, StateStore

DEFAULT_CONFIG = Path(".github/trace-harness.yml")
DEFAULT_STATE_DIR = Path(".trace-harness")
BUNDLED_EVIDENCE = Path("examples/evidence")
_ACTIONS_LINE = re.compile(rb"^(?:\xef\xbb\xbf)?\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z ", re.MULTILINE)
_EVENT_TRIGGERS: dict[str, Trigger] = {"schedule": "schedule", "workflow_dispatch": "dispatch"}


@dataclass(frozen=True)
class Environment:
    """What the CLI takes from the environment, read once."""

    token: str | None = None
    repository: str | None = None
    api_url: str | None = None
    event: str | None = None

    @classmethod
    def from_os(cls, environ: Mapping[str, str] | None = None) -> Environment:
        env = os.environ if environ is None else environ
        return cls(
            token=env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None,
            repository=env.get("GITHUB_REPOSITORY") or None,
            api_url=env.get("GITHUB_API_URL") or None,
            event=env.get("GITHUB_EVENT_NAME") or None,
        )


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
        driver = Driver(forge, store, config, ledger=ledger, public=config.public_repo)
        result = driver.run(load, trigger=_trigger(args, env), dry_run=dry_run)
    if as_plan and result.plan is not None:
        print(result.plan.to_json())
    else:
        print(summary(result, dry_run=dry_run))
    for error in result.ledger.errors:
        print(f"trace-harness: error: {error}", file=sys.stderr)
    return result.exit_code


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
    lines = [f"{'#':>5}  {'state':<8} {'cluster':<38} title"]
    lines += [f"{r['number']:>5}  {r['state']:<8} {r['cluster_id'] or '-':<38} {r['title']}" for r in rows]
    return "\n".join(lines)


def summary(result: RunResult, *, dry_run: bool) -> str:
    """The per-cluster table a person reads after a run, and a one-line verdict."""
    outcomes = sorted(result.outcomes, key=lambda outcome: (outcome.action == "skip", outcome.cluster_id))
    lines = [f"{'cluster':<38} {'action':<7} {'reason':<20} {'issue':>6}  result"]
    for o in outcomes:
        lines.append(f"{o.cluster_id:<38} {o.action:<7} {o.reason:<20} {_issue_ref(o.issue):>6}  {o.result}")
    counts = result.ledger.counts
    written = counts.created + counts.updated + counts.reopened
    if dry_run:
        verdict = "Dry run: nothing was written."
    elif written:
        verdict = f"Filed {counts.created}, updated {counts.updated}, reopened {counts.reopened} issue(s)."
    else:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in counts.skipped.items()) or "no clusters"
        verdict = f"Nothing new to file ({reasons})."
    problems = result.ledger.evidence_problems
    tail = f" {problems} evidence problem(s) counted." if problems else ""
    return "\n".join([*lines, "", f"{counts.seen} cluster(s) seen. {verdict}{tail}"]) if outcomes else verdict + tail


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


def _github_client(args: argparse.Namespace, config: Config, env: Environment, cache: StateStore | None) -> Any:
    repo = args.repo or config.repo or env.repository
    if not repo:
        raise UsageError("no repository: pass --repo OWNER/NAME, set `repo` in the config, or GITHUB_REPOSITORY")
    from ..forge.github import DEFAULT_BASE_URL, GitHubForge  # only GitHub runs pay for importing PyGithub

    base_url = env.api_url or DEFAULT_BASE_URL
    return GitHubForge(repo, env.token or "", base_url=base_url, list_cache=cache, namespace=config.labels.namespace)


# -- evidence -------------------------------------------------------------------------------------


def _report_loader(args: argparse.Namespace, config: Config, env: Environment) -> Any:
    if args.report and args.evidence:
        raise UsageError("--report and --evidence are alternatives; pass one")
    if args.report:
        report_path: Path = args.report
        if not report_path.is_file():
            raise UsageError(f"no such report file: {mask(str(report_path))}")
        return lambda: load_report(report_path)
    paths = evidence_paths(args.evidence, config, env)
    return lambda: collect_report(evidence_by_kind(paths), config)


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


def evidence_by_kind(paths: list[Path]) -> dict[str, list[Path]]:
    """Files under the given paths, grouped by the reader their content calls for."""
    grouped: dict[str, list[Path]] = {}
    for path in paths:
        if not path.exists():
            raise UsageError(f"no such evidence path: {mask(str(path))}")
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            kind = sniff_kind(file) if file.is_file() and not file.name.startswith(".") else None
            if kind is not None:
                grouped.setdefault(kind, []).append(file)
    return grouped


def sniff_kind(path: Path) -> str | None:
    """The evidence kind of one file from its first bytes; None for files no reader takes."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    for marker, kind in (
        (b"trace-evidence-manifest/v2", EVIDENCE_MANIFEST),
        (b"trace-harness-manifest/v1", "th_manifest"),
    ):
        if marker in head:
            return kind
    if path.suffix in (".json", ".md", ".yml", ".yaml"):
        return None
    if path.suffix == ".xml":
        return _if_readable("junit")
    return "actions_log" if _ACTIONS_LINE.search(head) else WORKER_LOG


def _if_readable(kind: str) -> str | None:
    try:
        reader_for(kind)
    except UsageError:
        return None
    return kind


__all__ = ["Environment", "Report", "issue_row", "register", "sniff_kind", "summary"]
