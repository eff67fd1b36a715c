"""Rendering proposals and tracking-issue bodies from Jinja templates.

Templates live in `templates/` (overridable per file by `config.templates`). A body must fit GitHub's
65,536-character limit, so rendering degrades in whole steps — fewer evidence refs, then affected ids
summarised as counts, then a compact form — instead of cutting through Markdown. Every rendered
string passes through ``redact.mask`` last, so an operator's template cannot leak what evidence held.
"""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict

from .bounds import MAX_BODY_CHARS, MAX_PROPOSAL_FIELD_BYTES, truncate
from .errors import BoundsError, UsageError
from .identity import cluster_marker, special_marker, state_label
from .models import AFFECTED_KEYS, Cluster, DraftPRProposal, GitHubIssueProposal
from .redact import mask
from .taxonomy import CLASS_INFO

PROPOSAL_TEMPLATES = ("issue.md.j2", "draft_pr_plan.md.j2", "compact.md.j2")
BUNDLED_TEMPLATES = (
    Path(__file__).parent / "_templates",  # inside an installed wheel
    Path(__file__).resolve().parents[2] / "templates",  # a source checkout
)
METADATA_SUFFIX_KEYS = (
    "timestamp", "step", "method", "model", "exit_code", "timeout_ms", "elapsed_ms", "duration_ms",
    "output_bytes", "output_dropped",
)  # fmt: skip


class DetailLevel(BaseModel):
    """How much of a cluster one rendering shows; `compact` switches to the compact template."""

    model_config = ConfigDict(frozen=True)

    evidence_refs: int
    affected_values: int
    evidence_rows: int
    excerpts: int
    compact: bool = False


DETAIL_STEPS = (
    DetailLevel(evidence_refs=5, affected_values=5, evidence_rows=10, excerpts=3),
    DetailLevel(evidence_refs=1, affected_values=5, evidence_rows=3, excerpts=1),
    DetailLevel(evidence_refs=1, affected_values=0, evidence_rows=1, excerpts=0),
    DetailLevel(evidence_refs=0, affected_values=0, evidence_rows=0, excerpts=0, compact=True),
)


def md_code(text: Any) -> str:
    """Inline code that cannot break out: bounded, with backticks swapped for quotes."""
    return "`" + truncate(str(text), MAX_PROPOSAL_FIELD_BYTES).replace("`", "'") + "`"


def table_cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def fenced(text: Any) -> str:
    """A fenced block whose fence is longer than any backtick run inside, so it cannot be closed early."""
    body = str(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def metadata_suffix(metadata: dict[str, Any]) -> str:
    parts = [f"{key}={md_code(metadata[key])}" for key in METADATA_SUFFIX_KEYS if metadata.get(key)]
    return "; " + ", ".join(parts) if parts else ""


@lru_cache(maxsize=8)
def environment(override: Path | None = None) -> SandboxedEnvironment:
    """One sandboxed environment per template directory; operator files shadow bundled ones by name."""
    search = [override] if override else []
    search += [path for path in BUNDLED_TEMPLATES if path.is_dir()]
    env = SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(str(path)) for path in search]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # Markdown, not HTML; inline values go through `code`/`cell`/`fenced`
    )
    env.filters.update(code=md_code, cell=table_cell, fenced=fenced, metadata_suffix=metadata_suffix)
    env.globals["affected_keys"] = AFFECTED_KEYS
    env.filters["clip"] = lambda text: truncate(str(text), MAX_PROPOSAL_FIELD_BYTES)
    return env


def _render(template: str, templates: Path | None, **context: Any) -> str:
    try:
        text = environment(templates).get_template(template).render(**context)
    except TemplateNotFound:
        searched = ", ".join(str(path) for path in ([templates] if templates else []) + list(BUNDLED_TEMPLATES))
        raise UsageError(f"template {template} not found (searched: {searched})") from None
    except TemplateError as exc:  # an operator's override template that does not render
        raise UsageError(f"template {template} does not render: {type(exc).__name__}: {exc}") from None
    return mask(re.sub(r"\n{3,}", "\n\n", text).strip() + "\n")


def _cluster_context(cluster: Cluster, report_ref: str) -> dict[str, Any]:
    scope = (
        f"Make a reviewed harness change, or a reviewed no-op decision, that addresses {md_code(cluster.id)} "
        f"({cluster.symptom_class}) at the suspected harness surface."
    )
    return {
        "cluster": cluster.model_dump(mode="json"),
        "class_info": CLASS_INFO[cluster.failure_class].model_dump(),
        "report_ref": report_ref,
        "scope": scope,
    }


def _first_fitting(render_at: Any) -> str:
    """Render at each detail step until the text fits the body bound."""
    for detail in DETAIL_STEPS:
        text: str = render_at(detail)
        if len(text) <= MAX_BODY_CHARS:
            return text
    raise BoundsError(f"rendered body is {len(text)} characters even in compact form")


def _proposal_text(template: str, context: dict[str, Any], detail: DetailLevel, templates: Path | None) -> str:
    name = "compact.md.j2" if detail.compact else template
    return _render(name, templates, detail=detail.model_dump(), **context)


def proposal_context(cluster: Cluster, report_ref: str) -> dict[str, Any]:
    """What the proposal templates see; made once per cluster version (its dump is up to 256 KiB)."""
    return _cluster_context(cluster, report_ref)


def warm(templates: Path | None = None) -> None:
    """Compile the proposal templates now (before forking finishers, so each needs not compile them)."""
    for name in PROPOSAL_TEMPLATES:
        with contextlib.suppress(TemplateError):  # reported, with its name, when it is rendered
            environment(templates).get_template(name)


def render_issue(
    cluster: Cluster, report_ref: str, templates: Path | None = None, *, context: dict[str, Any] | None = None
) -> GitHubIssueProposal:
    """The `proposals.github_issue` of a cluster; the body never exceeds 65,536 characters."""
    context = context or proposal_context(cluster, report_ref)
    body = _first_fitting(lambda detail: _proposal_text("issue.md.j2", context, detail, templates))
    return GitHubIssueProposal(title=issue_title(cluster), body=body)


def render_draft_pr(
    cluster: Cluster, report_ref: str, templates: Path | None = None, *, context: dict[str, Any] | None = None
) -> DraftPRProposal:
    """The `proposals.draft_pr` of a cluster."""
    context = context or proposal_context(cluster, report_ref)
    plan = _first_fitting(lambda detail: _proposal_text("draft_pr_plan.md.j2", context, detail, templates))
    return DraftPRProposal(title=mask(f"fix(harness): address {cluster.id} trace cluster"), plan=plan)


def issue_title(cluster: Cluster) -> str:
    """`Trace harness: <class title> (<id>)`, bounded well under GitHub's 256-character title limit."""
    headline = truncate(cluster.title, 160)
    return mask(f"Trace harness: {headline} ({cluster.id})")


def tracking_body(
    cluster: Cluster,
    report_ref: str,
    *,
    show_excerpts: bool,
    run_url: str = "",
    namespace: str = "trace-harness",
    templates: Path | None = None,
) -> str:
    """The tracking issue body: marker first, the proposal, then the occurrence table (≤65,536 chars)."""

    context = _cluster_context(cluster, report_ref)

    def at(detail: DetailLevel) -> str:
        return _render(
            "tracking.md.j2",
            templates,
            marker=cluster_marker(cluster.id),
            proposal_body=_proposal_text("issue.md.j2", context, detail, templates),
            detail=detail.model_dump(),
            show_excerpts=show_excerpts,
            run_url=run_url,
            approve_label=state_label("approved", namespace),
            **context,
        )

    return _first_fitting(at)


def special_body(name: str, title: str, clusters: list[Cluster], note: str) -> str:
    """A special issue (systemic, rolling) listing clusters; rows are dropped until it fits."""
    for limit in (len(clusters), 50, 10, 0):
        rows = [f"| {md_code(c.id)} | {table_cell(c.symptom_class)} | {c.occurrences} |" for c in clusters[:limit]]
        more = [f"\nplus {len(clusters) - limit} more clusters in the report."] if len(clusters) > limit else []
        lines = [
            special_marker(name),
            f"## {title}",
            "",
            note,
            "",
            "| Cluster | Symptom | Occurrences |",
            "|---|---|---|",
        ]
        text = mask("\n".join([*lines, *rows, *more]) + "\n")
        if len(text) <= MAX_BODY_CHARS:
            return text
    raise BoundsError(f"special issue {name} does not fit even without rows")


def change_comment(cluster: Cluster, reason: str, report_ref: str) -> str:
    """The one comment an update or reopen posts: what changed, bounded."""
    refs = "\n".join(f"- {md_code(entry.ref)} ({entry.kind})" for entry in cluster.evidence[:5])
    text = (
        f"trace-harness: **{reason}** for {md_code(cluster.id)}: {cluster.occurrences} independent occurrences, "
        f"last seen {cluster.last_seen or 'unknown'}.\n\nNewest evidence:\n{refs or '- (none retained)'}\n\n"
        f"Report: {report_ref}\n"
    )
    return mask(truncate(text, MAX_BODY_CHARS))
