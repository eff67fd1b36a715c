"""`trace-harness report`: evidence in, one `trace-harness-report/v3` JSON out (the aiops flags, plus ours).

It only reads and writes local files: no forge calls, no state. Evidence problems are counted in the
report and do not fail the command; a wrong-kind input (e.g. a report given as a manifest) does (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..config import load_config
from ..evaluator import results_artifact
from ..pipeline import EVIDENCE_MANIFEST, WORKER_LOG, collect_report
from ..report import report_json


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
    parser.add_argument("--json-out", type=Path, metavar="PATH", help="write the report here (default: stdout)")
    parser.add_argument("--evaluator-results-out", type=Path, metavar="PATH", help="write the evaluator results")
    parser.add_argument("--config", type=Path, default=Path(".github/trace-harness.yml"), metavar="PATH")
    parser.add_argument("--templates", type=Path, metavar="DIR", help="directory overriding templates/*.md.j2")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    report = collect_report(
        {WORKER_LOG: args.worker_log, EVIDENCE_MANIFEST: args.evidence_manifest},
        config,
        prior_results=args.prior_evaluator_results,
        templates=args.templates,
    )
    write_text(args.json_out, report_json(report))
    if args.evaluator_results_out:
        write_text(args.evaluator_results_out, compact(results_artifact(report)))
    return 0


def compact(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"


def write_text(path: Path | None, text: str) -> None:
    if path is None:
        sys.stdout.write(text)
    else:
        path.write_text(text, encoding="utf-8")
