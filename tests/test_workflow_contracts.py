"""Contract checks over action.yml and the workflows: the security rules hold in every file we ship."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTION_FILES = [ROOT / "action.yml", *WORKFLOW_FILES]
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def steps_of(document: Any) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"].get("steps", []))
    return [step for job in document.get("jobs", {}).values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.name)
def test_no_expressions_inside_run_scripts(path: Path) -> None:
    for step in steps_of(load(path)):
        assert "${{" not in step.get("run", ""), f"{path.name}: pass `${{{{ }}}}` values through env: instead"


@pytest.mark.parametrize("path", ACTION_FILES, ids=lambda p: p.name)
def test_third_party_actions_are_pinned_by_sha(path: Path) -> None:
    for step in steps_of(load(path)):
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            assert PINNED.match(uses), f"{path.name}: {uses} is not pinned to a commit SHA"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflows_declare_least_privilege(path: Path) -> None:
    document = load(path)
    assert document.get("permissions") == {"contents": "read"}, f"{path.name}: top-level permissions must be read-only"
    for name, job in document["jobs"].items():
        for scope, level in job.get("permissions", {}).items():
            assert level in {"read", "write", "none"}, f"{path.name}:{name}: {scope}={level}"


def test_action_inputs_are_all_used() -> None:
    document = load(ROOT / "action.yml")
    text = (ROOT / "action.yml").read_text()
    for name in document["inputs"]:
        assert f"inputs.{name}" in text, f"action input {name} is declared but never passed on"
