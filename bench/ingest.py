"""Ingest benchmark: end-to-end `trace-harness report` on a large worker log, as a subprocess.

Usage: python bench/ingest.py [--runs 5] [--scale 10] [--records 400000]
       python bench/ingest.py --actions [--runs 5] [--scale 10] [--megabytes 86]   (Actions-log ingest)
Data lives in bench/.data/ (gitignored). The input is ../shared/bench/gen_worker_log.py's output when
that generator exists, else bench/gen_worker_log.py's. ``--scale N`` also measures the same file repeated
N times (same id space; deleted afterwards unless --keep). Prints wall time (median of --runs, process
start to report written), throughput, and peak RSS of the CLI process and of its forked scan process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ingest_actions
from bytecode import compile_imports

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
SHARED_GENERATOR = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_worker_log.py"
CLI = [sys.executable, "-m", "trace_harness"]


def generate(records: int) -> Path:
    out = DATA / f"worker-{records}.log"
    if not out.exists():
        generator = SHARED_GENERATOR if SHARED_GENERATOR.exists() else HERE / "gen_worker_log.py"
        subprocess.run([sys.executable, str(generator), str(out), str(records), "7"], check=True)
    return out


def scaled(source: Path, factor: int) -> Path:
    out = DATA / f"{source.stem}-x{factor}.log"
    if not out.exists():
        with out.open("wb") as target:
            for _ in range(factor):
                with source.open("rb") as handle:
                    shutil.copyfileobj(handle, target, 16 * 1024 * 1024)
    return out


# Runs the CLI in-process so that, once it returns, getrusage can tell this process's peak RSS apart from
# the largest peak among its reaped children (a forked helper: finishing clusters, or scanning on the pure-Python path).
_PROBE = (
    "import resource, sys; from trace_harness.cli import exit_process, main; code = main(sys.argv[2:]); "
    "usage = resource.getrusage; open(sys.argv[1], 'w').write("
    "f'{usage(resource.RUSAGE_SELF).ru_maxrss} {usage(resource.RUSAGE_CHILDREN).ru_maxrss}'); "
    "exit_process(sys.argv[2:], code)"
)


def measure(log: Path) -> tuple[float, int, int]:
    """Wall seconds (process start to report written) and peak RSS in KiB of the CLI process and its worker."""
    report, stats = DATA / "report.json", DATA / "rss.txt"
    command = [sys.executable, "-c", _PROBE, str(stats), "report", "--worker-log", str(log), "--json-out", str(report)]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    main_rss, worker_rss = (int(value) for value in stats.read_text().split())
    return wall, main_rss, worker_rss


def bench(log: Path, runs: int) -> None:
    results = [measure(log) for _ in range(runs)]
    wall = statistics.median(seconds for seconds, _, _ in results)
    megabytes = log.stat().st_size / 1e6
    main_rss = max(main for _, main, _ in results) / 1024
    worker_rss = max(worker for _, _, worker in results) / 1024
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{log.name}: {megabytes:.1f} MB, median wall {wall:.2f} s of {runs} "
          f"(min {min(r[0] for r in results):.2f}, max {max(r[0] for r in results):.2f}), "
          f"{megabytes / wall:.1f} MB/s; peak RSS main {main_rss:.1f} MiB, helper {worker_rss:.1f} MiB, "
          f"sum {main_rss + worker_rss:.1f} MiB; load average after: {load}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=10, help="also bench the file repeated N times; 0 to skip")
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--keep", action="store_true", help="keep the scaled file in bench/.data/")
    parser.add_argument("--actions", action="store_true", help="time Actions-log ingest instead (ingest_actions.py)")
    args, rest = parser.parse_known_args()
    if args.actions:  # one entry point for both ingest benchmarks; the Actions one has its own options
        sys.argv = [str(HERE / "ingest_actions.py"), "--runs", str(args.runs), "--scale", str(args.scale), *rest]
        ingest_actions.main()
        return
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    compile_imports()
    DATA.mkdir(exist_ok=True)
    base = generate(args.records)
    print(f"load average before: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    bench(base, args.runs)
    if args.scale > 1:
        bench_then_delete(scaled(base, args.scale), args.keep, lambda big: bench(big, args.runs))


def bench_then_delete(big: Path, keep: bool, run: Callable[[Path], None]) -> None:
    """Bench a scaled input, then delete it unless ``keep``: ~860 MB, rebuilt in seconds, not worth the disk."""
    try:
        run(big)
    finally:
        if not keep:
            big.unlink()


if __name__ == "__main__":
    main()
