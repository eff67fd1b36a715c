"""Forge adapters: GitHub (PyGithub) and the local SQLite forge, and the rule that picks one.

A token (``GITHUB_TOKEN`` or ``GH_TOKEN``) selects ``GitHubForge``; without one the run uses ``LocalForge``
at ``<state-dir>/forge.sqlite``, so the whole loop works on a fresh machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import UsageError
from .base import Forge, ListCache

LOCAL_FORGE_FILE = "forge.sqlite"


def select_forge(
    env: Mapping[str, str],
    state_dir: Path,
    *,
    repo: str | None = None,
    list_cache: ListCache | None = None,
) -> Forge:
    """GitHubForge when the environment carries a token, else LocalForge under ``state_dir``."""
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    if not token:
        from .local import LocalForge

        return LocalForge(state_dir / LOCAL_FORGE_FILE)
    target = repo or env.get("GITHUB_REPOSITORY")
    if not target:
        raise UsageError("a GitHub token is set but no repository: pass --repo owner/name or set GITHUB_REPOSITORY")
    from .github import DEFAULT_BASE_URL, GitHubForge  # PyGithub is imported only when it is used

    base_url = env.get("GITHUB_API_URL") or DEFAULT_BASE_URL
    return GitHubForge(target, token, base_url=base_url, list_cache=list_cache)
