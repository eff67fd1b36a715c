"""The Actions-log bulk reader: block splitting, the line gate, and gate-on equal to gate-off output."""

from __future__ import annotations

import io
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trace_harness.evidence import actions_scan
from trace_harness.evidence.actions_log import decode, parse_line, read_actions_log
from trace_harness.evidence.actions_rootcause import rank_line
from trace_harness.evidence.actions_scan import every_line, gated_lines, last_lines, line_blocks
from trace_harness.evidence.base import ReaderOptions

TS = "2026-06-18T09:00:00.1234567Z "
KEY_BODY = "MIIEowIBAAKCAQEAx3kqL0Zt9Vh2yQ8pR4mN7sT1uW6bE5cD0fG3hJ2kL9"
# Pieces of real-looking Actions output: markers, root causes of every rank, key blocks, facts, noise.
VOCABULARY = (
    "##[group]Run make test", "make test", "##[endgroup]", "##[warning]Node 16 is deprecated",
    "##[error]Process completed with exit code 2.", "##[error]The operation was canceled.",
    "##[error]Something broke", "FAILED tests/test_a.py::test_x - assert 1 == 2", "Error: ECONNREFUSED",
    "ModuleNotFoundError: No module named 'yaml'", "src/a.c:3:5: error: 'x' undeclared", "E501 line too long",
    "src/a.c:3:5: warning: unused", "--- FAIL: TestX (0.01s)", "  ● suite › case", "npm warn deprecated x",
    "npm ERR! code ELIFECYCLE", "× failed test", "-----BEGIN RSA PRIVATE KEY-----", KEY_BODY,
    "-----END RSA PRIVATE KEY-----", "git log -1 --format=%H", "3f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a",
    "HEAD is now at 3f1c2a9 Merge", "  GITHUB_SHA: 3f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a", "[command]/usr/bin/git",
    "Uses: acme/app/.github/workflows/ci.yml@refs/heads/main", "Post job cleanup.", "Cleaning up orphan processes",
    "Collecting numpy==1.2", "", "   ", "token ghp_k3Tz8hLq2Wv9Xr4Nm7Bc1Dy6Fp0Gs5Hj2Ka pushed", "x" * 300,
)  # fmt: skip
DECORATIONS = ("", "\x1b[31m", "\x1b[0m", "\r", "\x1b]0;title\x07", "\ufeff")


@st.composite
def raw_logs(draw: st.DrawFn) -> bytes:
    lines = []
    for text in draw(st.lists(st.sampled_from(VOCABULARY), max_size=60)):
        stamp = draw(st.sampled_from((TS, TS, TS, "")))
        head, mid, tail = (draw(st.sampled_from(DECORATIONS)) for _ in range(3))
        cut = draw(st.integers(0, len(text)))
        lines.append(f"{head}{stamp}{text[:cut]}{mid}{text[cut:]}{tail}")
    ending = draw(st.sampled_from(("\n", "")))
    return ("\n".join(lines) + ending).encode()


def findings(data: bytes) -> list[str]:
    return [repr(item) for item in read_actions_log(io.BytesIO(data), "logs_1234567/job.txt", ReaderOptions())]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=raw_logs(), block=st.sampled_from((48, 200, 4096)))
def test_gated_reading_equals_reading_every_line(monkeypatch: pytest.MonkeyPatch, data: bytes, block: int) -> None:
    """The gate is only a shortcut: the same findings, ids, excerpts and masks as the per-line path."""
    monkeypatch.setattr(actions_scan, "BLOCK_BYTES", block)
    gated = findings(data)
    monkeypatch.setattr(actions_scan, "gated_lines", every_line)
    assert gated == findings(data)


@given(data=raw_logs())
def test_gate_picks_every_line_the_reader_reacts_to(data: bytes) -> None:
    block = b"".join(line_blocks(io.BytesIO(data), 64 * 1024))
    picked = {start for start, _ in gated_lines(block)}
    for start, end in every_line(block):
        text = parse_line(0, decode(block[start:end]), False).text
        if text.startswith("##") or rank_line(text) is not None or "PRIVATE KEY" in text:
            assert start in picked, text


@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30), limit=st.integers(1, 50)
)
def test_line_blocks_equal_cut_lines(lines: list[bytes], limit: int) -> None:
    data = b"".join(line + b"\n" for line in lines)
    blocks = b"".join(line_blocks(io.BytesIO(data), limit, size=7))
    assert blocks == b"".join(line[:limit] + b"\n" for line in lines)


@given(lines=st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")), min_size=1, max_size=30))
def test_last_lines_are_the_tail(lines: list[bytes]) -> None:
    block = b"head\n" + b"".join(line + b"\n" for line in lines)
    assert last_lines(block, 5, len(block), 20, guess=8) == lines[-20:]


def _noisy_log(lines: int) -> bytes:
    vocabulary = [text.encode() for text in VOCABULARY if "Cleaning up" not in text]
    body = b"".join(TS.encode() + vocabulary[i * 7 % len(vocabulary)] + b"\n" for i in range(lines))
    return b"\xef\xbb\xbf" + body


@pytest.mark.parametrize("helper_blocks", [None, 0, 3])
def test_a_gate_running_ahead_picks_what_the_local_gate_picks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, helper_blocks: int | None
) -> None:
    """A large file is gated by a forked helper; one that dies (after ``helper_blocks``) is finished here."""
    monkeypatch.setattr(actions_scan, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(actions_scan, "GATE_AHEAD_MIN_BYTES", 1)
    if helper_blocks is not None:
        monkeypatch.setattr(actions_scan, "line_blocks", _dying_after(helper_blocks, actions_scan.line_blocks))
    data = _noisy_log(3000)
    log = tmp_path / "logs_1234567" / "job.txt"
    log.parent.mkdir()
    log.write_bytes(data)
    with log.open("rb") as stream:
        gate, stop = actions_scan.gate_for(stream, 64 * 1024)
        stop()
    assert gate != actions_scan.gated_lines  # the helper path is the one under test
    with log.open("rb") as stream:
        ahead = [repr(item) for item in read_actions_log(stream, "logs_1234567/job.txt", ReaderOptions())]
    assert ahead == findings(data) and len(ahead) > 10


def _dying_after(blocks: int, line_blocks: Any) -> Any:
    """``line_blocks`` for the helper process only: it exits after ``blocks`` blocks, as if killed."""
    parent = os.getpid()

    def blocks_then_die(stream: Any, limit: int) -> Any:
        for index, block in enumerate(line_blocks(stream, limit)):
            if os.getpid() != parent and index == blocks:
                os._exit(1)
            yield block

    return blocks_then_die


def test_a_daemonic_process_gates_locally(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(actions_scan, "GATE_AHEAD_MIN_BYTES", 1)
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    log = tmp_path / "job.txt"
    log.write_bytes(_noisy_log(10))
    with log.open("rb") as stream:
        gate, stop = actions_scan.gate_for(stream, 64 * 1024)
    stop()
    assert gate is actions_scan.gated_lines


def test_a_failed_fork_gates_locally(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_fork(*_args: object) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")  # fork's EAGAIN

    monkeypatch.setattr(actions_scan, "GATE_AHEAD_MIN_BYTES", 1)
    monkeypatch.setattr(actions_scan, "GateAhead", no_fork)
    data = _noisy_log(300)
    log = tmp_path / "logs_1234567" / "job.txt"
    log.parent.mkdir()
    log.write_bytes(data)
    with log.open("rb") as stream:
        read = [repr(item) for item in read_actions_log(stream, "logs_1234567/job.txt", ReaderOptions())]
    assert read == findings(data)
