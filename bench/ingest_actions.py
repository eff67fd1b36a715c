"""Actions-log ingest benchmark: end-to-end `trace-harness report --actions-log` on a large job log.

Usage: python bench/ingest_actions.py [--runs 5] [--megabytes 86] [--scale 10] [--seed 7] [--keep]

The input is ``bench/gen_actions_log.py OUT MB SEED`` (classify + redact + fingerprint all run: the log has
failing steps of several kinds, warnings, planted tokens and key blocks). ``--scale N`` also measures a log
generated at N times the size (deleted afterwards unless ``--keep``), to show that memory stays flat. Prints
the median wall time of ``--runs`` subprocess runs (process start to report written), throughput, peak RSS
of the CLI process and of its forked gate helper, the number of findings, and fails if the report holds any
planted secret.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bytecode import compile_imports

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"

# The CLI runs in-process here so that, once it returns, getrusage can tell its own peak RSS apart from the
# largest peak among its reaped children (the forked helper that runs the line gate ahead).
_PROBE = (
    "import resource, sys; from trace_harness.cli import exit_process, main; code = main(sys.argv[2:]); "
    "usage = resource.getrusage; open(sys.argv[1], 'w').write("
    "f'{usage(resource.RUSAGE_SELF).ru_maxrss} {usage(resource.RUSAGE_CHILDREN).ru_maxrss}'); "
    "exit_process(sys.argv[2:], code)"
)


def generate(megabytes: float, seed: int) -> Path:
    out = DATA / f"actions-{megabytes:g}-{seed}.log"
    if not out.exists() or not Path(f"{out}.secrets.json").exists():
        DATA.mkdir(exist_ok=True)
        subprocess.run(
            [sys.executable, str(HERE / "gen_actions_log.py"), str(out), str(megabytes), str(seed)], check=True
        )
    return out


def measure(log: Path) -> tuple[float, int, int]:
    """Wall seconds (process start to report written) and peak RSS in KiB of the CLI process and its helper."""
    report, stats = DATA / "actions-report.json", DATA / "actions-rss.txt"
    command = [sys.executable, "-c", _PROBE, str(stats), "report", "--actions-log", str(log), "--json-out", str(report)]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    main_rss, helper_rss = (int(value) for value in stats.read_text().split())
    return wall, main_rss, helper_rss


def check_report(log: Path) -> str:
    """Counts from the last report written; raises if any planted secret reached it."""
    text = (DATA / "actions-report.json").read_text()
    leaked = [value for value in json.loads(Path(f"{log}.secrets.json").read_text()) if value in text]
    if leaked:
        raise SystemExit(f"{log.name}: {len(leaked)} planted secrets leaked into the report")
    clusters = json.loads(text)["clusters"]
    findings = sum(cluster["occurrences"] for cluster in clusters)
    return f"{len(clusters)} clusters, {findings} findings, no planted secret"


def bench(log: Path, runs: int) -> None:
    results = [measure(log) for _ in range(runs)]
    wall = statistics.median(seconds for seconds, _, _ in results)
    megabytes = log.stat().st_size / 1e6
    main_rss = max(main for _, main, _ in results) / 1024
    helper_rss = max(helper for _, _, helper in results) / 1024
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{log.name}: {megabytes:.1f} MB, median wall {wall:.2f} s of {runs} "
          f"(min {min(r[0] for r in results):.2f}, max {max(r[0] for r in results):.2f}), "
          f"{megabytes / wall:.1f} MB/s; peak RSS main {main_rss:.1f} MiB, gate helper {helper_rss:.1f} MiB; "
          f"{check_report(log)}; load average after: {load}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--megabytes", type=float, default=86)
    parser.add_argument("--scale", type=int, default=10, help="also run a log N times larger; 0 to skip")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scaled log in bench/.data/")
    args = parser.parse_args()
    compile_imports()
    bench(generate(args.megabytes, args.seed), args.runs)
    if args.scale > 1:
        big = generate(args.megabytes * args.scale, args.seed)
        try:
            bench(big, args.runs)
        finally:
            if not args.keep:
                big.unlink()
                Path(f"{big}.secrets.json").unlink()


if __name__ == "__main__":
    main()
