"""Classification: from a root-cause line (and its context) to a failure class, signature and id.

The rules are data (``classify_rules``): config rules first, then the built-in table in class
priority order; the first match wins. The root-cause line is checked before the context lines.
Signatures come from the extractors there (test, module, command, lint, compile, ...).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from .classify_rules import (
    BUILTIN_RULES,
    EXTRACTORS,
    LEADING_EXCEPTION_RE,
    SEVERE_DETECTORS,
    Extracted,
    Rule,
    config_rules,
)
from .config import ClassRule
from .fingerprint import (
    RawSignature,
    earlier_ids,
    event_signature,
    failed_test_signature,
    line_signature,
    normalize,
    signature_at,
)
from .fingerprint import cluster_id as make_cluster_id
from .redact import mask
from .taxonomy import CLASS_INFO, FailureClass, Severity

_MAX_TITLE_CHARS = 120


class Diagnosis(BaseModel):
    """What classification concluded about one failure."""

    model_config = ConfigDict(frozen=True)

    failure_class: FailureClass
    signature: str
    cluster_id: str
    title: str
    severity: Severity = Severity.NORMAL
    raw_signature: RawSignature | None = None
    earlier_ids: tuple[str, ...] = ()  # this failure's ids under earlier fingerprint versions


class _Match(BaseModel):
    model_config = ConfigDict(frozen=True)

    failure_class: FailureClass
    line: str
    severe: bool = False


def _first_rule(line: str, rules: Sequence[Rule], all_text: str) -> Rule | None:
    return next((rule for rule in rules if rule.matches(line, all_text)), None)


def _extract(line: str) -> Extracted | None:
    return next((found for e in EXTRACTORS if (found := e.extract(line)) is not None), None)


def _classify(lines: Sequence[str], rules: Sequence[Rule]) -> _Match | None:
    """The first line (root cause first) that a rule, or failing that an extractor, classifies."""
    all_text = "\n".join(lines)
    for line in lines:
        rule = _first_rule(line, rules, all_text)
        if rule is not None:
            return _Match(failure_class=rule.failure_class, line=line, severe=rule.severe)
        extracted = _extract(line)
        if extracted is not None and extracted.failure_class is not None:
            return _Match(failure_class=extracted.failure_class, line=line)
    return None


def _is_severe(match: _Match | None, family: FailureClass, lines: Sequence[str]) -> Severity:
    severe = family is FailureClass.SCOPE_POLICY or (match is not None and match.severe)
    severe = severe or any(detector.search(line) for detector in SEVERE_DETECTORS for line in lines)
    return Severity.SEVERE if severe else Severity.NORMAL


def _title(text: str) -> str:
    return mask(" ".join(text.split()))[:_MAX_TITLE_CHARS]


def _build(family: FailureClass, raw: RawSignature, title: str, severity: Severity) -> Diagnosis:
    signature = signature_at(raw)
    return Diagnosis(
        failure_class=family,
        signature=signature,
        cluster_id=make_cluster_id(family, signature),
        title=_title(title),
        severity=severity,
        raw_signature=raw,
        earlier_ids=earlier_ids(family, raw),
    )


def _all_rules(rules: Sequence[ClassRule]) -> tuple[Rule, ...]:
    return (*config_rules(rules), *BUILTIN_RULES)


def _signature_source(root_cause: str, match: _Match | None) -> Extracted | None:
    """The root line's own signature, unless it is a wrapper and the deciding line has a better one."""
    root = _extract(root_cause)
    if root is not None and root.failure_class is not None:
        return root
    return (_extract(match.line) if match else None) or root


def diagnose_line(root_cause: str, context: Sequence[str] = (), *, rules: Sequence[ClassRule] = ()) -> Diagnosis:
    """Classify a root-cause log line (already stripped of timestamps and ANSI)."""
    lines = (root_cause, *context)
    match = _classify(lines, _all_rules(rules))
    family = match.failure_class if match else FailureClass.UNKNOWN
    extracted = _signature_source(root_cause, match)
    severity = _is_severe(match, family, lines)
    if extracted is not None:
        return _build(family, extracted.raw, extracted.title, severity)
    summary = normalize(root_cause)[:80] or "no error text"
    return _build(family, line_signature(root_cause), f"{CLASS_INFO[family].title}: {summary}", severity)


def _leading_exception(message: str) -> str:
    """`ValueError` of `ValueError: bad value`: pytest's JUnit has no type, its console summary has."""
    found = LEADING_EXCEPTION_RE.match(message)
    return found.group("exc") if found else ""


def diagnose_test(
    test_id: str, exception_type: str = "", message: str = "", *, rules: Sequence[ClassRule] = ()
) -> Diagnosis:
    """Classify a failed test case: signature is the test id plus the exception type."""
    exception_type = exception_type.strip() or _leading_exception(message)
    lines = tuple(line for line in (f"{exception_type}: {message}".strip(": "),) if line)
    match = _classify(lines, _all_rules(rules))
    family = match.failure_class if match else FailureClass.VALIDATION_FAILURE
    if family is FailureClass.UNKNOWN:
        family = FailureClass.VALIDATION_FAILURE
    raw = failed_test_signature(test_id, exception_type)
    label = normalize(test_id) + (f" ({exception_type})" if exception_type else "")
    return _build(family, raw, f"Test failure: {label}", _is_severe(match, family, lines))


def diagnose_event(
    event: str, family: FailureClass, message: str = "", *, rules: Sequence[ClassRule] = ()
) -> Diagnosis:
    """Classify a structured event whose class is known from the event map (config rules may override)."""
    lines = (message,) if message else ()
    match = _classify(lines, config_rules(rules))
    chosen = match.failure_class if match else family
    title = f"{CLASS_INFO[chosen].title}: {event}"
    return _build(chosen, event_signature(event), title, _is_severe(match, chosen, lines))
