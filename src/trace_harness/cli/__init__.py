"""The command-line shell: parses flags, calls the library, maps errors to exit codes.

Each subcommand lives in its own module and registers itself through ``register(subparsers)``.
Errors never surface as tracebacks: a ``TraceHarnessError`` prints one redacted line and exits
with its ``exit_code`` (0 done, 1 failed, 2 usage or config error).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from .. import __version__
from ..errors import TraceHarnessError
from ..redact import mask

Handler = Callable[[argparse.Namespace], int]
COMMAND_MODULES = ("report_cmd", "manifest_cmd", "run_cmd")
QUICK_EXIT = frozenset({"report", "manifest"})  # their outputs are written and closed when they return


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; ``only`` (a command name) registers just that command, so the others are not imported."""
    parser = argparse.ArgumentParser(
        prog="trace-harness",
        description="Turn recurring CI and agent failures into deduplicated, human-gated tracking issues.",
    )
    parser.add_argument("--version", action="version", version=f"trace-harness {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES if only is None else (f"{only}_cmd",):
        module = __import__(f"{__name__}.{name}", fromlist=["register"])
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command(arguments))
    args = parser.parse_args(arguments)
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


def console() -> NoReturn:
    """The `trace-harness` executable: ``main``, then ``exit_process``."""
    arguments = sys.argv[1:]
    exit_process(arguments, main(arguments))


def exit_process(arguments: Sequence[str], code: int) -> NoReturn:
    """End the process with ``code``. After `report` or `manifest`, whose outputs are all written and closed
    by then, skip tearing the interpreter down: freeing a large report's ~100 MB of objects one by one
    takes ~0.13 s and changes nothing. Other commands (`run` holds a forge and a state store) exit normally."""
    if _command(arguments) not in QUICK_EXIT:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            stream.flush()
    os._exit(code)


def _command(arguments: Sequence[str]) -> str | None:
    """The command named first, when it is one of ours (top-level flags such as --help need them all)."""
    first = arguments[0] if arguments else ""
    return first if f"{first}_cmd" in COMMAND_MODULES else None


if __name__ == "__main__":
    console()
