"""The bodies the driver posts: rendered by ``render``, plus the hidden digest line it reads back.

Tracking issues use ``render.tracking_body``, special issues ``render.special_body``; the digest line is
appended after rendering, so the 65,536-character bound is checked again here.
"""

from __future__ import annotations

from pathlib import Path

from . import render
from .bounds import MAX_BODY_CHARS
from .identity import TRACKING_LABEL
from .models import Cluster, Report
from .plan import Plan, SpecialIssue
from .redact import mask

MAX_TITLE_CHARS = 256
SPECIAL_NAMES = frozenset(special.value for special in SpecialIssue)

SPECIAL_TITLES = {
    SpecialIssue.SYSTEMIC: "Trace harness: systemic failure across {count} cluster(s)",
    SpecialIssue.ROLLING: "Trace harness: rolling report of {count} cluster(s) (notify-only)",
}
SPECIAL_NOTES = {
    SpecialIssue.SYSTEMIC: "One signature failed across many jobs in a short time; these clusters are tracked here "
    "together instead of one issue each.",
    SpecialIssue.ROLLING: "This repository runs trace-harness in notify-only mode: these clusters qualify for a "
    "tracking issue, and are listed here instead.",
}


def tracking_body(
    cluster: Cluster,
    digest: str,
    raw_excerpts: bool,
    *,
    report_ref: str = "trace-harness run",
    run_url: str = "",
    namespace: str = TRACKING_LABEL,
    templates: Path | None = None,
) -> str:
    """The rendered tracking body (marker first) with the hidden digest line the driver reads back."""
    body = render.tracking_body(cluster, report_ref, show_excerpts=raw_excerpts, run_url=run_url,
                                namespace=namespace, templates=templates)  # fmt: skip
    return with_digest(body, digest)


def with_digest(body: str, digest: str) -> str:
    """Append the digest line; the body is cut at a line end if the line would break the 65,536 bound."""
    tail = f"\n<!-- trace-harness:digest={digest} -->\n"
    text = body.rstrip("\n")
    room = MAX_BODY_CHARS - len(tail)
    if len(text) > room:
        text = text[:room].rsplit("\n", 1)[0]
    return text + tail


def special_members(report: Report, plan: Plan, name: SpecialIssue) -> list[Cluster]:
    """The report clusters a special issue covers; a special member (systemic in rolling) is expanded."""
    found: list[Cluster] = []
    for member in plan.members(name):
        cluster = report.cluster(member)
        if cluster is not None:
            found.append(cluster)
        elif member in SPECIAL_NAMES and member != name.value:
            found += special_members(report, plan, SpecialIssue(member))
    return found


def _cut(text: str, limit: int) -> str:
    suffix = "\n\n… [truncated]"
    return text if len(text) <= limit else text[: limit - len(suffix)] + suffix


def bounded_body(text: str) -> str:
    return _cut(mask(text), MAX_BODY_CHARS)


def bounded_title(title: str) -> str:
    return mask(" ".join(title.split()))[:MAX_TITLE_CHARS] or "Trace harness cluster"
