"""Regenerate the labelled clustering corpus from REAL tool output.

Each scenario runs a real tool (pytest, ruff, mypy, pip, bash, python, gcc, rustc, node, git, timeout) in
a fresh temporary directory, captures its output and exit code, and wraps it in the raw GitHub Actions
job-log format (per-line 7-digit timestamps, ``##[group]Run …``, ``##[error]Process completed with exit
code N.``). Several variants per root cause differ in timestamps, temp paths, pids, line numbers, ports,
run ids, commit shas and noise steps, so clustering is really tested.

    python bench/corpus/make_corpus.py [OUT_DIR] [--variants N] [--seed S]

Writes ``OUT_DIR/logs/*.txt`` and ``OUT_DIR/truth.json`` (log name → root-cause key and class).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python")


@dataclass(frozen=True)
class Captured:
    command: str
    output: str
    exit_code: int


@dataclass(frozen=True)
class Scenario:
    key: str
    failure_class: str
    run: Callable[[Path, int], Captured]


def run_in(cwd: Path, argv: list[str], shown: str, timeout: float = 120) -> Captured:
    env = {**os.environ, "NO_COLOR": "1", "GIT_TERMINAL_PROMPT": "0", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    return Captured(
        shown, proc.stdout + proc.stderr, proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    )


def padding(variant: int) -> str:
    # Shifts line numbers between variants.
    return "".join(f"# filler line {n}\n" for n in range(variant * 3))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- scenarios: each really runs the tool ------------------------------------------------


def pytest_assert(tmp: Path, v: int) -> Captured:
    write(
        tmp / "test_calc.py",
        padding(v) + "def add(a, b):\n    return a + b\n\n\ndef test_add():\n    assert add(1, 2) == 4\n",
    )
    return run_in(tmp, [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_calc.py"], "pytest -q")


def pytest_param(tmp: Path, v: int) -> Captured:
    body = (
        f"import pytest\n\n\n@pytest.mark.parametrize('n', [{v}, {v + 1}])\ndef test_negative(n):\n    assert n < 0\n"
    )
    write(tmp / "test_param.py", padding(v) + body)
    return run_in(tmp, [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_param.py"], "pytest -q")


def pytest_module(tmp: Path, v: int) -> Captured:
    write(tmp / "test_env.py", padding(v) + "import procgen\n\n\ndef test_env():\n    assert procgen\n")
    return run_in(tmp, [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_env.py"], "pytest -q")


def ruff_f401(tmp: Path, v: int) -> Captured:
    module = ("os", "sys", "json", "re", "io")[v % 5]
    write(tmp / "src" / "app.py", padding(v) + f"import {module}\n\n\ndef main():\n    return 1\n")
    argv = [str(VENV_BIN / "ruff"), "check", "--no-cache", "--isolated", "--output-format", "concise", "src"]
    return run_in(tmp, argv, "ruff check src")


def mypy_assignment(tmp: Path, v: int) -> Captured:
    write(tmp / "src" / "typed.py", padding(v) + f'count: int = "{v}"\n')
    argv = [str(VENV_BIN / "mypy"), "--no-incremental", "--cache-dir", os.devnull, "src/typed.py"]
    return run_in(tmp, argv, "mypy src")


def pip_missing(tmp: Path, v: int) -> Captured:
    del v
    base_python = str(Path(sys.base_prefix) / "bin" / "python3")  # the venv has no pip
    argv = [base_python, "-m", "pip", "install", "--no-index", "--find-links", str(tmp), "trace-harness-absent-pkg"]
    return run_in(tmp, argv, "pip install trace-harness-absent-pkg")


def shell_script(tmp: Path, body: str, shown: str) -> Captured:
    script = write(tmp / f"{uuid.uuid4()}.sh", body)
    return run_in(tmp, ["bash", "-e", str(script)], shown)


def command_missing(tmp: Path, v: int) -> Captured:
    return shell_script(tmp, f"echo 'lint step {v}'\nshellcheckx --version\n", "shellcheckx --version")


def segfault(tmp: Path, v: int) -> Captured:
    body = f"echo 'native step {v}'\npython3 -c 'import ctypes; ctypes.string_at(0)'\necho unreachable\n"
    return shell_script(tmp, body, "python3 -c 'import ctypes; ctypes.string_at(0)'")


def memory_error(tmp: Path, v: int) -> Captured:
    script = write(tmp / "alloc.py", padding(v) + "buffer = bytearray(10**16)\n")
    return run_in(tmp, [sys.executable, str(script)], "python alloc.py")


def timeout_124(tmp: Path, v: int) -> Captured:
    del v
    return run_in(tmp, ["timeout", "1", "sleep", "5"], "timeout 1 sleep 5")


def exit_code(code: int, echo: str) -> Callable[[Path, int], Captured]:
    def run(tmp: Path, v: int) -> Captured:
        del v
        return shell_script(tmp, f"echo '{echo}'\nexit {code}\n", f"./check.sh  # exits {code}")

    return run


class _StatusHandler(http.server.BaseHTTPRequestHandler):
    status = 403

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        del args


@contextmanager
def http_status(status: int) -> Iterator[int]:
    handler = type("Handler", (_StatusHandler,), {"status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


_URLOPEN = "import sys, urllib.request\nurllib.request.urlopen(sys.argv[1])\n"


def git_403(tmp: Path, v: int) -> Captured:
    with http_status(403) as port:
        del v
        url = f"http://127.0.0.1:{port}/acme/app.git"
        return run_in(tmp, ["git", "clone", url, "app"], f"git clone {url}")


def http_429(tmp: Path, v: int) -> Captured:
    script = write(tmp / "call_model.py", padding(v) + _URLOPEN)
    with http_status(429) as port:
        argv = [sys.executable, str(script), f"http://127.0.0.1:{port}/v1/messages"]
        return run_in(tmp, argv, "python call_model.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connection_refused(tmp: Path, v: int) -> Captured:
    script = write(tmp / "fetch.py", padding(v) + _URLOPEN)
    return run_in(tmp, [sys.executable, str(script), f"http://127.0.0.1:{free_port()}/health"], "python fetch.py")


def disk_full(tmp: Path, v: int) -> Captured:
    script = write(tmp / "save.py", padding(v) + "with open('/dev/full', 'w') as f:\n    f.write('x' * 10)\n")
    return run_in(tmp, [sys.executable, str(script)], "python save.py")


def gcc_undeclared(tmp: Path, v: int) -> Captured:
    source = write(tmp / "calc.c", padding(v).replace("#", "//") + "int main(void) {\n    return missing_total;\n}\n")
    return run_in(tmp, ["gcc", "-c", str(source.name), "-o", "calc.o"], "gcc -c calc.c")


def rustc_e0308(tmp: Path, v: int) -> Captured:
    source = write(tmp / "main.rs", padding(v).replace("#", "//") + 'fn main() {\n    let total: i32 = "zero";\n}\n')
    return run_in(tmp, ["rustc", "--edition", "2021", str(source.name)], "rustc main.rs")


def cmake_missing_package(tmp: Path, v: int) -> Captured:
    lists = (
        "cmake_minimum_required(VERSION 3.10)\nproject(app C)\n" + padding(v) + "find_package(ZzzAbsentLib REQUIRED)\n"
    )
    write(tmp / "CMakeLists.txt", lists)
    return run_in(tmp, ["cmake", "-S", ".", "-B", "build"], "cmake -S . -B build")


def cd_missing_dir(tmp: Path, v: int) -> Captured:
    return shell_script(tmp, f"echo 'packaging step {v}'\ncd dist-output\ntar czf app.tgz .\n", "cd dist-output")


def node_missing(tmp: Path, v: int) -> Captured:
    script = write(tmp / "index.js", padding(v).replace("#", "//") + "require('left-pad-missing');\n")
    return run_in(tmp, ["node", str(script)], "node index.js")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("pytest-assert-test_add", "validation_failure", pytest_assert),
    Scenario("pytest-param-test_negative", "validation_failure", pytest_param),
    Scenario("module-procgen", "dependency_missing", pytest_module),
    Scenario("ruff-F401-src/app.py", "validation_failure", ruff_f401),
    Scenario("mypy-assignment-src/typed.py", "validation_failure", mypy_assignment),
    Scenario("pip-trace-harness-absent-pkg", "dependency_missing", pip_missing),
    Scenario("command-shellcheckx", "dependency_missing", command_missing),
    Scenario("segfault-python", "tool_failure", segfault),
    Scenario("memoryerror-alloc", "oom", memory_error),
    Scenario("timeout-124", "timeout", timeout_124),
    Scenario("exit-3", "unknown", exit_code(3, "checking config")),
    Scenario("exit-5", "unknown", exit_code(5, "checking schema")),
    Scenario("git-403", "scope_policy", git_403),
    Scenario("http-429", "model_error", http_429),
    Scenario("connection-refused", "infra_tooling", connection_refused),
    Scenario("disk-full", "infra_tooling", disk_full),
    Scenario("gcc-undeclared", "validation_failure", gcc_undeclared),
    Scenario("rustc-E0308", "validation_failure", rustc_e0308),
    Scenario("node-left-pad-missing", "dependency_missing", node_missing),
    Scenario("cmake-ZzzAbsentLib", "dependency_missing", cmake_missing_package),
    Scenario("cd-dist-output", "infra_tooling", cd_missing_dir),
)


# --- Actions raw log wrapping ------------------------------------------------------------


class Clock:
    """Per-line 7-digit timestamps, moving forward by small random steps."""

    def __init__(self, start: datetime, rnd: random.Random) -> None:
        self.now, self.rnd = start, rnd

    def stamp(self) -> str:
        self.now += timedelta(microseconds=self.rnd.randint(50, 900_000))
        return self.now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.now.microsecond:06d}{self.rnd.randint(0, 9)}Z"


def job_log(captured: Captured, rnd: random.Random) -> str:
    clock = Clock(datetime(2025, 6, 1, tzinfo=UTC) + timedelta(minutes=rnd.randint(0, 60 * 24 * 30)), rnd)
    sha = "".join(rnd.choice("0123456789abcdef") for _ in range(40))
    lines = [
        "\ufeff" + clock.stamp() + " Current runner version: '2.325.0'",
        *_group(clock, "Runner Image", ["Image: ubuntu-24.04", f"Version: 2025{rnd.randint(1000, 1231)}.1.0"]),
        *_group(clock, "Run actions/checkout@v4", ["with:", "  repository: acme/app"]),
        f"{clock.stamp()} Syncing repository: acme/app",
        f"{clock.stamp()} HEAD is now at {sha[:7]} Merge pull request #{rnd.randint(1, 999)}",
    ]
    if rnd.random() < 0.5:
        lines.append(f"{clock.stamp()} ##[warning]Node.js 16 actions are deprecated. Please update actions/cache.")
    lines += _group(clock, f"Run {captured.command}", [captured.command, "shell: /usr/bin/bash -e {0}"])
    lines += [f"{clock.stamp()} {line}" for line in captured.output.splitlines()]
    lines.append(f"{clock.stamp()} ##[error]Process completed with exit code {captured.exit_code}.")
    lines += [f"{clock.stamp()} Post job cleanup.", f"{clock.stamp()} Cleaning up orphan processes"]
    return "\n".join(lines) + "\n"


def _group(clock: Clock, title: str, body: list[str]) -> list[str]:
    return [
        f"{clock.stamp()} ##[group]{title}",
        *(f"{clock.stamp()} {line}" for line in body),
        f"{clock.stamp()} ##[endgroup]",
    ]


def generate(out: Path, variants: int, seed: int) -> dict[str, dict[str, str]]:
    rnd = random.Random(seed)
    logs_dir = out / "logs"
    shutil.rmtree(logs_dir, ignore_errors=True)
    logs_dir.mkdir(parents=True)
    truth: dict[str, dict[str, str]] = {}
    for scenario in SCENARIOS:
        for variant in range(variants):
            with tempfile.TemporaryDirectory() as tmp:
                captured = scenario.run(Path(tmp), variant)
            name = f"job-logs-{rnd.randint(10**9, 10**10)}-{len(truth):03d}.txt"
            (logs_dir / name).write_text(job_log(captured, rnd), encoding="utf-8")
            truth[name] = {"key": scenario.key, "class": scenario.failure_class}
    (out / "truth.json").write_text(json.dumps(dict(sorted(truth.items())), indent=1) + "\n", encoding="utf-8")
    return truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    truth = generate(args.out, args.variants, args.seed)
    print(f"wrote {len(truth)} logs to {args.out / 'logs'}")


if __name__ == "__main__":
    main()
