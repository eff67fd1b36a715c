"""`trace-harness manifest`: evidence in, one durable, redacted evidence manifest out.

Worker logs alone give the aiops `trace-evidence-manifest/v2` (same flags and file as the aiops script).
Any other evidence (Actions logs, artifacts, JUnit, JSONL events, `--evidence`) gives our
`trace-harness-manifest/v1`, which holds every reader's findings, worker events included.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import load_config
from ..errors import UsageError
from ..evidence import th_manifest
from ..evidence.base import ReaderOptions
from ..evidence.inputs import InputDigests
from ..evidence.manifest import ManifestBuilder
from ..evidence.manifest_spool import bucket_count
from ..evidence.worker_log import read_worker_log
from ..models import Finding
from ..pipeline import WORKER_LOG, reader_for, utc_now
from .report_cmd import TYPED_FLAGS, check_outputs, evidence_paths, write_pieces, write_text


def register(subparsers: Any) -> None:
    """Add `manifest` to the top-level parser."""
    parser = subparsers.add_parser(
        "manifest",
        help="normalize evidence into a durable manifest (aiops v2 for worker logs, trace-harness-manifest/v1 else)",
    )
    parser.add_argument("--worker-log", action="append", default=[], type=Path, metavar="PATH")
    for flag, kind in TYPED_FLAGS.items():
        parser.add_argument(flag, action="append", default=[], dest=kind, metavar="PATH|GLOB", help=f"{kind} input")
    parser.add_argument(
        "--evidence", action="append", default=[], type=Path, metavar="DIR|FILE",
        help="files or folders of any evidence kind, sniffed from their content",
    )  # fmt: skip
    parser.add_argument("--json-out", type=Path, metavar="PATH", help="write the manifest here (default: stdout)")
    parser.add_argument("--config", type=Path, default=Path(".github/trace-harness.yml"), metavar="PATH")
    parser.set_defaults(handler=run, evidence_manifest=[])


def run(args: argparse.Namespace) -> int:
    options = ReaderOptions.from_config(load_config(args.config))
    check_outputs(args.json_out)
    paths, _unknown = evidence_paths(args)
    readable = {kind: files for kind, files in paths.items() if files}
    if not readable:
        raise UsageError("at least one --worker-log or other evidence input is required")
    if set(readable) == {WORKER_LOG}:
        _write_worker_manifest(args.json_out, readable[WORKER_LOG], options)
    else:
        write_text(args.json_out, _findings_manifest(readable, options))
    return 0


def _write_worker_manifest(out: Path | None, paths: Sequence[Path], options: ReaderOptions) -> None:
    """The aiops v2 manifest, written run by run; inputs over a few MiB are spooled to disk on the way."""
    buckets = bucket_count(sum(path.stat().st_size for path in paths))
    with ManifestBuilder(buckets) as builder:
        write_pieces(out, _worker_manifest(builder, paths, options))


def _worker_manifest(builder: ManifestBuilder, paths: Sequence[Path], options: ReaderOptions) -> Iterator[str]:
    """The v2 manifest's JSON in pieces, from the worker logs folded into ``builder``."""
    with InputDigests([(WORKER_LOG, path) for path in paths]) as digests:
        for index, path in enumerate(paths):
            if digests.keep(index):  # byte-identical inputs are read once
                with path.open("rb") as stream:
                    for item in read_worker_log(stream, str(path), options):
                        if isinstance(item, Finding):
                            builder.add(item)
        refs = digests.refs()
    return builder.json_pieces(refs, utc_now())


def _findings_manifest(paths: Mapping[str, Sequence[Path]], options: ReaderOptions) -> str:
    entries = [(kind, path) for kind, files in sorted(paths.items()) for path in files]
    findings: list[Finding] = []
    with InputDigests(entries) as digests:
        for index, (kind, path) in enumerate(entries):
            if digests.keep(index):  # byte-identical inputs are read once, whatever their kinds
                with path.open("rb") as stream:
                    findings += [
                        item for item in reader_for(kind)(stream, str(path), options) if isinstance(item, Finding)
                    ]
        refs = digests.refs()
    return th_manifest.manifest_json(th_manifest.build_manifest(findings, refs, utc_now()))
