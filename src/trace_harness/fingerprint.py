"""Versioned normalization, signatures and cluster ids.

A cluster id is the dedup key for tracking issues, so it must not move when only volatile tokens
(timestamps, pids, temp paths, line numbers, ...) change, and it must move when a code changes
(exit codes, signals, HTTP statuses, errno names, rule codes are kept verbatim).

Normalizers are registered per ``fingerprint_version``. A new version adds a new normalizer and
keeps the old one, so ``id_aliases`` can map every old id to its new id and existing issues are
adopted instead of duplicated.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .redact import mask
from .taxonomy import FailureClass
from .test_ids import PARAM_ID_RE, canonical_test_id

FINGERPRINT_VERSION = 1

Normalizer = Callable[[str], str]
Replacement = str | Callable[[re.Match[str]], str]

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_GO_MAP_RE = re.compile(r"\bmap\[([^\[\]]*)\]")
_MAX_SIGNATURE_CHARS = 512


def _sorted_go_map(match: re.Match[str]) -> str:
    # Go prints map contents in random order; sorting makes the text order-free.
    return "map[" + " ".join(sorted(match.group(1).split())) + "]"


# Order matters: broader, more specific shapes (timestamps, uuids, paths) go before bare numbers.
_V1_RULES: tuple[tuple[re.Pattern[str], Replacement], ...] = (
    (PARAM_ID_RE, r"\1"),
    (_GO_MAP_RE, _sorted_go_map),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?"),
        "<ts>",
    ),
    (re.compile(r"\b\d{4}[/-]\d{2}[/-]\d{2}\b"), "<date>"),
    (re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2} \d{2}:\d{2}:\d{2}\b"), "<ts>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    # Cloud APIs stamp every error with a fresh request id (AWS: 52 upper-case alphanumerics).
    (
        re.compile(r"(?i)\b((?:x-amz-)?request[ _-]?id|trace[ _-]?id|correlation[ _-]?id)([\"':= ]+)[\w-]{8,}"),
        r"\1\2<id>",
    ),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (
        re.compile(
            r"(?<![\w>.])(?:/private)?(?:/tmp|/var/tmp|/var/folders|/dev/shm|/home/runner/work/_temp|/github/runner_temp)"
            r"(?:/[^\s/:'\"()\[\],]+)*/(?=[^\s/:'\"()\[\],]+)"
        ),
        "<tmp>/",
    ),
    (
        re.compile(r"(?<![\w>.])(?:/private)?(?:/tmp|/var/tmp|/var/folders|/dev/shm)(?![\w.-])(?:/[^\s:'\"()\[\],]*)?"),
        "<tmp>",
    ),
    (re.compile(r"(?i)[a-z]:\\(?:[^\s\\]+\\)*?(?:temp|tmp)\\(?:[^\s\\]+\\)*"), r"<tmp>\\"),
    (re.compile(r"\btmp(?=[a-z0-9_]*\d)[a-z0-9_]{5,}\b"), "tmp<rand>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    (re.compile(r"\[[0-9a-fA-F:]*:[0-9a-fA-F:]+\](?::\d{1,5})?"), "<ip>"),
    (re.compile(r"\blocalhost:\d{1,5}\b"), "localhost:<port>"),
    (re.compile(r"\b0x[0-9a-fA-F]{4,}\b"), "<addr>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,64}\b"), "<hex>"),
    (re.compile(r"(\.[A-Za-z0-9]{1,6})(?::\d+){1,2}\b"), r"\1:<line>"),
    (re.compile(r"(\.[A-Za-z0-9]{1,6})\(\d+,\d+\)"), r"\1(<line>)"),
    (re.compile(r"(?i)\b(line|lineno|column|col)([ =:]+)\d+\b"), r"\1\2<n>"),
    (re.compile(r"(?i)\b(pid|process|thread|tid)([ =:#]+)\d+\b"), r"\1\2<pid>"),
    (re.compile(r"\[\d{3,}\]"), "[<pid>]"),
    # bash job status lines: "line 2: 981 Segmentation fault      python3 ..."
    (
        re.compile(r"\b\d+(?= +(?:Segmentation fault|Killed|Aborted|Terminated|Bus error|Illegal instruction)\b)"),
        "<pid>",
    ),
    (re.compile(r"\b(?:\d+(?:\.\d+)?(?:h|m(?!s)|s|ms|us|µs|ns)){2,}\b"), "<dur>"),
    (
        re.compile(r"(?i)\b\d+(?:\.\d+)? ?(?:ns|us|µs|ms|s|secs?|seconds?|mins?|minutes?|hours?|hrs?)\b"),
        "<dur>",
    ),
    (re.compile(r"\b\d+(?:\.\d+)? ?(?:[kKMGTP]i?B|[kKMG]|bytes)\b"), "<size>"),
    (re.compile(r"(?<=[-.])(?=[a-z0-9]*\d[a-z0-9]*\d)(?=[a-z0-9]*[a-z][a-z0-9]*[a-z])[a-z0-9]{5,}\b"), "<rand>"),
    (re.compile(r"\b\d{5,}\b"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def normalize_v1(text: str) -> str:
    """Blank the volatile tokens of version 1; keep codes (exit, signal, HTTP, errno, rule codes)."""
    text = _ANSI_RE.sub("", text)
    for pattern, replacement in _V1_RULES:
        text = pattern.sub(replacement, text)
    return text.strip()


NORMALIZERS: dict[int, Normalizer] = {1: normalize_v1}
# Per version, the kinds whose first part is first rewritten to one spelling (a test id printed by any tool).
CANONICALIZERS: dict[int, dict[str, Normalizer]] = {1: {"test": canonical_test_id}}


def current_version(version: int | None = None) -> int:
    """``version``, or the current one (read when called, so a new version takes effect everywhere)."""
    return FINGERPRINT_VERSION if version is None else version


def normalize(text: str, version: int | None = None) -> str:
    """Normalize ``text`` with the normalizer registered for ``version`` (default: the current one)."""
    return NORMALIZERS[current_version(version)](text)


def cluster_id(family: FailureClass, signature: str, version: int | None = None) -> str:
    """`<family-slug>-<8 hex>`: the first 8 hex of sha256("{version}\\n{family}\\n{signature}")."""
    digest = hashlib.sha256(f"{current_version(version)}\n{family.value}\n{signature}".encode()).hexdigest()
    return f"{family.slug}-{digest[:8]}"


SignatureKind = Literal["test", "lint", "module", "package", "command", "compile", "event", "line"]


class RawSignature(BaseModel):
    """The unnormalized parts of a signature, kept so any fingerprint version can be recomputed."""

    model_config = ConfigDict(frozen=True)

    kind: SignatureKind
    parts: tuple[str, ...]


def signature_at(raw: RawSignature, version: int | None = None) -> str:
    """The redacted, normalized signature text: `<kind>:<part>|<part>...`."""
    # Mask before normalizing too: blanking could break a token's shape and hide it from the masker.
    version = current_version(version)
    masked = _canonical_parts(raw.kind, tuple(mask(part) for part in raw.parts), version)
    parts = "|".join(normalize(part, version) for part in masked)
    return mask(f"{raw.kind}:{parts}")[:_MAX_SIGNATURE_CHARS]


def _canonical_parts(kind: SignatureKind, parts: tuple[str, ...], version: int) -> tuple[str, ...]:
    canonicalize = CANONICALIZERS.get(version, {}).get(kind)
    if canonicalize is None or not parts:
        return parts
    return (canonicalize(parts[0]), *parts[1:])


def fingerprint(family: FailureClass, raw: RawSignature, version: int | None = None) -> str:
    """The cluster id of ``raw`` under ``version``."""
    return cluster_id(family, signature_at(raw, version), version)


def earlier_ids(family: FailureClass, raw: RawSignature) -> tuple[str, ...]:
    """The ids ``raw`` had under every registered version before the current one, where they differ from
    its current id: the report maps them (``id_aliases``) so their tracking issues are adopted."""
    current = fingerprint(family, raw)
    older = (fingerprint(family, raw, version) for version in sorted(NORMALIZERS) if version < current_version())
    return tuple(sorted({old for old in older if old != current}))


def id_aliases(
    family: FailureClass, raw_inputs: Iterable[RawSignature], old_version: int, new_version: int
) -> dict[str, str]:
    """`{old_id: new_id}` for every input whose id moved between the two versions."""
    aliases: dict[str, str] = {}
    for raw in raw_inputs:
        old_id = fingerprint(family, raw, old_version)
        new_id = fingerprint(family, raw, new_version)
        if old_id != new_id:
            aliases[old_id] = new_id
    return dict(sorted(aliases.items()))


def failed_test_signature(test_id: str, exception_type: str = "") -> RawSignature:
    """Failing test: the test id plus the exception type."""
    return RawSignature(kind="test", parts=(test_id.strip(), exception_type.strip()))


def lint_signature(tool: str, rule_code: str, path: str) -> RawSignature:
    """Linter finding: one cluster per tool, rule and file, whatever lines or names vary."""
    return RawSignature(kind="lint", parts=(tool.strip().lower(), rule_code.strip(), path.strip()))


def module_signature(module: str) -> RawSignature:
    return RawSignature(kind="module", parts=(module.strip(),))


def package_signature(package: str) -> RawSignature:
    return RawSignature(kind="package", parts=(package.strip().lower(),))


def command_signature(command: str) -> RawSignature:
    return RawSignature(kind="command", parts=(command.strip(),))


def compile_signature(code: str, message: str) -> RawSignature:
    return RawSignature(kind="compile", parts=(code.strip(), message.strip()))


def event_signature(event: str) -> RawSignature:
    return RawSignature(kind="event", parts=(event.strip(),))


def line_signature(root_cause: str) -> RawSignature:
    """Otherwise: the root-cause line itself (normalized when the signature is computed)."""
    return RawSignature(kind="line", parts=(root_cause.strip(),))
