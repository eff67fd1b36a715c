"""Cluster quality on the committed corpus of real tool output wrapped as Actions job logs."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from trace_harness.taxonomy import FailureClass

BENCH = Path(__file__).resolve().parents[1] / "bench"
CORPUS = BENCH / "corpus"
LOGS, TRUTH = CORPUS / "logs", CORPUS / "truth.json"


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cluster_quality", BENCH / "cluster_quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


cluster_quality = _load_bench()


def test_corpus_is_labelled_and_has_variants() -> None:
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))
    assert {path.name for path in LOGS.glob("*.txt")} == set(truth)
    assert all(FailureClass(row["class"]) for row in truth.values())
    variants = Counter(row["key"] for row in truth.values())
    assert len(variants) >= 15
    assert min(variants.values()) >= 3


def test_corpus_logs_are_in_the_raw_actions_format() -> None:
    sample = sorted(LOGS.glob("*.txt"))[0].read_text(encoding="utf-8")
    assert sample.startswith("\ufeff2025-")
    assert "##[group]Run " in sample and "##[error]Process completed with exit code" in sample


@pytest.mark.parametrize("use_shim", [False, True], ids=["reader", "shim"])
def test_quality_meets_targets(use_shim: bool) -> None:
    reader = ("shim", cluster_quality.shim_reader) if use_shim else None
    quality = cluster_quality.evaluate(LOGS, TRUTH, reader)
    assert quality.f1 >= cluster_quality.TARGETS["f1"], quality
    assert quality.class_accuracy >= cluster_quality.TARGETS["class_accuracy"], quality
    assert quality.id_stability == 1.0, quality
    assert quality.misclassified == ()


def test_pairwise_scores() -> None:
    truth = {"a": "x", "b": "x", "c": "y", "d": "y"}
    assert cluster_quality.pairwise(dict(truth), truth) == (1.0, 1.0, 1.0)
    merged = {"a": "k", "b": "k", "c": "k", "d": "k"}
    precision, recall, _ = cluster_quality.pairwise(merged, truth)
    assert (precision, recall) == (2 / 6, 1.0)
    split = {"a": "1", "b": "2", "c": "3", "d": "3"}
    assert cluster_quality.pairwise(split, truth)[:2] == (1.0, 0.5)


def test_cli_exit_code_reflects_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert cluster_quality.main([str(LOGS), str(TRUTH), "--json", "--shim"]) == 0
    assert json.loads(capsys.readouterr().out)["id_stability"] == 1.0
