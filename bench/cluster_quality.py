"""Cluster quality on a labelled corpus of Actions job logs.

    python bench/cluster_quality.py FOLDER TRUTH [--json]

Reads every ``*.txt`` log in FOLDER with the Actions-log reader (a minimal local shim if the reader is
absent), takes each log's root-cause finding, and compares with TRUTH (``{log: {key, class}}``):
pairwise precision / recall / F1 of the clustering, class accuracy, and id stability (the same ids when
the logs are read in shuffled order or split across two runs). Targets: F1 >= 0.95, class accuracy
>= 0.90, id stability 100%.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import BinaryIO

from trace_harness.classify import diagnose_line
from trace_harness.evidence.base import Item, ReaderOptions
from trace_harness.models import Finding
from trace_harness.taxonomy import FailureClass

Reader = Callable[[BinaryIO, str, ReaderOptions], Iterator[Item]]
TARGETS = {"f1": 0.95, "class_accuracy": 0.90, "id_stability": 1.0}

_TS_RE = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT[\d:.]+Z ?")
_EXIT_RE = re.compile(r"^##\[error\]Process completed with exit code (\d+)")


def shim_reader(stream: BinaryIO, display_path: str, options: ReaderOptions) -> Iterator[Item]:
    """Fallback reader: per failing step, the last classifiable output line, else the last output line."""
    output: list[tuple[int, str]] = []
    in_group = False
    text = stream.read().decode("utf-8", "replace")
    for line_no, line in enumerate((_TS_RE.sub("", raw) for raw in text.splitlines()), 1):
        in_group = line.startswith("##[group]") or (in_group and not line.startswith("##[endgroup]"))
        if line.startswith("##[group]Run "):
            output = []
        elif line.startswith("##[error]"):
            yield _shim_finding(display_path, output, (line_no, line[9:]), options)
            output = []
        elif not in_group and not line.startswith("##[") and line.strip():
            output.append((line_no, line))


def _shim_finding(
    display_path: str, output: list[tuple[int, str]], error: tuple[int, str], options: ReaderOptions
) -> Finding:
    texts = [text for _, text in output]
    known = [(n, t) for n, t in output if diagnose_line(t).failure_class is not FailureClass.UNKNOWN]
    real_error = None if _EXIT_RE.match(f"##[error]{error[1]}") else error
    line_no, root = real_error or (known or output or [error])[-1]
    diagnosis = diagnose_line(root, [*texts[-20:], error[1]], rules=options.rules)
    return Finding(
        cluster_id=diagnosis.cluster_id,
        failure_class=diagnosis.failure_class,
        title=diagnosis.title,
        symptom_class=diagnosis.failure_class.value,
        signature=diagnosis.signature,
        source="actions_log",
        ref=f"{display_path}:{line_no}",
        kind="actions_log",
        excerpt=root,
    )


def pick_reader() -> tuple[str, Reader]:
    try:
        from trace_harness.evidence.actions_log import read_actions_log
    except ImportError:
        return "shim", shim_reader
    return "actions_log", read_actions_log


@dataclass(frozen=True)
class Quality:
    reader: str
    logs: int
    clusters: int
    precision: float
    recall: float
    f1: float
    class_accuracy: float
    id_stability: float
    missing: tuple[str, ...]
    misclassified: tuple[str, ...]

    def meets_targets(self) -> bool:
        values = {"f1": self.f1, "class_accuracy": self.class_accuracy, "id_stability": self.id_stability}
        return all(values[name] >= target for name, target in TARGETS.items())


def root_findings(paths: Sequence[Path], reader: Reader) -> dict[str, Finding]:
    """Each log's root-cause finding: the first finding the reader yields for it."""
    found: dict[str, Finding] = {}
    for path in paths:
        items = reader(io.BytesIO(path.read_bytes()), path.name, ReaderOptions())
        first = next((item for item in items if isinstance(item, Finding)), None)
        if first is not None:
            found[path.name] = first
    return found


def pairwise(predicted: dict[str, str], truth: dict[str, str]) -> tuple[float, float, float]:
    """Pairwise precision/recall/F1: a pair is positive when both logs share a cluster."""
    names = sorted(truth)
    true_pairs = {(a, b) for a, b in combinations(names, 2) if truth[a] == truth[b]}
    pred_pairs = {(a, b) for a, b in combinations(names, 2) if a in predicted and predicted.get(b) == predicted[a]}
    hits = len(true_pairs & pred_pairs)
    precision = hits / len(pred_pairs) if pred_pairs else 1.0
    recall = hits / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def id_stability(paths: Sequence[Path], reader: Reader, baseline: dict[str, str]) -> float:
    """Share of logs whose id is the same when read shuffled, and when split across two runs."""
    shuffled = list(paths)
    random.Random(13).shuffle(shuffled)
    half = len(shuffled) // 2
    runs = (
        root_findings(shuffled, reader),
        {**root_findings(shuffled[half:], reader), **root_findings(shuffled[:half], reader)},
    )
    stable = sum(all(run.get(name) and run[name].cluster_id == cid for run in runs) for name, cid in baseline.items())
    return stable / len(baseline) if baseline else 1.0


def evaluate(folder: Path, truth_path: Path, reader: tuple[str, Reader] | None = None) -> Quality:
    name, read = reader or pick_reader()
    truth: dict[str, dict[str, str]] = json.loads(truth_path.read_text(encoding="utf-8"))
    paths = sorted(folder / log for log in truth)
    findings = root_findings(paths, read)
    predicted = {log: finding.cluster_id for log, finding in findings.items()}
    precision, recall, f1 = pairwise(predicted, {log: row["key"] for log, row in truth.items()})
    wrong = tuple(
        log
        for log, row in sorted(truth.items())
        if log in findings and findings[log].failure_class.value != row["class"]
    )
    return Quality(
        reader=name,
        logs=len(truth),
        clusters=len(set(predicted.values())),
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        class_accuracy=round(sum(1 for log in findings if log not in wrong) / len(truth), 4) if truth else 1.0,
        id_stability=round(id_stability(paths, read, predicted), 4),
        missing=tuple(sorted(set(truth) - set(findings))),
        misclassified=wrong,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pairwise clustering quality on a labelled log corpus.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("truth", type=Path)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--shim", action="store_true", help="use the local shim reader, not actions_log")
    args = parser.parse_args(argv)
    quality = evaluate(args.folder, args.truth, ("shim", shim_reader) if args.shim else None)
    if args.json:
        print(json.dumps(asdict(quality), indent=1))
    else:
        print(f"reader={quality.reader} logs={quality.logs} clusters={quality.clusters}")
        print(f"precision={quality.precision} recall={quality.recall} f1={quality.f1}")
        print(f"class_accuracy={quality.class_accuracy} id_stability={quality.id_stability}")
        print(f"missing={list(quality.missing)} misclassified={list(quality.misclassified)}")
    return 0 if quality.meets_targets() else 1


if __name__ == "__main__":
    sys.exit(main())
