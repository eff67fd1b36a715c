"""Redaction: rule behaviour, multi-line keys, extra patterns, the example table and invariants."""

from __future__ import annotations

import importlib.util
import string
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SHARED
from trace_harness import redact
from trace_harness.redact import KEY_MARK, TOKEN_MARK, VALUE_MARK, PemTracker, Redactor, mask, mask_lines

TABLE = SHARED / "data" / "secrets" / "secret_examples.tsv"
BENCH = Path(__file__).resolve().parents[1] / "bench" / "redaction_coverage.py"


def _coverage_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("redaction_coverage", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("git clone https://x-access-token:abc123@github.com/o/r.git", "git clone https://github.com/o/r.git"),
        ("ssh://git:pw@host:22/repo", "ssh://host:22/repo"),
        ("postgres://app:s3cr3t@db.internal:5432/main", "postgres://db.internal:5432/main"),
        ("https://user:p[ss@host:99999/x", "https://host:99999/x"),  # malformed for urllib
        ("https://a@b@host/path", "https://host/path"),
        ("see https://example.com/path@v2 here", "see https://example.com/path@v2 here"),
    ],
)
def test_clone_url_userinfo_is_dropped(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    "token",
    [
        "ghp_" + "A1b2" * 9,
        "gho_" + "Z9y8" * 9,
        "ghu_" + "abcd1234" * 4,
        "ghr_" + "Q" * 3 + "w1e2r3t4y5u6i7o8p9a0s",
        "ghs_" + "k3j4h5g6f7d8s9a0l1" * 2,
        "github_pat_11ABCDEFG0" + "aB3dE5fG7h" * 6,
        "glpat-" + "a1B2c3D4e5F6g7H8i9J0",
        "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUv",
        "xoxp-1234567890-0987654321-AbCdEfGhIjKlMnOpQrSt",
        "lin_api_" + "a1B2c3D4e5F6g7H8",
        "sk-" + "a1B2c3D4e5F6g7H8i9J0k1L2",
        "sk-ant-api03-" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4",
    ],
)
def test_token_prefixes_become_token_marker(token: str) -> None:
    assert mask(f"token in log: {token} end") == f"token in log: {TOKEN_MARK} end"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter22 next", f"password={VALUE_MARK} next"),
        ('"api_key": "9f8e7d6c5b4a"', f'"api_key": "{VALUE_MARK}"'),
        ("DB_PASSWORD: 'c0rrect-horse'", f"DB_PASSWORD: '{VALUE_MARK}'"),
        ("export SECRET_TOKEN=abc123def456", f"export SECRET_TOKEN={VALUE_MARK}"),
        ("--password s3cr3tvalue --verbose", f"--password {VALUE_MARK} --verbose"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", f"Authorization: Basic {VALUE_MARK}"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzKEY", f"aws_secret_access_key = {VALUE_MARK}"),
        ("AKIAZ7Q2W3E4R5T6Y7U8 used", f"{TOKEN_MARK} used"),
        ("key AIza" + "SyB1c2D3e4F5g6H7i8J9k0L1m2N3o4P5q6R" + " x", f"key {TOKEN_MARK} x"),
        ("npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", TOKEN_MARK),
        ("sk_live_" + "a1B2c3D4e5F6g7H8i9J0", TOKEN_MARK),
    ],
)
def test_secret_rules_keep_the_key_and_mask_the_value(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=100",
        "password: ${{ secrets.DB_PASSWORD }}",
        "token=$GITHUB_TOKEN",
        "api_key = os.environ['API_KEY']",
        "public_key = 9Cnzj4p4WGeKLs1Pt8QuKUpRKfFLfRYC9AIKjbJTWit",
        "Authorization: Bearer <your token>",
        "commit 3f2a9c1d2e4b5a6978877665544332211aabbccd",
        "FAILED tests/test_x.py::test_login - AssertionError: assert 401 == 200",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
    ],
)
def test_non_secrets_are_left_alone(text: str) -> None:
    assert mask(text) == text


def test_private_key_block_is_masked_whole() -> None:
    text = "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabcd\n-----END RSA PRIVATE KEY-----\nafter"
    assert mask(text) == f"before\n{KEY_MARK}\nafter"


def test_truncated_private_key_block_is_masked_to_the_end() -> None:
    assert mask("x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF") == f"x {KEY_MARK}"


def test_pem_tracker_masks_every_line_inside_the_block() -> None:
    tracker = PemTracker()
    lines = [
        "start",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU",
        "-----END OPENSSH PRIVATE KEY----- ok",
        "x",
    ]
    out = [tracker.feed(line) for line in lines]
    assert out == ["start", KEY_MARK, KEY_MARK, f"{KEY_MARK} ok", "x"]
    assert not tracker.inside


def test_mask_lines_handles_a_window_that_starts_inside_a_block() -> None:
    window = [
        "MIIEpAIBAAKCAQEAn6/O8li+SX4m98LLYt",
        "yxR5MsXFu9PRsrYQA7/4UTPHiC4y2sAVC",
        "-----END RSA PRIVATE KEY-----",
        "token=abc12345",
    ]
    assert mask_lines(window) == [KEY_MARK, KEY_MARK, KEY_MARK, f"token={VALUE_MARK}"]


def test_mask_lines_leaves_ordinary_windows_to_mask() -> None:
    window = ["line one", "password=abc12345", "line three"]
    assert mask_lines(window) == ["line one", f"password={VALUE_MARK}", "line three"]


def test_redactor_applies_extra_patterns() -> None:
    redactor = Redactor.from_patterns([r"ACME-\d{6}", r"internal\.corp\.example"])
    assert redactor.mask("ticket ACME-123456 on internal.corp.example") == f"ticket {VALUE_MARK} on {VALUE_MARK}"
    assert redactor.mask(redactor.mask("ACME-654321")) == VALUE_MARK
    assert mask("ticket ACME-123456") == "ticket ACME-123456"


# -- the gitleaks / detect-secrets example table (outside the repository) ----------------------------

needs_table = pytest.mark.skipif(not TABLE.exists(), reason="shared secret example table not present")


@needs_table
def test_every_true_positive_example_is_masked() -> None:
    result = _coverage_module().evaluate(TABLE)
    missed = [(example.rule, example.value[:80]) for example in result["tp_missed"]]
    assert result["tp"], "no eligible true positives found"
    assert missed == []


@needs_table
def test_false_positives_are_untouched_except_the_reasoned_allowlist() -> None:
    coverage = _coverage_module()
    result = coverage.evaluate(TABLE)
    unexpected = sorted({example.rule for example in result["fp_masked"]} - set(coverage.FP_ALLOWLIST))
    assert unexpected == []
    untouched = 1 - len(result["fp_masked"]) / len(result["fp"])
    assert untouched >= 0.75


@needs_table
def test_allowlisted_true_positives_stay_a_small_reasoned_minority() -> None:
    coverage = _coverage_module()
    result = coverage.evaluate(TABLE)
    assert {example.rule for example in result["tp_allowlisted"]} <= set(coverage.TP_ALLOWLIST)
    assert len(result["tp_allowlisted"]) < len(result["tp"]) / 2


# -- properties ---------------------------------------------------------------------------------------

_ALNUM = string.ascii_letters + string.digits
_body = st.text(alphabet=_ALNUM, min_size=36, max_size=48).filter(lambda s: len(set(s.lower())) > 8)
_noise = st.text(alphabet=string.ascii_letters + " .,:;/()\n", max_size=40)
_secrets = st.one_of(
    _body.map(lambda b: "ghp_" + b),
    _body.map(lambda b: "github_pat_" + b),
    _body.map(lambda b: "glpat-" + b),
    _body.map(lambda b: "xoxb-" + b),
    _body.map(lambda b: "sk-ant-" + b),
    _body.map(lambda b: "lin_api_" + b),
    st.text(alphabet=string.ascii_uppercase + string.digits, min_size=16, max_size=16)
    .filter(lambda s: len(set(s)) > 8)  # filler runs are placeholders by policy
    .map(lambda b: "AKIA" + b),
    _body.map(lambda b: f"eyJ{b[:12]}.eyJ{b[12:30]}.{b[30:]}"),
)
_contexts = st.sampled_from(
    ["{}", "password={}", "token: '{}'", "Authorization: Bearer {}", "https://u:{}@h/x", "--token {}"]
)


@settings(max_examples=300, deadline=None)
@given(before=_noise, after=_noise, secret=_secrets, context=_contexts)
def test_planted_secrets_never_survive(before: str, after: str, secret: str, context: str) -> None:
    text = f"{before} {context.format(secret)} {after}"
    assert secret not in mask(text)


@settings(max_examples=300, deadline=None)
@given(before=_noise, secret=_secrets, context=_contexts)
def test_mask_is_idempotent_on_secrets(before: str, secret: str, context: str) -> None:
    once = mask(before + " " + context.format(secret))
    assert mask(once) == once


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_mask_never_raises_and_is_idempotent(text: str) -> None:
    once = mask(text)
    assert mask(once) == once


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=_ALNUM + "+/= -", max_size=60), max_size=12))
def test_mask_lines_keeps_the_line_count(lines: list[str]) -> None:
    assert len(mask_lines(lines)) == len(lines)


def test_distinctive_tokens_glued_to_an_identifier_are_masked() -> None:
    github, aws = "ghp_" + "k3Tz8hLq2Wv9Xr4Nm7Bc1Dy6Fp0Gs5Hj2Ka", "AKIA" + "Q7ZL4XK2MB9TWE5R"
    assert mask(f"task_id=run_{github} key=x_{aws}_1") == "task_id=run_[redacted-token] key=x_[redacted-token]_1"


_KEYISH = st.sampled_from(["password", "api_key", "--token", "x-secret", "Credentials", "sig", "KEY", "pwd "])
_LINE_PARTS = st.lists(
    st.one_of(_KEYISH, st.sampled_from(["=", ": ", ":=", " ", "\n", '"', "'", "\t", "=>", "İ"]), st.text(max_size=8)),
    max_size=30,
)


@settings(max_examples=300)
@given(_LINE_PARTS)
def test_hint_line_substitution_equals_a_whole_text_pass(parts: list[str]) -> None:
    text = "".join(parts)
    for rule in (rule for rule in redact._RULES if rule.line_hint is not None):
        assert rule.substitute(text) == rule.pattern.sub(rule._replace, text), rule.name


def test_key_value_secrets_among_many_key_markers_are_masked() -> None:
    body = "\n".join([KEY_MARK] * 200 + ["db_password = hunter2hunter2"])
    masked = mask(body)
    assert masked.count(KEY_MARK) == 200 and "hunter2" not in masked


def test_case_sensitive_hints_gate_their_rule_on_the_text_as_written() -> None:
    """Twilio keys start with uppercase SK/AC: the hint is checked as written, so `task_id` (which holds
    "sk") does not send every worker excerpt through the rule, and a real key is still masked."""
    key = "SK" + "0123456789abcdef" * 2
    assert key not in redact.mask(f"twilio api key {key} here")
    excerpt = '2026/06/10 17:43:44 event=runner_timeout task_id=run-4309-3 issue_id=issue-4309 msg="timeout"'
    assert redact._PREFILTER.search(excerpt.lower()) is None and redact._EXACT_PREFILTER.search(excerpt) is None
    assert redact.mask(excerpt) == excerpt
