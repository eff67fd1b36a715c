"""Rendering proposals and issue bodies from Jinja templates. (Placeholder with the final API.)"""

from __future__ import annotations

from pathlib import Path

from .models import Cluster, DraftPRProposal, GitHubIssueProposal


def render_issue(cluster: Cluster, report_ref: str, templates: Path | None = None) -> GitHubIssueProposal:
    """The `proposals.github_issue` of a cluster; the body never exceeds 65,536 characters."""
    del templates
    return GitHubIssueProposal(title=f"Trace harness: address {cluster.id} cluster", body=report_ref)


def render_draft_pr(cluster: Cluster, report_ref: str, templates: Path | None = None) -> DraftPRProposal:
    """The `proposals.draft_pr` of a cluster."""
    del templates
    return DraftPRProposal(title=f"fix(harness): address {cluster.id} trace cluster", plan=report_ref)
