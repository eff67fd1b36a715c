"""Command-line shell. (Skeleton; subcommands are being filled in.)"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print("trace-harness: not implemented yet", file=sys.stderr)
    return 2
