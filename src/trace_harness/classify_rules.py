"""The classification rules as data: patterns → failure class, in priority order, plus extractors.

``BUILTIN_RULES`` is ordered by class priority (scope_policy first, unknown is the fallback);
the first rule that matches a line wins. ``EXTRACTORS`` turn a recognised line into a signature
(test id + exception, module, command, package, lint rule + file, compile code + message) and
give the class to use when no rule matched. ``SEVERE_DETECTORS`` flag data loss and secret exposure.

A plain "The operation was canceled." (superseded run, fail-fast sibling, manual cancel) matches no
rule on purpose: it is no failure of the project, so no class fits; cancellation after the maximum
execution time is a timeout, and the Actions reader reports that marker instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .config import ClassRule
from .fingerprint import (
    RawSignature,
    command_signature,
    compile_signature,
    failed_test_signature,
    line_signature,
    lint_signature,
    module_signature,
    normalize,
    package_signature,
)
from .taxonomy import FailureClass

FC = FailureClass


@dataclass(frozen=True, slots=True)
class Rule:
    """A pattern over one line; ``requires`` must also appear somewhere in the root cause + context."""

    pattern: re.Pattern[str]
    failure_class: FailureClass
    severe: bool = False
    requires: re.Pattern[str] | None = None

    def matches(self, line: str, all_text: str) -> bool:
        if not self.pattern.search(line):
            return False
        return self.requires is None or bool(self.requires.search(all_text))


def _rules(failure_class: FailureClass, *patterns: str, requires: str | None = None) -> tuple[Rule, ...]:
    needed = re.compile(requires) if requires else None
    return tuple(Rule(re.compile(p), failure_class, requires=needed) for p in patterns)


_EXIT = r"(?i)\bexit(?:ed)?(?: with)?(?: code| status)?:? ?"

BUILTIN_RULES: tuple[Rule, ...] = (
    *_rules(
        FC.SCOPE_POLICY,
        r"(?i)permission to \S+ denied to \S+",
        r"(?i)permission denied to [\w.\[\]/-]+",
        r"(?i)returned error: 403\b|\bHTTP(?:/[\d.]+)? 403\b|\b403 Forbidden\b|status(?: code)?:? 403\b",
        r"Resource not accessible by integration",
        r"(?i)outside (?:of )?(?:the )?allowed (?:paths?|scope|directories)",
        r"(?i)\bscope[_ ]violation\b|refused by (?:the )?(?:policy|permissions?)|not permitted by (?:the )?policy",
        r"(?i)protected branch hook declined",
    ),
    *_rules(
        FC.OOM,
        r"\bMemoryError\b|OutOfMemoryError|\bOOMKilled\b",
        r"(?i)\bout of memory\b|cannot allocate memory|oom[- _]?kill(?:er|ed)?\b|\bKilled process \d+",
    ),
    *_rules(FC.OOM, _EXIT + r"137\b", requires=r"(?m)\bKilled\b|OOM"),
    *_rules(
        FC.TIMEOUT,
        _EXIT + r"124\b",
        r"(?i)\bTimeout ?>\s*[\d.]+s\b|\+{3,} Timeout \+{3,}|pytest[_-]timeout",
        r"(?i)context deadline exceeded|DeadlineExceeded|deadline has elapsed",
        r"(?i)exceeded the maximum execution time|timeout-minutes",
        r"(?i)\btimed out\b|\btimeout expired\b|\bTimeoutError\b|\bTimeoutExpired\b|\btimeout of .{1,20} exceeded",
    ),
    *_rules(
        FC.MODEL_ERROR,
        r"(?i)overloaded_error|\b529\b|\"type\":\s*\"overloaded|\bOverloaded\b",
        r"(?i)\b429\b|too many requests|rate[_ ]limit(?:ed|_error| exceeded| reached)",
        r"(?i)quota (?:exceeded|exhausted)|insufficient_quota|exceeded your current quota|quota_event",
        r"(?i)\bapi_error\b|(?:anthropic|openai|claude|gemini|model provider)\S*.{0,80}\b5\d\d\b",
    ),
    *_rules(
        FC.CONTEXT_LIMIT,
        r"(?i)prompt is too long|prompt_too_long|context_length_exceeded|maximum context length",
        r"(?i)exceeds? the (?:model's )?context window|input is too long for (?:the )?requested model",
    ),
    *_rules(
        FC.DEPENDENCY_MISSING,
        r"\bModuleNotFoundError\b|\bNo module named\b|Cannot find module '",
        r"(?i)command not found|:\s*\d+:\s*[\w.+-]+: not found$|is not recognized as an internal or external command",
        _EXIT + r"127\b",
        r"(?i)No matching distribution found|Could not find a version that satisfies the requirement",
        r"(?i)Unable to locate package|has no installation candidate|\bpackage \S+ (?:is )?not found",
        r"(?i)cannot open shared object file|Library not loaded|lock file is not found",
        r"(?i)no required module provides package|Could not resolve dependencies|npm ERR! 404",
        r"(?i)\bERESOLVE\b|unable to resolve dependency tree|\bSource \"[^\"]+\" not found",
    ),
    # CMake's own "CMake Error" is a failed check unless its message says a tool or package is missing.
    *_rules(
        FC.DEPENDENCY_MISSING,
        r"\bCMake Error\b",
        requires=r"(?i)\bCould NOT find \w|\brequires [\w.+-]+ for the\b|\bis not installed\b",
    ),
    *_rules(
        FC.VALIDATION_FAILURE,
        r"\bAssertionError\b|^E\s+assert\b|^\s*assert\b|\bFAILED \S+::|--- FAIL: |\bExpected:.*Received:",
        r"(?i)\b\d+ failed\b|\btests? failed\b|\bbuild failed\b|\bcompilation failed\b|\blint(?:ing)? failed",
        r"error\[E\d{4}\]|\berror TS\d+|redeclared in this block|\bundefined: \w+|cannot find symbol",
        r"^\s*[\w./-]+\.(?:c|cc|cpp|cxx|h|hpp|m|java|kt|swift|cs|rs|go):\d+(?::\d+)?: (?:fatal )?error\b",
        r"\berror C\d{4}\b|\bCMake Error\b",
        r"(?i)\bwould reformat\b|\bFound \d+ errors?\b|\bSyntaxError\b|\bTypeError\b|\bNameError\b",
        # jest/vitest suite and case lines, dotnet test, Next.js type check, size-limit budgets.
        r"^\s*FAIL\s+\S+\.[cm]?[jt]sx?\b|^\s*● .+ › |^\s*Failed \S+ \[\d|^Type error: ",
        r"(?i)size-limit validation failed|\bsize limit has exceeded\b",
        # A cloud API refusing the request the project's own config built (AWS: 400 ValidationException).
        r"\bapi error ValidationException\b",
    ),
    *_rules(
        FC.AWAITING_INPUT,
        r"<!--\s*cp:question:",
        r"(?i)turn_input_required|\binput[_ ]required\b|awaiting (?:human )?input",
    ),
    *_rules(
        FC.TOOL_FAILURE,
        r"(?i)segmentation fault|\bSIGSEGV\b|\bSIGABRT\b|core dumped|Fatal Python error",
        _EXIT + r"(?:139|134)\b",
        r"(?i)malformed[_ ](?:protocol|json|response|output)|failed to parse (?:json|response|output)",
        r"(?i)unsupported tool|tool[_ ]unsupported|internal compiler error",
        r"failed to run main module|\bwasm backtrace\b|\bwasm trap\b",  # wasmtime: the program trapped
    ),
    *_rules(
        FC.INFRA_TOOLING,
        r"(?i)\b401 Unauthorized\b|returned error: 401\b|\bHTTP(?:/[\d.]+)? 401\b|status(?: code)?:? 401\b",
        r"(?i)bad credentials|authentication failed|could not load credentials|CredentialsProviderError",
        r"(?i)invalid (?:api )?(?:key|token)|Permission denied \(publickey\)",
        r"(?i)connection refused|ECONNREFUSED|ECONNRESET|connection reset by peer|couldn't connect to server",
        r"(?i)could not read (?:Username|Password) for|terminal prompts disabled",
        r"(?i)could not resolve host|name or service not known|temporary failure in name resolution",
        r"(?i)no space left on device|\bENOSPC\b|disk (?:is )?full",
        r"(?i)lost communication with the server|runner has received a shutdown signal|runner .{0,40}lost",
        r"(?i)\bunhealthy\b|health ?check failed|Cannot connect to the Docker daemon",
        # The workspace lacks what the job's script expects (checkout, working-directory): environment.
        r"no configuration file provided: not found|\bcd: [^:]+: No such file or directory",
    ),
)


def config_rules(rules: Sequence[ClassRule]) -> tuple[Rule, ...]:
    """Config-supplied rules, in their order; they are checked before the built-in table."""
    return tuple(Rule(re.compile(r.pattern), r.failure_class, severe=r.severe) for r in rules)


SEVERE_DETECTORS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"(?i)force[- ]pushed over|\(forced update\)",
        r"(?i)\bdeleted \d+ rows?\b|\bDROP (?:TABLE|DATABASE)\b|\brm -rf /(?:\s|$)",
        r"(?i)secrets? detected|leaked (?:credentials?|secrets?|tokens?)|exposed (?:secrets?|credentials?)",
    )
)


@dataclass(frozen=True, slots=True)
class Extracted:
    """A signature read off a line; ``failure_class`` None when the line is a wrapper that says no cause."""

    raw: RawSignature
    title: str
    failure_class: FailureClass | None


Builder = Callable[[re.Match[str]], Extracted]


@dataclass(frozen=True, slots=True)
class Extractor:
    pattern: re.Pattern[str]
    build: Builder

    def extract(self, line: str) -> Extracted | None:
        match = self.pattern.search(line)
        return self.build(match) if match else None


def _pytest(m: re.Match[str]) -> Extracted:
    test_id, exc = m.group("test"), m.group("exc") or ""
    label = f"{normalize(test_id)} ({exc})" if exc else normalize(test_id)
    return Extracted(failed_test_signature(test_id, exc), f"Test failure: {label}", FC.VALIDATION_FAILURE)


def _gotest(m: re.Match[str]) -> Extracted:
    test_id = m.group("test")
    return Extracted(failed_test_signature(test_id), f"Test failure: {test_id}", FC.VALIDATION_FAILURE)


def _named_test(m: re.Match[str]) -> Extracted:
    test_id = m.group("test").strip()
    return Extracted(failed_test_signature(test_id), f"Test failure: {test_id}", FC.VALIDATION_FAILURE)


def _type_error(m: re.Match[str]) -> Extracted:
    message = m.group("msg").strip()
    return Extracted(
        compile_signature("type-error", message), f"Type error: {normalize(message)}", FC.VALIDATION_FAILURE
    )


def _pnpm_script(m: re.Match[str]) -> Extracted:
    # pnpm only relays a script's failure; the version in `pkg@1.0.0` must not move the id.
    text = f"pnpm script failed: {m.group('pkg')} {m.group('script')}"
    return Extracted(line_signature(text), text, None)


def _module(m: re.Match[str]) -> Extracted:
    kind = m.groupdict().get("kind") or ("Cannot find module" if "Cannot" in m.group(0) else "ModuleNotFoundError")
    return Extracted(module_signature(m.group("mod")), f"{kind}: {m.group('mod')}", FC.DEPENDENCY_MISSING)


def _command(m: re.Match[str]) -> Extracted:
    cmd = m.group("cmd")
    return Extracted(command_signature(cmd), f"command not found: {cmd}", FC.DEPENDENCY_MISSING)


def _package(m: re.Match[str]) -> Extracted:
    pkg = m.group("pkg")
    return Extracted(package_signature(pkg), f"Package not found: {pkg}", FC.DEPENDENCY_MISSING)


def _lint_as(tool: str) -> Builder:
    def build(m: re.Match[str]) -> Extracted:
        code, path = m.group("code"), m.group("path")
        return Extracted(lint_signature(tool, code, path), f"{tool} {code} in {path}", FC.VALIDATION_FAILURE)

    return build


def _compile(m: re.Match[str]) -> Extracted:
    code, message = m.group("code"), m.group("msg").strip()
    return Extracted(compile_signature(code, message), f"{code}: {normalize(message)}", FC.VALIDATION_FAILURE)


def _go_compile(m: re.Match[str]) -> Extracted:
    message = m.group("msg").strip()
    return Extracted(compile_signature("go", message), f"go build: {normalize(message)}", FC.VALIDATION_FAILURE)


def _c_compile(m: re.Match[str]) -> Extracted:
    message = m.group("msg").strip()
    return Extracted(compile_signature("cc", message), f"cc: {normalize(message)}", FC.VALIDATION_FAILURE)


_EXC = r"(?P<exc>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failed|Failure|Timeout|Warning))"
# `ValueError: bad value`: a message that starts with its exception's name.
LEADING_EXCEPTION_RE = re.compile(_EXC + r": ")
_PATH = r"(?P<path>[\w./\\<>-]+\.[A-Za-z]{1,5})"

EXTRACTORS: tuple[Extractor, ...] = tuple(
    Extractor(re.compile(pattern), build)
    for pattern, build in (
        (r"\b(?:FAILED|ERROR) (?P<test>[^\s:]+::\S+)(?: - " + _EXC + r"\b)?", _pytest),
        (r"--- FAIL: (?P<test>\S+)", _gotest),
        (r"^\s*FAIL\s+(?P<test>\S+\.[cm]?[jt]sx?(?:\s+>\s+.*?)?)(?:\s+\([\d.]+ ?m?s\))?\s*$", _named_test),
        (r"^\s*● (?P<test>.+? › .+?)\s*$", _named_test),
        (r"^\s*Failed (?P<test>\S+) \[\d", _named_test),
        (r"^Type error: (?P<msg>.+)", _type_error),
        (r"\[ERR_PNPM_RECURSIVE_RUN_FIRST_FAIL\] (?P<pkg>\S+?)@\S+ (?P<script>[^\s:]+):", _pnpm_script),
        (r"(?P<kind>ModuleNotFoundError|ImportError)?:? ?No module named '?(?P<mod>[\w.]+)'?", _module),
        (r"Cannot find module '(?P<mod>[^']+)'", _module),
        (r"(?P<cmd>[\w.+-]+): command not found", _command),
        (r":\s*\d+:\s*(?P<cmd>[\w.+-]+): not found$", _command),
        (r"(?i)command not found: (?P<cmd>[\w.+-]+)", _command),
        (r"'(?P<cmd>[\w.+-]+)' is not recognized as an internal or external command", _command),
        (r"(?i)(?:No matching distribution found for|satisfies the requirement) (?P<pkg>[\w.\[\]-]+)", _package),
        (r"(?i)Unable to locate package (?P<pkg>\S+)", _package),
        (r"^\s*" + _PATH + r":\d+(?::\d+)?: error: .*\[(?P<code>[a-z][a-z-]+)\]\s*$", _lint_as("mypy")),
        (r"^\s*" + _PATH + r":\d+:\d+: (?P<code>[A-Z]{1,4}\d{2,4})\b", _lint_as("lint")),
        (r"error\[(?P<code>E\d{4})\]: (?P<msg>.+)", _compile),
        (r"error (?P<code>TS\d+): (?P<msg>.+)", _compile),
        (r"\berror (?P<code>C\d{4}): (?P<msg>.+)", _compile),
        (r"^\s*[\w./-]+\.go:\d+:\d+: (?P<msg>.+)", _go_compile),
        (r"^\s*[\w./<>-]+\.(?:c|cc|cpp|cxx|h|hpp):\d+(?::\d+)?: (?:fatal )?error: (?P<msg>.+)", _c_compile),
    )
)
