"""Classification: from a root-cause line (and its context) to a failure class and signature.

(Placeholder with the final API; the rules table is being built.)
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from .fingerprint import cluster_id
from .taxonomy import CLASS_INFO, FailureClass, Severity


class Diagnosis(BaseModel):
    """What classification concluded about one failure."""

    model_config = ConfigDict(frozen=True)

    failure_class: FailureClass
    signature: str
    cluster_id: str
    title: str
    severity: Severity = Severity.NORMAL


def diagnose_line(root_cause: str, context: Sequence[str] = ()) -> Diagnosis:
    """Classify a root-cause log line (already stripped of timestamps and ANSI)."""
    del context
    family = FailureClass.UNKNOWN
    signature = root_cause.strip()
    return Diagnosis(
        failure_class=family,
        signature=signature,
        cluster_id=cluster_id(family, signature),
        title=CLASS_INFO[family].title,
    )


def diagnose_test(test_id: str, exception_type: str = "", message: str = "") -> Diagnosis:
    """Classify a failed test case: signature is the test id plus the exception type."""
    del message
    family = FailureClass.VALIDATION_FAILURE
    signature = f"test:{test_id}|{exception_type}"
    return Diagnosis(
        failure_class=family,
        signature=signature,
        cluster_id=cluster_id(family, signature),
        title=f"Test failure: {test_id}",
    )


def diagnose_event(event: str, family: FailureClass, message: str = "") -> Diagnosis:
    """Classify a structured event whose class is known from the event map."""
    signature = f"event:{event}"
    del message
    return Diagnosis(
        failure_class=family,
        signature=signature,
        cluster_id=cluster_id(family, signature),
        title=f"{CLASS_INFO[family].title}: {event}",
    )
