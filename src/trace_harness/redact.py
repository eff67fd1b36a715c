"""Redaction: mask secrets in every string that leaves the process. (Placeholder; being expanded.)"""

from __future__ import annotations

import re

TOKEN_RE = re.compile(
    r"\b(?:gh[opurs]_[A-Za-z0-9_]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|"
    r"xox[baprs]-[A-Za-z0-9-]{20,}|lin_api_[A-Za-z0-9_]{8,}|sk-(?:ant-)?[A-Za-z0-9_-]{20,})\b"
)
USERINFO_RE = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s@]*@")


def mask(text: str) -> str:
    """Return ``text`` with credentials replaced by markers. Idempotent."""
    return TOKEN_RE.sub("[redacted-token]", USERINFO_RE.sub(r"\1", text))
