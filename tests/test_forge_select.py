"""Which forge a run talks to: the token decides, the repository must then be known."""

from __future__ import annotations

from pathlib import Path

import pytest

from trace_harness.errors import UsageError
from trace_harness.forge import select_forge
from trace_harness.forge.github import GitHubForge
from trace_harness.forge.local import LocalForge


def test_no_token_means_the_local_forge(tmp_path: Path) -> None:
    forge = select_forge({"GITHUB_REPOSITORY": "octo/demo"}, tmp_path)
    assert isinstance(forge, LocalForge) and forge.path == tmp_path / "forge.sqlite"
    forge.close()


@pytest.mark.parametrize("variable", ["GITHUB_TOKEN", "GH_TOKEN"])
def test_a_token_means_github_and_makes_no_request(tmp_path: Path, variable: str) -> None:
    forge = select_forge({variable: "t", "GITHUB_REPOSITORY": "octo/demo"}, tmp_path)
    assert isinstance(forge, GitHubForge) and forge.repo == "octo/demo" and forge.requests_made == 0


def test_explicit_repo_wins_over_the_environment(tmp_path: Path) -> None:
    forge = select_forge({"GH_TOKEN": "t", "GITHUB_REPOSITORY": "octo/other"}, tmp_path, repo="octo/demo")
    assert isinstance(forge, GitHubForge) and forge.repo == "octo/demo"


def test_token_without_repository_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--repo"):
        select_forge({"GITHUB_TOKEN": "t"}, tmp_path)
