"""Classification: one example per class, rule priority, context lines, config rules, severity, titles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED
from trace_harness.classify import diagnose_event, diagnose_line, diagnose_test
from trace_harness.classify_rules import BUILTIN_RULES
from trace_harness.config import ClassRule
from trace_harness.fingerprint import cluster_id
from trace_harness.identity import is_valid_cluster_id
from trace_harness.taxonomy import FailureClass, Severity

FC = FailureClass

CLASS_EXAMPLES = [
    ("remote: Permission to acme/app.git denied to github-actions[bot].", FC.SCOPE_POLICY),
    ("fatal: unable to access 'https://github.com/acme/app/': The requested URL returned error: 403", FC.SCOPE_POLICY),
    ("error: write outside allowed paths: /etc/passwd", FC.SCOPE_POLICY),
    ("MemoryError", FC.OOM),
    ("Out of memory: Killed process 4242 (python) total-vm:9000kB", FC.OOM),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB", FC.OOM),
    ("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", FC.OOM),
    ("Process completed with exit code 124.", FC.TIMEOUT),
    ("E   Failed: Timeout >1.0s", FC.TIMEOUT),
    ("Error: context deadline exceeded", FC.TIMEOUT),
    ("The job running on runner X has exceeded the maximum execution time of 360 minutes.", FC.TIMEOUT),
    ("anthropic.InternalServerError: Error code: 529 - overloaded_error", FC.MODEL_ERROR),
    ("openai.RateLimitError: Error code: 429 - rate_limit_exceeded", FC.MODEL_ERROR),
    ("You exceeded your current quota, please check your plan", FC.MODEL_ERROR),
    ("invalid_request_error: prompt is too long: 210000 tokens > 200000 maximum", FC.CONTEXT_LIMIT),
    ("This model's maximum context length is 8192 tokens (context_length_exceeded)", FC.CONTEXT_LIMIT),
    ("ModuleNotFoundError: No module named 'procgen'", FC.DEPENDENCY_MISSING),
    ("/home/runner/work/_temp/abc.sh: line 2: shellcheck: command not found", FC.DEPENDENCY_MISSING),
    ("ERROR: No matching distribution found for nonexistent-pkg-xyz", FC.DEPENDENCY_MISSING),
    ("E: Unable to locate package libfoo-dev", FC.DEPENDENCY_MISSING),
    ("FAILED tests/test_a.py::test_sum - AssertionError: assert 1 == 2", FC.VALIDATION_FAILURE),
    ("src/app.py:1:8: F401 [*] `os` imported but unused", FC.VALIDATION_FAILURE),
    (
        'src/app.py:3: error: Incompatible types in assignment (expression has type "str")  [assignment]',
        FC.VALIDATION_FAILURE,
    ),
    ("error[E0308]: mismatched types", FC.VALIDATION_FAILURE),
    ("src/index.ts(4,7): error TS2304: Cannot find name 'foo'.", FC.VALIDATION_FAILURE),
    ("--- FAIL: TestParse (0.00s)", FC.VALIDATION_FAILURE),
    ("<!-- cp:question: which database should I migrate? -->", FC.AWAITING_INPUT),
    ("turn_input_required", FC.AWAITING_INPUT),
    ("Segmentation fault (core dumped)", FC.TOOL_FAILURE),
    ("Process completed with exit code 139.", FC.TOOL_FAILURE),
    ("malformed protocol output from worker", FC.TOOL_FAILURE),
    ("HttpError: Bad credentials", FC.INFRA_TOOLING),
    ("psycopg.OperationalError: connection refused", FC.INFRA_TOOLING),
    ("OSError: [Errno 28] No space left on device", FC.INFRA_TOOLING),
    ("The self-hosted runner: r1 lost communication with the server.", FC.INFRA_TOOLING),
    ("container postgres is unhealthy", FC.INFRA_TOOLING),
    ("CredentialsProviderError: Could not load credentials from any providers", FC.INFRA_TOOLING),
    ("  1) [chromium] › home.spec.ts:3:1 › loads: Test timeout of 30000ms exceeded.", FC.TIMEOUT),
    ("npm error code ERESOLVE", FC.DEPENDENCY_MISSING),
    ('ParserError: Source "lib/oz/contracts/token/ERC20.sol" not found: File not found.', FC.DEPENDENCY_MISSING),
    ("Command not found: pytest", FC.DEPENDENCY_MISSING),
    ("C:\\src\\hashtable.h(52): error C2143: syntax error: missing ';' before '<'", FC.VALIDATION_FAILURE),
    ("CMake Error at tests/CMakeLists.txt:12 (message):", FC.VALIDATION_FAILURE),
    ("no configuration file provided: not found", FC.INFRA_TOOLING),
    ("Process completed with exit code 1.", FC.UNKNOWN),
    # A plain cancel (superseded run, fail-fast sibling) is no failure of the project: the Actions reader
    # should drop it; the classifier has no class for it. "exceeded the maximum execution time" is timeout.
    ("The operation was canceled.", FC.UNKNOWN),
    ("", FC.UNKNOWN),
]


@pytest.mark.parametrize(("line", "expected"), CLASS_EXAMPLES)
def test_class_examples(line: str, expected: FailureClass) -> None:
    assert diagnose_line(line).failure_class is expected


def test_every_class_but_flaky_has_an_example() -> None:
    covered = {expected for _, expected in CLASS_EXAMPLES}
    assert covered == set(FC) - {FC.FLAKY_TEST}


def test_builtin_table_is_in_priority_order() -> None:
    priorities = [rule.failure_class.priority for rule in BUILTIN_RULES]
    assert priorities == sorted(priorities)


def test_first_match_wins_by_priority() -> None:
    # Both a 403 scope refusal and a timeout: scope_policy is earlier in the order.
    line = "push timed out: The requested URL returned error: 403"
    assert diagnose_line(line).failure_class is FC.SCOPE_POLICY


def test_exit_137_needs_killed() -> None:
    assert diagnose_line("Process completed with exit code 137.").failure_class is FC.UNKNOWN
    with_context = diagnose_line("Process completed with exit code 137.", ["/tmp/run.sh: line 3: 81 Killed"])
    assert with_context.failure_class is FC.OOM


def test_root_line_is_checked_before_context() -> None:
    diagnosis = diagnose_line("MemoryError", ["Segmentation fault"])
    assert diagnosis.failure_class is FC.OOM


def test_context_classifies_when_root_line_is_silent() -> None:
    diagnosis = diagnose_line("Error: step failed", ["E   ModuleNotFoundError: No module named 'gym'"])
    assert diagnosis.failure_class is FC.DEPENDENCY_MISSING
    assert diagnosis.signature == "module:gym"


@pytest.mark.parametrize(
    ("line", "signature", "title"),
    [
        ("E   ModuleNotFoundError: No module named 'procgen'", "module:procgen", "ModuleNotFoundError: procgen"),
        ("bash: line 1: yq: command not found", "command:yq", "command not found: yq"),
        ("/bin/sh: 1: jq: not found", "command:jq", "command not found: jq"),
        ("Command not found: pytest", "command:pytest", "command not found: pytest"),
        (
            "x.h(52): error C2143: syntax error: missing ';'",
            "compile:C2143|syntax error: missing ';'",
            "C2143: syntax error: missing ';'",
        ),
        ("src/a.py:10:1: E501 Line too long (99 > 88)", "lint:lint|E501|src/a.py", "lint E501 in src/a.py"),
        ("error[E0308]: mismatched types", "compile:E0308|mismatched types", "E0308: mismatched types"),
        (
            "FAILED tests/t.py::test_div[0-1] - ZeroDivisionError: division by zero",
            "test:tests.t.test_div|ZeroDivisionError",
            "Test failure: tests/t.py::test_div (ZeroDivisionError)",
        ),
    ],
)
def test_signatures_and_titles(line: str, signature: str, title: str) -> None:
    diagnosis = diagnose_line(line)
    assert (diagnosis.signature, diagnosis.title) == (signature, title)
    assert diagnosis.cluster_id == cluster_id(diagnosis.failure_class, signature)


def test_lint_one_cluster_per_rule_and_file() -> None:
    first = diagnose_line("src/a.py:1:8: F401 [*] `os` imported but unused")
    other_line = diagnose_line("src/a.py:7:8: F401 [*] `sys` imported but unused")
    other_file = diagnose_line("src/b.py:1:8: F401 [*] `os` imported but unused")
    assert first.cluster_id == other_line.cluster_id != other_file.cluster_id


def test_config_rules_come_before_builtins() -> None:
    rules = (ClassRule(pattern=r"MemoryError", failure_class=FC.INFRA_TOOLING),)
    assert diagnose_line("MemoryError", rules=rules).failure_class is FC.INFRA_TOOLING
    assert diagnose_line("MemoryError").failure_class is FC.OOM


def test_config_rule_can_mark_severe() -> None:
    rules = (ClassRule(pattern=r"prod db wiped", failure_class=FC.UNKNOWN, severe=True),)
    assert diagnose_line("alert: prod db wiped", rules=rules).severity is Severity.SEVERE


@pytest.mark.parametrize(
    "line",
    [
        "remote: Permission to acme/app.git denied to bot.",
        "+ 1a2b3c4...5d6e7f8 main -> main (forced update)",
        "agent force-pushed over main",
        "DELETE finished: deleted 1200 rows from users",
        "gitleaks: secret detected in config.yml",
        "warning: leaked credential in job output",
    ],
)
def test_severe_detectors(line: str) -> None:
    assert diagnose_line(line).severity is Severity.SEVERE


def test_normal_severity_by_default() -> None:
    assert diagnose_line("AssertionError: assert 1 == 2").severity is Severity.NORMAL


def test_titles_and_signatures_are_redacted() -> None:
    token = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4"
    diagnosis = diagnose_line(f"fatal: Authentication failed for https://x:{token}@github.com/")
    assert token not in diagnosis.title and token not in diagnosis.signature


def test_diagnose_test_signature_and_class() -> None:
    failing = diagnose_test("tests/t.py::test_a[3]", "AssertionError", "assert 3 == 4")
    assert failing.failure_class is FC.VALIDATION_FAILURE
    assert failing.signature == "test:tests.t.test_a|AssertionError"
    assert diagnose_test("tests/t.py::test_a[9]", "AssertionError", "x").cluster_id == failing.cluster_id
    assert diagnose_test("tests/t.py::test_big", "MemoryError").failure_class is FC.OOM


def test_diagnose_event_keeps_family_unless_config_rule() -> None:
    event = diagnose_event("quota_event", FC.MODEL_ERROR, "monthly quota exhausted")
    assert (event.failure_class, event.signature) == (FC.MODEL_ERROR, "event:quota_event")
    rules = (ClassRule(pattern="monthly", failure_class=FC.INFRA_TOOLING),)
    assert diagnose_event("quota_event", FC.MODEL_ERROR, "monthly", rules=rules).failure_class is FC.INFRA_TOOLING
    assert diagnose_event("scope_violation", FC.SCOPE_POLICY).severity is Severity.SEVERE


_LOGS = SHARED / "data" / "actions-logs"


@pytest.mark.skipif(not _LOGS.exists(), reason="shared sample logs absent")
@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("CredentialsProviderError", FC.INFRA_TOOLING),
        ("redeclared in this block", FC.VALIDATION_FAILURE),
        ("Test timed out in", FC.TIMEOUT),
        ("Dependencies lock file is not found", FC.DEPENDENCY_MISSING),
    ],
)
def test_real_error_lines(fragment: str, expected: FailureClass) -> None:
    lines = [
        line.split("##[error]", 1)[1]
        for path in sorted(_LOGS.glob("*.txt"))
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
        if "##[error]" in line and fragment in line
    ]
    assert lines, fragment
    assert {diagnose_line(line).failure_class for line in lines} == {expected}


# Shortened re-typings of root-cause lines (with the context that decides) seen in real Actions logs,
# with the class the design's definitions give them. (line, context, class, signature)
REAL_LINE_ROWS = [
    ("FAIL __tests__/api.admin.events.test.ts", (), FC.VALIDATION_FAILURE, "test:__tests__.api.admin.events.test.ts|"),
    ("FAIL src/cart.test.ts (5.2 s)", (), FC.VALIDATION_FAILURE, "test:src.cart.test.ts|"),
    ("  ● cart api › returns the total", (), FC.VALIDATION_FAILURE, "test:cart api returns the total|"),
    (
        'DatabaseError: Failed to open table "chunks"',
        (" FAIL  src/e2e/cache.e2e.test.ts > Cache E2E",),
        FC.VALIDATION_FAILURE,
        "test:src.e2e.cache.e2e.test.ts.Cache E2E|",
    ),
    (
        "Type error: Property 'status' does not exist on type '{}'.",
        ("./app/api/route.ts:193:27",),
        FC.VALIDATION_FAILURE,
        "compile:type-error|Property 'status' does not exist on type '{}'.",
    ),
    (
        "System.InvalidOperationException: Column 'Value' not found in Tests.Item.",
        ("  Failed Crud_Update [21 ms]", "  Error Message:"),
        FC.VALIDATION_FAILURE,
        "test:Crud_Update|",
    ),
    (
        "[ERR_PNPM_RECURSIVE_RUN_FIRST_FAIL] kit@1.0.0-alpha.1 size: `size-limit --json`",
        ("Exit status 1", "❌ Error: size-limit validation failed"),
        FC.VALIDATION_FAILURE,
        "line:pnpm script failed: kit size",
    ),
    (
        "│ Error: operation error DynamoDB: DescribeTable, StatusCode: 400, RequestID: 3HG0BBBL, "
        "api error ValidationException: Value '' at 'tableName' failed to satisfy constraint",
        (),
        FC.VALIDATION_FAILURE,
        "line:│ Error: operation error DynamoDB: DescribeTable, StatusCode: 400, RequestID: <id>, "
        "api error ValidationException: Value '' at 'tableName' failed to satisfy constraint",
    ),
    (
        "Error: failed to run main module `.build/wasm32-unknown-wasip1/debug/KitTests.xctest`",
        ("Caused by:", "    1: error while executing at wasm backtrace:"),
        FC.TOOL_FAILURE,
        "line:Error: failed to run main module `.build/wasm32-unknown-wasip1/debug/KitTests.xctest`",
    ),
    (
        "CMake Error at tests/CMakeLists.txt:1644 (message):",
        ("  BUILD_TESTS=ON requires pytest for the selected Python interpreter",),
        FC.DEPENDENCY_MISSING,
        "line:CMake Error at tests/CMakeLists.txt:<line> (message):",
    ),
    (
        "/bin/bash: line 1: cd: magefiles: No such file or directory",
        ("make[1]: *** [make/go.mk:103: mod-tidy.magefiles] Error 1",),
        FC.INFRA_TOOLING,
        "line:/bin/bash: line <n>: cd: magefiles: No such file or directory",
    ),
    (
        "no configuration file provided: not found",
        (),
        FC.INFRA_TOOLING,
        "line:no configuration file provided: not found",
    ),
]


@pytest.mark.parametrize(("line", "context", "expected", "signature"), REAL_LINE_ROWS)
def test_real_line_rows(line: str, context: tuple[str, ...], expected: FailureClass, signature: str) -> None:
    diagnosis = diagnose_line(line, context)
    assert (diagnosis.failure_class, diagnosis.signature) == (expected, signature)


def test_plain_cmake_error_stays_a_failed_check() -> None:
    diagnosis = diagnose_line("CMake Error at CMakeLists.txt:3 (add_library):", ["  Cannot find source file: a.c"])
    assert diagnosis.failure_class is FC.VALIDATION_FAILURE


def test_pnpm_wrapper_takes_its_class_from_the_context() -> None:
    wrapper = "[ERR_PNPM_RECURSIVE_RUN_FIRST_FAIL] kit@2.0.0 test: `vitest run`"
    assert diagnose_line(wrapper).failure_class is FC.UNKNOWN
    missing = diagnose_line(wrapper, ["Error: Cannot find module 'left-pad'"])
    assert (missing.failure_class, missing.signature) == (FC.DEPENDENCY_MISSING, "module:left-pad")


def test_node_missing_module() -> None:
    diagnosis = diagnose_line("Error: Cannot find module 'left-pad'")
    assert (diagnosis.failure_class, diagnosis.signature) == (FC.DEPENDENCY_MISSING, "module:left-pad")
    assert diagnosis.title == "Cannot find module: left-pad"


@given(st.text(max_size=300), st.lists(st.text(max_size=80), max_size=5))
def test_diagnose_line_is_total(root: str, context: list[str]) -> None:
    diagnosis = diagnose_line(root, context)
    assert is_valid_cluster_id(diagnosis.cluster_id)


@pytest.mark.parametrize(("line", "_"), CLASS_EXAMPLES)
def test_every_example_yields_a_valid_id(line: str, _: FailureClass) -> None:
    assert is_valid_cluster_id(diagnose_line(line, [line]).cluster_id)
