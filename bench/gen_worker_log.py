"""Deterministic aiops-format worker log generator, used when the shared benchmark generator is absent.

Usage: gen_worker_log.py OUT [RECORDS] [SEED]. Mix: the five failure kinds, successful noise, opaque
multi-line continuations mentioning `event=`, and planted credentials inside opaque payloads.
"""

from __future__ import annotations

import random
import sys

TAILS = (
    ("runner_timeout", 'msg="timeout" payload=map[elapsed_ms:{a} output_bytes:{b} output_head:https://u:p@h/{a}.git]'),
    ("turn_input_required", 'msg="input" payload=map[method:approval params:{{"ask":"ok?"}}]'),
    ("unsupported_tool_call", 'msg="unsupported" payload=map[arguments:{{"q":1}} tool:some tool]'),
    ("runner_end", 'msg="runner failed" payload=map[ok:false error:exit status {a}]'),
    ("runner_end", 'msg="runner completed" payload=map[ok:true elapsed_ms:{a}]'),
    ("run_phase_transition", 'msg="phase" payload=map[from:running to:verifying]'),
    ("malformed", 'msg="bad protocol line" payload=map[raw:{{"jsonrpc":"2.0",]'),
)


def record(rng: random.Random) -> str:
    kind, tail = rng.choice(TAILS)
    issue = rng.randint(1, 5000)
    stamp = (
        f"2026/06/{rng.randint(10, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    )
    prefix = (
        f"{stamp} event={kind} task_id=run-{issue}-{rng.randint(1, 3)} issue_id=issue-{issue} "
        f"issue_identifier=GH-{issue} session_id=sess-{rng.randint(1, 99999)} "
    )
    line = prefix + tail.format(a=rng.randint(1, 99999), b=rng.randint(1, 99999)) + "\n"
    if rng.random() < 0.05:
        line += "  more opaque output with event=runner_timeout issue_id=fake and [brackets]\n"
    return line


def main() -> None:
    out, records = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 400_000
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
    with open(out, "w", encoding="utf-8") as handle:
        handle.writelines(record(rng) for _ in range(records))


if __name__ == "__main__":
    main()
