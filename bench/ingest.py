"""Ingest benchmark: end-to-end `trace-harness report` on a large worker log, as a subprocess.

Usage: python bench/ingest.py [--runs 5] [--scale 10] [--records 400000]
Data lives in bench/.data/ (gitignored). The input is /work/shared/bench/gen_worker_log.py's output when
that generator exists, else bench/gen_worker_log.py's. ``--scale N`` also measures the same file repeated
N times (same id space). Prints wall time (median of --runs), throughput and peak RSS per input.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"
SHARED_GENERATOR = Path("/work/shared/bench/gen_worker_log.py")
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


def measure(log: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `trace-harness report` run, via /usr/bin/time when present."""
    report = DATA / "report.json"
    timer = shutil.which("time") or "/usr/bin/time"
    command = [*CLI, "report", "--worker-log", str(log), "--json-out", str(report)]
    if Path(timer).exists():
        stats = DATA / "time.txt"
        start = time.perf_counter()
        subprocess.run([timer, "-f", "%M", "-o", str(stats), *command], check=True)
        return time.perf_counter() - start, int(stats.read_text().split()[-1])
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def bench(log: Path, runs: int) -> None:
    results = [measure(log) for _ in range(runs)]
    wall = statistics.median(seconds for seconds, _ in results)
    megabytes = log.stat().st_size / 1e6
    peak = max(rss for _, rss in results) / 1024
    print(f"{log.name}: {megabytes:.1f} MB, median wall {wall:.2f} s of {runs}, {megabytes / wall:.1f} MB/s, "
          f"peak RSS {peak:.1f} MiB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=10, help="also bench the file repeated N times; 0 to skip")
    parser.add_argument("--records", type=int, default=400_000)
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    base = generate(args.records)
    bench(base, args.runs)
    if args.scale > 1:
        bench(scaled(base, args.scale), args.runs)


if __name__ == "__main__":
    main()
