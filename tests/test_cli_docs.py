from __future__ import annotations

from pathlib import Path

from trace_harness.cli.docs import cli_reference

CLI_DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_cli_reference_is_current() -> None:
    expected = cli_reference()
    regenerate = "`.venv/bin/python -m trace_harness.cli.docs > docs/cli.md`"
    assert CLI_DOC.read_text() == expected, f"docs/cli.md is stale: run {regenerate}"


def test_every_command_is_documented() -> None:
    text = cli_reference()
    for command in ("report", "manifest", "run", "plan", "issues"):
        assert f"## `trace-harness {command}`" in text
