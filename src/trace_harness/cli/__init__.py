"""The command-line shell: parses flags, calls the library, maps errors to exit codes.

Each subcommand lives in its own module and registers itself through ``register(subparsers)``.
Errors never surface as tracebacks: a ``TraceHarnessError`` prints one redacted line and exits
with its ``exit_code`` (0 done, 1 failed, 2 usage or config error).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import TraceHarnessError
from ..redact import mask

Handler = Callable[[argparse.Namespace], int]
COMMAND_MODULES = ("report_cmd", "manifest_cmd", "run_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trace-harness",
        description="Turn recurring CI and agent failures into deduplicated, human-gated tracking issues.",
    )
    parser.add_argument("--version", action="version", version=f"trace-harness {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = __import__(f"{__name__}.{name}", fromlist=["register"])
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except TraceHarnessError as exc:
        print(f"trace-harness: error: {mask(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"trace-harness: error: {mask(str(exc))}", file=sys.stderr)
        return 2 if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError) else 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
