"""Manifest benchmark: `trace-harness manifest` (aiops v2) on the ingest bench's worker log, then reading the
manifest back with `trace-harness report --evidence-manifest`, each as a subprocess.

Usage: python bench/manifest.py [--runs 3] [--scale 0] [--records 400000]
``--scale N`` also measures the worker log repeated N times (same id space, so each run's events pass its
64 KiB bound; deleted afterwards unless --keep). Prints, per step, the median wall time of ``--runs``, the
throughput over the worker log's bytes, the peak RSS, and the manifest's size.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import ingest
from bytecode import compile_imports

_PROBE = ingest._PROBE  # the CLI in-process, so its own peak RSS is known


def measure(arguments: list[str]) -> tuple[float, int]:
    """Wall seconds (process start to output written) and peak RSS in KiB of one CLI run."""
    stats = ingest.DATA / "rss.txt"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", _PROBE, str(stats), *arguments], check=True)
    wall = time.perf_counter() - start
    return wall, int(stats.read_text().split()[0])


def bench_step(name: str, arguments: list[str], runs: int, megabytes: float) -> None:
    results = [measure(arguments) for _ in range(runs)]
    wall = statistics.median(seconds for seconds, _ in results)
    rss = max(peak for _, peak in results) / 1024
    low, high = min(r[0] for r in results), max(r[0] for r in results)
    print(f"  {name}: median {wall:.2f} s of {runs} ({low:.2f}-{high:.2f}), {megabytes / wall:.1f} MB/s of log; "
          f"peak RSS {rss:.1f} MiB")  # fmt: skip


def bench(log: Path, runs: int) -> None:
    manifest, report = ingest.DATA / f"{log.stem}.manifest.json", ingest.DATA / "manifest-report.json"
    megabytes = log.stat().st_size / 1e6
    print(f"{log.name}: {megabytes:.1f} MB")
    try:
        bench_step("manifest", ["manifest", "--worker-log", str(log), "--json-out", str(manifest)], runs, megabytes)
        print(f"  manifest: {manifest.stat().st_size / 1e6:.1f} MB")
        read = ["report", "--evidence-manifest", str(manifest), "--json-out", str(report)]
        bench_step("report --evidence-manifest", read, runs, megabytes)
    finally:
        manifest.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scale", type=int, default=0, help="also bench the log repeated N times")
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--keep", action="store_true", help="keep the scaled log in bench/.data/")
    args = parser.parse_args()
    compile_imports()
    ingest.DATA.mkdir(exist_ok=True)
    base = ingest.generate(args.records)
    bench(base, args.runs)
    if args.scale > 1:
        ingest.bench_then_delete(ingest.scaled(base, args.scale), args.keep, lambda big: bench(big, args.runs))


if __name__ == "__main__":
    main()
