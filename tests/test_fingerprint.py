"""Fingerprints: normalization table, golden ids, versioned aliases, and id invariants."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trace_harness import fingerprint as fp
from trace_harness.classify import diagnose_line
from trace_harness.cluster import ClusterAccumulator
from trace_harness.fingerprint import (
    FINGERPRINT_VERSION,
    RawSignature,
    cluster_id,
    command_signature,
    failed_test_signature,
    fingerprint,
    id_aliases,
    line_signature,
    lint_signature,
    module_signature,
    normalize,
    signature_at,
)
from trace_harness.identity import is_valid_cluster_id
from trace_harness.models import Finding
from trace_harness.taxonomy import FailureClass

NORMALIZE_TABLE = [
    # cloud request ids (fresh per call)
    ("StatusCode: 400, RequestID: TV81BUBPLUV0UCB94B42OACS, api error", "StatusCode: 400, RequestID: <id>, api error"),
    ("x-amz-request-id=AB12CD34EF56GH78 denied", "x-amz-request-id=<id> denied"),
    # timestamps and dates
    ("2024-01-02T03:04:05.1234567Z boom", "<ts> boom"),
    ("at 2025-06-06 03:46:25,123 boom", "at <ts> boom"),
    ("Jun  6 03:46:25 host kernel", "<ts> host kernel"),
    ("elapsed 12:34:56.7", "elapsed <time>"),
    ("build 2024/05/01 failed", "build <date> failed"),
    # hex ids, uuids, addresses
    ("commit 81b259f29879f73b4213d199e42d8c3465dae986 bad", "commit <hex> bad"),
    ("request 123e4567-e89b-12d3-a456-426614174000 failed", "request <uuid> failed"),
    ("object at 0x7ffde4a1b2c0", "object at <addr>"),
    # ips and ports
    ("connect to 10.1.2.3:5432 refused", "connect to <ip> refused"),
    ("dial tcp [::1]:8080: connection refused", "dial tcp <ip>: connection refused"),
    ("GET localhost:39211/health", "GET localhost:<port>/health"),
    # temp paths and random suffixes
    ('File "/tmp/pytest-of-root/pytest-3/test_a0/test_x.py", line 42', 'File "<tmp>/test_x.py", line <n>'),
    ("wrote /tmp/tmpab12cd9x.json", "wrote <tmp>/tmp<rand>.json"),
    ("/home/runner/work/_temp/0f3c1e2a.sh: line 3", "<tmp>/<hex>.sh: line <n>"),
    ("cd /tmp", "cd <tmp>"),
    ("pod api-5d8f7c9b4-x2x7k crashed", "pod api-<hex>-<rand> crashed"),
    # pids, durations, sizes, long numbers
    ("Killed process 12345 (python) total-vm:1234kB", "Killed process <pid> (python) total-vm:<size>"),
    ("sshd[40213]: refused", "sshd[<pid>]: refused"),
    ("took 2m30s, then 1.5s and 300 ms", "took <dur>, then <dur> and <dur>"),
    ("Test timed out in 30000ms.", "Test timed out in <dur>."),
    ("Tried to allocate 20.00 MiB", "Tried to allocate <size>"),
    ("run 9876543210 failed", "run <n> failed"),
    # line and column numbers
    ("src/x.py:12:5: F401 `os` imported", "src/x.py:<line>: F401 `os` imported"),
    ("main.go:21:2: x redeclared", "main.go:<line>: x redeclared"),
    ("a.ts(12,5): error TS2304: Cannot find name", "a.ts(<line>): error TS2304: Cannot find name"),
    ("  --> src/main.rs:2:5", "--> src/main.rs:<line>"),
    # pytest parametrize ids, Go maps, ANSI, whitespace
    ("tests/t.py::test_x[1-2-abc] FAILED", "tests/t.py::test_x FAILED"),
    ("tests/t.py::test_y[a[0]-b] FAILED", "tests/t.py::test_y FAILED"),
    ("got map[b:1 a:2 c:3]", "got map[a:2 b:1 c:3]"),
    ("\x1b[31mERROR\x1b[0m   spaced\tout", "ERROR spaced out"),
    # codes are kept
    ("Process completed with exit code 137.", "Process completed with exit code 137."),
    ("killed by signal 9 (SIGKILL)", "killed by signal 9 (SIGKILL)"),
    ("The requested URL returned error: 403", "The requested URL returned error: 403"),
    ("OSError: [Errno 28] ENOSPC", "OSError: [Errno 28] ENOSPC"),
    ("error[E0308]: mismatched types", "error[E0308]: mismatched types"),
    ("error TS2304: Cannot find name 'x'", "error TS2304: Cannot find name 'x'"),
    ("F401 unused import", "F401 unused import"),
    ("fixture 'tmp_path' not found", "fixture 'tmp_path' not found"),
    ("test_timeout_124 failed", "test_timeout_124 failed"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZE_TABLE)
def test_normalize_table(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(("raw", "_"), NORMALIZE_TABLE)
def test_normalize_is_idempotent(raw: str, _: str) -> None:
    assert normalize(normalize(raw)) == normalize(raw)


def test_golden_vector() -> None:
    # Checked-in values: a change here is a dedup-key change and needs a version bump + aliases.
    assert FINGERPRINT_VERSION == 1
    assert cluster_id(FailureClass.DEPENDENCY_MISSING, "module:procgen", 1) == "dependency-missing-d9c4df37"
    assert fingerprint(FailureClass.DEPENDENCY_MISSING, module_signature("procgen")) == "dependency-missing-d9c4df37"
    # Was validation-failure-ec99ccf7 before test ids were canonicalised (unreleased, so still version 1).
    raw_test = failed_test_signature("tests/test_a.py::test_x[1-2]", "AssertionError")
    assert signature_at(raw_test) == "test:tests.test_a.test_x|AssertionError"
    assert fingerprint(FailureClass.VALIDATION_FAILURE, raw_test) == "validation-failure-72749c93"
    junit_spelling = failed_test_signature("tests.test_a::test_x[3-4]", "AssertionError")
    assert fingerprint(FailureClass.VALIDATION_FAILURE, junit_spelling) == "validation-failure-72749c93"
    aws = line_signature("Error: DescribeTable, StatusCode: 400, RequestID: 3HG0BBBLNF1PFMI7M5SG, api error")
    assert fingerprint(FailureClass.VALIDATION_FAILURE, aws) == "validation-failure-3c4225ca"


def test_cluster_id_follows_the_documented_formula() -> None:
    digest = hashlib.sha256(b"1\nvalidation_failure\nline:boom").hexdigest()
    assert cluster_id(FailureClass.VALIDATION_FAILURE, "line:boom") == f"validation-failure-{digest[:8]}"


@pytest.mark.parametrize("family", list(FailureClass))
def test_every_family_id_is_a_valid_label(family: FailureClass) -> None:
    assert is_valid_cluster_id(cluster_id(family, "x" * 600))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (failed_test_signature("t.py::test_a[3]", "ValueError"), "test:t.test_a|ValueError"),
        (failed_test_signature("src/a.test.ts > Suite > adds"), "test:src.a.test.ts.Suite.adds|"),
        (lint_signature("Ruff", "F401", "src/a.py"), "lint:ruff|F401|src/a.py"),
        (module_signature("procgen.envs"), "module:procgen.envs"),
        (command_signature("shellcheck"), "command:shellcheck"),
        (line_signature("boom at 2024-01-02T03:04:05Z"), "line:boom at <ts>"),
    ],
)
def test_signature_shapes(raw: RawSignature, expected: str) -> None:
    assert signature_at(raw) == expected


def test_signature_never_keeps_a_secret() -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
    signature = signature_at(line_signature(f"auth with {token} failed"))
    assert token not in signature
    assert "redacted" in signature


def test_secret_masked_before_normalizing_shape() -> None:
    token = "sk-ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"
    signature = signature_at(line_signature(f"key {token}"))
    assert "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2" not in signature


def _fake_v2(text: str) -> str:
    # A pretend next normalizer that also blanks every bare number.
    return re.sub(r"\b\d+\b", "<n>", fp.normalize_v1(text))


def test_id_aliases_map_old_ids_to_new(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fp.NORMALIZERS, 2, _fake_v2)
    family = FailureClass.UNKNOWN
    raws = [line_signature("boom code 7"), line_signature("boom code 8"), line_signature("plain")]
    aliases = id_aliases(family, raws, 1, 2)
    assert aliases[fingerprint(family, raws[0], 1)] == fingerprint(family, raws[0], 2)
    # Two old ids may merge into one new id; the version is hashed, so even "plain" moves.
    assert fingerprint(family, raws[0], 2) == fingerprint(family, raws[1], 2)
    assert len(aliases) == 3
    assert all(new.startswith("unknown-") for new in aliases.values())


def test_id_aliases_empty_for_same_version() -> None:
    assert id_aliases(FailureClass.OOM, [line_signature("MemoryError")], 1, 1) == {}


# --- hypothesis invariants ---------------------------------------------------------------

_TEMPLATE = "{ts} worker {pid} at {addr} wrote {tmp}/out.json run {uuid} in {dur}s line {line}: exit code {code}"
_hex = st.text(alphabet="0123456789abcdef", min_size=12, max_size=12)


@st.composite
def volatile(draw: st.DrawFn, code: int) -> str:
    return _TEMPLATE.format(
        ts=f"2025-{draw(st.integers(1, 12)):02d}-{draw(st.integers(1, 28)):02d}T"
        f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:00.{draw(st.integers(0, 9999999)):07d}Z",
        pid=f"pid {draw(st.integers(1, 4_000_000))}",
        addr=f"0x{draw(_hex)}",
        tmp=f"/tmp/pytest-of-u/pytest-{draw(st.integers(0, 999))}/t{draw(st.integers(0, 99))}",
        uuid=draw(st.uuids()),
        dur=draw(st.integers(0, 999)),
        line=draw(st.integers(1, 99999)),
        code=code,
    )


@given(st.data(), st.integers(0, 255))
def test_id_invariant_under_volatile_tokens(data: st.DataObject, code: int) -> None:
    first, second = data.draw(volatile(code)), data.draw(volatile(code))
    family = FailureClass.UNKNOWN
    assert fingerprint(family, line_signature(first)) == fingerprint(family, line_signature(second))


@given(st.data(), st.integers(0, 255), st.integers(0, 255))
def test_exit_codes_are_kept(data: st.DataObject, code_a: int, code_b: int) -> None:
    family = FailureClass.UNKNOWN
    id_a = fingerprint(family, line_signature(data.draw(volatile(code_a))))
    id_b = fingerprint(family, line_signature(data.draw(volatile(code_b))))
    assert (id_a == id_b) == (code_a == code_b)


@given(st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), st.integers(0, 9), min_size=1), st.randoms())
def test_go_map_order_never_changes_the_id(content: dict[str, int], rnd: object) -> None:
    items = [f"{k}:{v}" for k, v in content.items()]
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    family = FailureClass.VALIDATION_FAILURE
    first = fingerprint(family, line_signature(f"got map[{' '.join(items)}]"))
    assert first == fingerprint(family, line_signature(f"got map[{' '.join(shuffled)}]"))


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=20), st.randoms())
def test_ids_never_depend_on_order(lines: list[str], rnd: object) -> None:
    family = FailureClass.UNKNOWN
    forward = {line: fingerprint(family, line_signature(line)) for line in lines}
    shuffled = list(lines)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert {line: fingerprint(family, line_signature(line)) for line in shuffled} == forward


@given(st.text(max_size=200))
def test_normalize_total_and_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


def test_bash_job_status_pid_is_blanked() -> None:
    first = normalize("/tmp/a/run.sh: line 2: 981 Segmentation fault      python3 -c x")
    assert first == normalize("/tmp/b/run.sh: line 9: 15029 Segmentation fault python3 -c x")
    assert first == "<tmp>/run.sh: line <n>: <pid> Segmentation fault python3 -c x"


def test_a_diagnosis_carries_its_ids_under_earlier_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = line_signature("boom code 7")
    old_id = fingerprint(FailureClass.UNKNOWN, raw)
    assert diagnose_line("boom code 7").earlier_ids == ()  # one version: nothing earlier
    monkeypatch.setitem(fp.NORMALIZERS, 2, _fake_v2)
    monkeypatch.setattr(fp, "FINGERPRINT_VERSION", 2)
    diagnosis = diagnose_line("boom code 7")
    assert diagnosis.cluster_id == fingerprint(FailureClass.UNKNOWN, raw, 2) != old_id
    assert diagnosis.earlier_ids == (old_id,)


def test_the_accumulator_maps_earlier_ids_and_a_split_id_to_the_smallest_new_one() -> None:
    accumulator = ClusterAccumulator()
    for new_id, earlier in (("unknown-bbbbbbbb", ("unknown-00000001",)),
                            ("unknown-aaaaaaaa", ("unknown-00000001", "unknown-00000002"))):  # fmt: skip
        accumulator.add(_line_finding(new_id, earlier))
    assert accumulator.id_aliases() == {"unknown-00000001": "unknown-aaaaaaaa", "unknown-00000002": "unknown-aaaaaaaa"}


def _line_finding(new_id: str, earlier: tuple[str, ...]) -> Finding:
    return Finding(
        cluster_id=new_id, failure_class=FailureClass.UNKNOWN, title="t", symptom_class="unknown",
        signature="line:x", source="actions_log", ref=f"{new_id}.log:1", kind="step_failure", excerpt="x",
        earlier_ids=earlier,
    )  # fmt: skip
