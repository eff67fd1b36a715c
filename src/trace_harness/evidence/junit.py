"""JUnit XML reader: each failed or errored testcase is a Finding, each passed one a TestPass.

Parsing goes through defusedxml (no DTDs, no entity expansion: XXE and billion-laughs files become
an EvidenceProblem), then junitparser gives the testcase model. Both `<testsuites>` and a bare
`<testsuite>` root are accepted; skipped tests are ignored. Refs point at the `<testcase` line,
found by scanning the raw bytes in document order (best effort; `:1` when unknown).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from junitparser import Error, Failure, JUnitXml, JUnitXmlError, TestCase

from ..bounds import MAX_EVIDENCE_EXCERPT_BYTES, truncate
from ..classify import diagnose_test
from ..models import EvidenceProblem, Finding, TestPass
from ..redact import mask
from .base import Item, ReaderOptions, run_id_in

MAX_JUNIT_BYTES = 64 * 1024 * 1024  # a JUnit file is parsed whole; beyond this it is refused
_TESTCASE_RE = re.compile(rb"<testcase\b")


def read_junit(stream: BinaryIO, display_path: str, options: ReaderOptions) -> Iterator[Item]:
    """Yield findings for failed/errored testcases and passes for passed ones; never raises on content."""
    del options  # no config applies to JUnit yet
    data = stream.read(MAX_JUNIT_BYTES + 1)
    if len(data) > MAX_JUNIT_BYTES:
        yield EvidenceProblem(path=display_path, reason="junit-too-large", detail=f"over {MAX_JUNIT_BYTES} bytes")
        return
    parsed = _parse(data, display_path)
    if isinstance(parsed, EvidenceProblem):
        yield parsed
        return
    lines = _testcase_lines(data)
    run = run_id_in(display_path)  # its job log, if read too, tells the run's workflow and commit
    for index, case in enumerate(_testcases(parsed)):
        line = lines[index] if index < len(lines) else 1
        item = _item(case, f"{display_path}:{line}", run)
        if item is not None:
            yield item


def _parse(data: bytes, display_path: str) -> JUnitXml | EvidenceProblem:
    try:
        root = safe_xml.fromstring(data)
        return JUnitXml.fromroot(root)
    except DefusedXmlException as exc:
        return EvidenceProblem(path=display_path, reason="junit-unsafe-xml", detail=type(exc).__name__)
    except JUnitXmlError:
        return EvidenceProblem(
            path=display_path, reason="junit-not-junit", detail="root is not <testsuites>/<testsuite>"
        )
    except (ParseError, ValueError) as exc:
        return EvidenceProblem(path=display_path, reason="junit-malformed", detail=str(exc)[:200])


def _testcase_lines(data: bytes) -> list[int]:
    """1-based line of every `<testcase` tag, in document order."""
    lines, line, position = [], 1, 0
    for match in _TESTCASE_RE.finditer(data):
        line += data.count(b"\n", position, match.start())
        position = match.start()
        lines.append(line)
    return lines


def _testcases(xml: JUnitXml) -> Iterator[TestCase]:
    """Every testcase in document order, however deeply suites nest."""
    root: Element = xml._elem
    for element in root.iter("testcase"):
        yield TestCase.fromelem(element)  # type: ignore[no-untyped-call]


def _item(case: TestCase, ref: str, run: str) -> Finding | TestPass | None:
    test_id = _test_id(case)
    problems = [result for result in case.result if isinstance(result, Failure | Error)]
    if problems:
        return _finding(test_id, problems[0], ref, run)
    if case.is_skipped:
        return None
    return TestPass(test_id=test_id, workflow="", commit="", run=run)


def _test_id(case: TestCase) -> str:
    name = str(case.name or "")
    classname = str(case.classname or "")
    return f"{classname}::{name}" if classname else name


def _finding(test_id: str, result: Any, ref: str, run: str) -> Finding:
    exception_type = str(result.type or "")
    message = str(result.message or "")
    text = str(result.text or "")
    diagnosis = diagnose_test(test_id, exception_type, message or text)
    kind = "error" if isinstance(result, Error) else "failure"
    return Finding(
        cluster_id=diagnosis.cluster_id,
        earlier_ids=diagnosis.earlier_ids,
        failure_class=diagnosis.failure_class,
        title=diagnosis.title,
        symptom_class=f"test {kind}",
        signature=diagnosis.signature,
        source="junit",
        ref=ref,
        kind=f"junit_{kind}",
        excerpt=truncate(mask(_excerpt(test_id, message, text)), MAX_EVIDENCE_EXCERPT_BYTES),
        metadata=_metadata(test_id, exception_type, message),
        severity=diagnosis.severity,
        run=run,
    )


def _excerpt(test_id: str, message: str, text: str) -> str:
    head = f"{test_id}: {message}" if message else test_id
    return f"{head}\n{text.strip()}" if text.strip() else head


def _metadata(test_id: str, exception_type: str, message: str) -> dict[str, str]:
    metadata = {"test_id": test_id, "exception_type": exception_type, "message": message}
    return {key: truncate(mask(value), 1024) for key, value in metadata.items() if value}
