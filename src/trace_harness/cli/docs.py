"""Generate `docs/cli.md` from the parsers' own `--help`, so the reference cannot drift from the code.

Regenerate with `python -m trace_harness.cli.docs > docs/cli.md`; a test checks the file is current.
"""

from __future__ import annotations

import argparse
import os

from . import build_parser

HELP_COLUMNS = "100"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """The Markdown reference: the top-level help, then each command's help, in a fixed width."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS  # argparse wraps to the terminal width; pin it for stable output
    try:
        parser = build_parser()
        sections = ["# Command-line reference", "", "Generated from `--help`; do not edit by hand.", ""]
        sections += _section("trace-harness", parser)
        for name, sub in sorted(_subparsers(parser).items()):
            sections += _section(f"trace-harness {name}", sub)
        return "\n".join(sections).rstrip() + "\n"
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def _section(title: str, parser: argparse.ArgumentParser) -> list[str]:
    return [f"## `{title}`", "", "```text", parser.format_help().rstrip(), "```", ""]


if __name__ == "__main__":
    print(cli_reference(), end="")
