"""`trace-harness report`: evidence in, one `trace-harness-report/v3` JSON out (the aiops flags, plus ours).

It only reads and writes local files: no forge calls, no state. Evidence problems are counted in the
report and do not fail the command; a wrong-kind input (e.g. a report given as a manifest) does (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..config import load_config
from ..errors import UsageError
from ..evaluator import results_artifact
from ..evidence.sniff import ACTIONS_LOG, ARTIFACT, JSONL, JUNIT, expand_globs, group_by_kind
from ..models import EvidenceProblem
from ..pipeline import EVIDENCE_MANIFEST, WORKER_LOG, collect_report
from ..report import report_json

# Typed evidence flags: each repeatable, each value a path or a glob.
TYPED_FLAGS = {"--actions-log": ACTIONS_LOG, "--artifact": ARTIFACT, "--junit": JUNIT, "--events": JSONL}


def register(subparsers: Any) -> None:
    """Add `report` to the top-level parser."""
    parser = subparsers.add_parser("report", help="cluster evidence into a trace-harness-report/v3 JSON report")
    parser.add_argument("--worker-log", action="append", default=[], type=Path, metavar="PATH")
    parser.add_argument(
        "--evidence-manifest", action="append", default=[], type=Path, metavar="PATH",
        help="aiops trace-evidence-manifest/v2 to fold instead of, or alongside, raw worker logs",
    )  # fmt: skip
    parser.add_argument(
        "--prior-evaluator-results", action="append", default=[], type=Path, metavar="PATH",
        help="a prior advisory evaluator results artifact, for recurrence escalations",
    )  # fmt: skip
    for flag, kind in TYPED_FLAGS.items():
        parser.add_argument(flag, action="append", default=[], dest=kind, metavar="PATH|GLOB", help=f"{kind} input")
    parser.add_argument(
        "--evidence", action="append", default=[], type=Path, metavar="DIR|FILE",
        help="files or folders of any evidence kind, sniffed from their content; unknown files are counted",
    )  # fmt: skip
    parser.add_argument("--json-out", type=Path, metavar="PATH", help="write the report here (default: stdout)")
    parser.add_argument("--evaluator-results-out", type=Path, metavar="PATH", help="write the evaluator results")
    parser.add_argument("--config", type=Path, default=Path(".github/trace-harness.yml"), metavar="PATH")
    parser.add_argument("--templates", type=Path, metavar="DIR", help="directory overriding templates/*.md.j2")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    check_outputs(args.json_out, args.evaluator_results_out)
    paths, problems = evidence_paths(args)
    if problems and not any(paths.values()):
        skipped = "; ".join(f"{problem.path}: {problem.reason}" for problem in problems[:3])
        raise UsageError(f"no readable evidence among the inputs ({len(problems)} skipped: {skipped})")
    report = collect_report(paths, config, prior_results=args.prior_evaluator_results, templates=args.templates)
    if problems:
        report = report.model_copy(update={"evidence_problems": (*report.evidence_problems, *problems)})
    write_text(args.json_out, report_json(report))
    if args.evaluator_results_out:
        write_text(args.evaluator_results_out, compact(results_artifact(report)))
    return 0


def evidence_paths(args: argparse.Namespace) -> tuple[dict[str, list[Path]], list[EvidenceProblem]]:
    """Inputs by kind from the typed flags and ``--evidence``, plus the problems of unknown files."""
    paths: dict[str, list[Path]] = {WORKER_LOG: list(args.worker_log), EVIDENCE_MANIFEST: list(args.evidence_manifest)}
    for kind in TYPED_FLAGS.values():
        paths[kind] = expand_globs(getattr(args, kind))
    sniffed, problems = group_by_kind(args.evidence)
    for kind, files in sniffed.items():
        paths.setdefault(kind, []).extend(files)
    return paths, problems


def compact(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"


def check_outputs(*paths: Path | None) -> None:
    """Refuse an output that cannot be written before any input is read (a large input takes a while)."""
    for path in paths:
        if path is None:
            continue
        folder = path.parent
        if path.is_dir():
            raise UsageError(f"cannot write {path}: it is a folder")
        if not folder.is_dir():
            raise UsageError(f"cannot write {path}: no folder {folder}")
        if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise UsageError(f"cannot write {path}: permission denied")


def write_pieces(path: Path | None, pieces: Iterable[str]) -> None:
    """``write_text`` of text made piece by piece, never joined in memory."""
    if path is None:
        sys.stdout.writelines(pieces)
        return
    with path.open("w", encoding="utf-8") as out:
        out.writelines(pieces)


def write_text(path: Path | None, text: str) -> None:
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
