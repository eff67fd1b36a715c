"""`trace-harness manifest`: worker logs in, one aiops `trace-evidence-manifest/v2` JSON out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..config import load_config
from ..errors import UsageError
from ..evidence.base import ReaderOptions
from ..evidence.inputs import unique_inputs
from ..evidence.manifest import ManifestBuilder, manifest_json
from ..evidence.worker_log import read_worker_log
from ..models import Finding
from ..pipeline import WORKER_LOG, utc_now
from .report_cmd import write_text


def register(subparsers: Any) -> None:
    """Add `manifest` to the top-level parser."""
    parser = subparsers.add_parser("manifest", help="normalize worker logs into a trace-evidence-manifest/v2")
    parser.add_argument("--worker-log", action="append", default=[], type=Path, metavar="PATH")
    parser.add_argument("--json-out", type=Path, metavar="PATH", help="write the manifest here (default: stdout)")
    parser.add_argument("--config", type=Path, default=Path(".github/trace-harness.yml"), metavar="PATH")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.worker_log:
        raise UsageError("at least one --worker-log is required")
    options = ReaderOptions.from_config(load_config(args.config))
    builder = ManifestBuilder()
    inputs = unique_inputs(args.worker_log, WORKER_LOG)
    for path, _ in inputs:
        with path.open("rb") as stream:
            for item in read_worker_log(stream, str(path), options):
                if isinstance(item, Finding):
                    builder.add(item)
    manifest = builder.manifest([ref for _, ref in inputs], utc_now())
    write_text(args.json_out, manifest_json(manifest))
    return 0
