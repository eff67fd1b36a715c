"""Generate a large, realistic raw-form GitHub Actions job log for the ingest benchmark, deterministically.

Usage: python bench/gen_actions_log.py OUT MB SEED

One job of many steps: mostly passing noise (pip and npm installs, compiler output, test progress with ANSI
colours, continuation lines without a timestamp, long minified lines, a few lines over the reader's 64 KiB
cap), with occasional failing steps of several root-cause kinds, warnings, cancellations and time-outs.
Private-key blocks and tokens are planted in noise and next to failures; their values are written to
``OUT.secrets.json`` so the benchmark can check that the report holds none of them. The same SEED and MB
give the same bytes.
"""

from __future__ import annotations

import base64
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

SHA = "3f1c2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
PACKAGES = ("numpy", "requests", "urllib3", "pydantic", "rich", "attrs", "typing-extensions", "idna", "certifi",
            "charset-normalizer", "packaging", "pluggy", "iniconfig", "pytest", "coverage", "mypy")  # fmt: skip
MODULES = ("api", "auth", "billing", "cache", "cli", "db", "events", "export", "ingest", "models", "search", "ui")
GREEN, RED, YELLOW, RESET = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[0m"
# Built by concatenation so the repository holds no scanner-shaped literal.
TOKEN_PREFIXES = ("gh" + "p_", "AK" + "IA")
PEM_BEGIN, PEM_END = "-----BEGIN RSA PRIVATE " + "KEY-----", "-----END RSA PRIVATE " + "KEY-----"


class Writer:
    """Timestamped lines into a buffered file; the clock advances a little per line."""

    def __init__(self, out: Path, rng: random.Random) -> None:
        self.handle = out.open("w", encoding="utf-8", newline="\n", buffering=4 * 1024 * 1024)
        self.rng = rng
        self.micros = 0
        self.handle.write("\ufeff")
        self.secrets: set[str] = set()

    @property
    def size(self) -> int:
        return self.handle.tell()

    def line(self, text: str) -> None:
        self.micros += self.rng.randrange(50, 4000)
        seconds, fraction = divmod(self.micros, 1_000_000)
        minutes, second = divmod(seconds, 60)
        hours, minute = divmod(minutes, 60)
        self.handle.write(f"2026-06-18T{9 + hours % 14:02d}:{minute:02d}:{second:02d}.{fraction:06d}0Z {text}\n")

    def continuation(self, text: str) -> None:
        self.handle.write(text + "\n")


def pem_block(w: Writer) -> None:
    w.line(PEM_BEGIN)
    for _ in range(w.rng.randrange(8, 26)):
        body = base64.b64encode(w.rng.randbytes(48)).decode()
        w.secrets.add(body)
        w.line(body)
    w.line(PEM_END)


def token(w: Writer) -> str:
    prefix = w.rng.choice(TOKEN_PREFIXES)
    if prefix.startswith("AK"):
        value = prefix + "".join(w.rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", k=16))
    else:
        value = prefix + "".join(w.rng.choices("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=36))
    w.secrets.add(value)
    return value


def pip_noise(w: Writer, lines: int) -> None:
    installed = []
    for _ in range(lines):
        name, version = (
            w.rng.choice(PACKAGES),
            f"{w.rng.randrange(1, 30)}.{w.rng.randrange(0, 20)}.{w.rng.randrange(9)}",
        )
        installed.append(f"{name}-{version}")
        w.line(f"Collecting {name}=={version}")
        w.line(f"  Downloading https://files.pythonhosted.org/packages/{w.rng.randbytes(8).hex()}/{name}-{version}"
               f"-py3-none-any.whl ({w.rng.randrange(10, 9000)} kB)")  # fmt: skip
        w.line(f"     {'━' * 40} {w.rng.randrange(10, 9000)}/{w.rng.randrange(9000, 9999)} kB ? eta 0:00:00")
    w.line("Successfully installed " + " ".join(installed))


def npm_noise(w: Writer, lines: int) -> None:
    for index in range(lines):
        if w.rng.random() < 0.2:
            w.line(f"npm warn deprecated {w.rng.choice(MODULES)}@{index % 9}.0.1: This package is no longer supported.")
        else:
            w.line(f"{YELLOW}[{index}/{lines}]{RESET} Fetching packages... {w.rng.choice(MODULES)}-{index}.tgz")
    w.line(f"added {lines * 7} packages, and audited {lines * 7 + 1} packages in {w.rng.randrange(3, 90)}s")
    w.line("found 0 vulnerabilities")


def compile_noise(w: Writer, lines: int) -> None:
    flags = " ".join(f"-I/usr/include/lib{index}" for index in range(w.rng.randrange(5, 60)))
    for index in range(lines):
        module = w.rng.choice(MODULES)
        w.line(f"[{100 * index // lines:3d}%] Building C object src/CMakeFiles/{module}.dir/{module}_{index}.c.o")
        if w.rng.random() < 0.1:
            w.line(f"/usr/bin/cc -O2 -g -Wall {flags} -c src/{module}_{index}.c -o build/{module}_{index}.o")
        if w.rng.random() < 0.03:
            w.line(f"src/{module}_{index}.c:{index + 3}:5: warning: unused variable 'tmp' [-Wunused-variable]")
            w.continuation(f"   {index + 3} |     int tmp = 0;")
            w.continuation("      |         ^~~")


def test_noise(w: Writer, lines: int) -> None:
    for index in range(lines):
        module = w.rng.choice(MODULES)
        dots = "." * w.rng.randrange(5, 70)
        w.line(f"tests/test_{module}_{index % 40}.py {GREEN}{dots}{RESET} [{100 * index // lines:3d}%]")
    w.line(f"{GREEN}===== {lines * 30} passed, 2 skipped in {w.rng.randrange(5, 300)}.12s ====={RESET}")


def long_lines(w: Writer, lines: int) -> None:
    for _ in range(lines):
        size = w.rng.choice((2_000, 8_000, 30_000)) if w.rng.random() < 0.97 else 100_000
        blob = base64.b64encode(w.rng.randbytes(size * 3 // 4)).decode()
        w.line(f"dist/assets/index-{w.rng.randbytes(4).hex()}.js {blob}")


def json_dump(w: Writer, lines: int) -> None:
    w.line("{")
    for index in range(lines):
        w.continuation(f'  "{w.rng.choice(MODULES)}_{index}": {{"enabled": true, "weight": {w.rng.random():.4f}}},')
    w.continuation("}")


def secrets_in_noise(w: Writer, lines: int) -> None:
    for _ in range(lines):
        w.line(f"Configuring remote with token {token(w)} for push")
    if w.rng.random() < 0.5:
        pem_block(w)


NOISE: tuple[Callable[[Writer, int], None], ...] = (pip_noise, npm_noise, compile_noise, test_noise, json_dump)


def failure(w: Writer, kind: int) -> str:
    """The failing tail of a step; returns how it ends: an exit code or a terminal marker."""
    test = f"test_{w.rng.choice(MODULES)}_{w.rng.randrange(6)}"
    if kind == 0:
        w.line(f"{RED}FAILED{RESET} tests/test_{w.rng.choice(MODULES)}.py::{test} - AssertionError: assert 1 == 2")
        w.line(f"{RED}===== 1 failed, {w.rng.randrange(100, 900)} passed in 42.1s ====={RESET}")
    elif kind == 1:
        w.line("Traceback (most recent call last):")
        w.continuation('  File "/home/runner/work/app/app/setup.py", line 3, in <module>')
        w.line(f"ModuleNotFoundError: No module named '{w.rng.choice(PACKAGES).replace('-', '_')}'")
    elif kind == 2:
        w.line("npm ERR! code ELIFECYCLE")
        w.line(f"npm ERR! errno {w.rng.randrange(1, 3)}")
    elif kind == 3:
        w.line("error[E0308]: mismatched types")
        w.line(f"  --> src/{w.rng.choice(MODULES)}.rs:12:5")
    elif kind == 4:
        w.line(f"--- FAIL: Test{w.rng.choice(MODULES).title()}{w.rng.randrange(6)} (0.0{w.rng.randrange(9)}s)")
        w.line("FAIL")
    elif kind == 5:
        pem_block(w)  # the key block lands in the failure's context window
        w.line("Error: ECONNREFUSED 127.0.0.1:5432")
    elif kind == 6:
        w.line(f"##[error]The job running on runner GitHub Actions {w.rng.randrange(99)} has exceeded the maximum "
               "execution time of 60 minutes.")  # fmt: skip
        return "timeout"
    else:
        w.line("##[error]The operation was canceled.")
        return "cancelled"
    return "exit"


def step(w: Writer) -> None:
    tool = w.rng.choice(NOISE)
    w.line(f"##[group]Run {tool.__name__.replace('_', ' ')} --seed {w.rng.randrange(1000)}")
    w.line(f"{tool.__name__} --verbose")
    w.line("shell: /usr/bin/bash -e {0}")
    w.line("##[endgroup]")
    tool(w, w.rng.randrange(30, 800))
    roll = w.rng.random()
    if roll < 0.03:
        long_lines(w, w.rng.randrange(1, 6))
    elif roll < 0.06:
        secrets_in_noise(w, w.rng.randrange(1, 3))
    elif roll < 0.09:
        w.line(f"##[warning]Node.js 16 actions are deprecated. Please update {w.rng.choice(MODULES)}.")
    if w.rng.random() < 0.08 and failure(w, w.rng.randrange(8)) == "exit":
        w.line(f"##[error]Process completed with exit code {w.rng.choice((1, 1, 1, 2, 101, 137))}.")


def header(w: Writer) -> None:
    w.line("Current runner version: '2.325.0'")
    w.line("##[group]Run actions/checkout@v4")
    w.line("with:")
    w.line("  repository: acme/app")
    w.line("##[endgroup]")
    w.line(f"HEAD is now at {SHA[:7]} Merge pull request #42")
    w.line("##[group]Run ./ci/env.sh")
    w.line("./ci/env.sh")
    w.line("env:")
    w.line(f"  GITHUB_SHA: {SHA}")
    w.line("  GITHUB_WORKFLOW_REF: acme/app/.github/workflows/ci.yml@refs/heads/main")
    w.line("##[endgroup]")


def generate(out: Path, megabytes: float, seed: int) -> None:
    w = Writer(out, random.Random(seed))
    header(w)
    while w.size < megabytes * 1e6:
        step(w)
    w.line("Post job cleanup.")
    w.line("Cleaning up orphan processes")
    w.handle.close()
    Path(f"{out}.secrets.json").write_text(json.dumps(sorted(w.secrets)))


if __name__ == "__main__":
    generate(Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]))
