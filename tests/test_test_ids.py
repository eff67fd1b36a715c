"""Test ids: one canonical spelling per failing test, whichever tool printed it, so one cluster per failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trace_harness.classify import diagnose_line, diagnose_test
from trace_harness.evidence.actions_log import read_actions_log
from trace_harness.evidence.base import ReaderOptions
from trace_harness.evidence.junit import read_junit
from trace_harness.models import Finding
from trace_harness.test_ids import canonical_test_id

FIXTURES = Path(__file__).parent / "fixtures" / "cross_source"

# Each row: two spellings of the same test by two tools (console vs JUnit XML), and the canonical id.
SAME_TEST = [
    ("tests/test_api.py::test_total", "tests.test_api::test_total", "tests.test_api.test_total"),
    (
        "tests/test_api.py::TestCart::test_n[1-a]",
        "tests.test_api.TestCart::test_n[2-b]",
        "tests.test_api.TestCart.test_n",
    ),
    ("tests\\unit\\test_x.py::test_y", "tests.unit.test_x::test_y", "tests.unit.test_x.test_y"),
    ("src/a.test.ts > Suite > adds", "src/a.test.ts::Suite > adds", "src.a.test.ts.Suite.adds"),
    ("cart api › returns total", "cart api returns total::cart api returns total", "cart api returns total"),
    ("TestParse/empty_input", "github.com/acme/parser::TestParse/empty_input", "TestParse.empty_input"),
    ("com.acme.CartTest.testTotal", "com.acme.CartTest::testTotal()", "com.acme.CartTest.testTotal"),
]


@pytest.mark.parametrize(("console", "junit", "canonical"), SAME_TEST)
def test_two_spellings_one_canonical_id(console: str, junit: str, canonical: str) -> None:
    assert canonical_test_id(console) == canonical_test_id(junit) == canonical


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("tests/a/test_x.py::test_y", "tests/b/test_x.py::test_y"),
        ("tests/test_x.py::TestA::test_y", "tests/test_x.py::TestB::test_y"),
        ("src/pkg::TestX", "src/pkg.py::TestX"),  # a pytest path is never mistaken for a Go import path
    ],
)
def test_different_tests_stay_apart(first: str, second: str) -> None:
    assert canonical_test_id(first) != canonical_test_id(second)


_SEGMENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@given(
    st.lists(_SEGMENT, min_size=0, max_size=3),
    _SEGMENT,
    st.lists(st.from_regex(r"Test[A-Z][a-z]{0,6}", fullmatch=True), max_size=2),
    _SEGMENT,
    st.text("abc-0123", max_size=6),
)
def test_pytest_node_id_and_junit_name_agree(
    dirs: list[str], module: str, classes: list[str], name: str, param: str
) -> None:
    node_id = "::".join(["/".join([*dirs, f"test_{module}.py"]), *classes, f"test_{name}[{param}]"])
    junit_id = ".".join([*dirs, f"test_{module}", *classes]) + f"::test_{name}"
    assert canonical_test_id(node_id) == canonical_test_id(junit_id)


@given(st.text(max_size=120))
def test_canonical_id_is_total_and_has_one_separator(text: str) -> None:
    canonical = canonical_test_id(text)
    assert "::" not in canonical and "/" not in canonical and "\\" not in canonical and " › " not in canonical


def test_junit_message_gives_the_exception_the_console_summary_shows() -> None:
    console = diagnose_line("FAILED tests/test_api.py::test_boom - ValueError: bad value")
    junit = diagnose_test("tests.test_api::test_boom", "", "ValueError: bad value")
    assert console.cluster_id == junit.cluster_id
    assert console.signature == "test:tests.test_api.test_boom|ValueError"


def _findings(items: object) -> list[Finding]:
    return [item for item in items if isinstance(item, Finding)]  # type: ignore[attr-defined]


def test_junit_and_actions_log_findings_of_one_pytest_failure_share_a_cluster() -> None:
    with (FIXTURES / "pytest_junit.xml").open("rb") as stream:
        junit = _findings(read_junit(stream, "junit.xml", ReaderOptions()))
    with (FIXTURES / "pytest_job.txt").open("rb") as stream:
        log = _findings(read_actions_log(stream, "job.txt", ReaderOptions()))
    assert [finding.source for finding in junit + log] == ["junit"] * 2 + ["actions_log"] * 2
    assert [f.cluster_id for f in junit] == [f.cluster_id for f in log]
    assert len({f.cluster_id for f in junit}) == 2
    assert log[1].signature == "test:tests.test_cart.TestCart.test_count|ValueError"
