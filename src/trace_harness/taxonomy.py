"""The failure taxonomy: classes in priority order, with the text the proposals use for each.

This module is data. Matching rules that decide a class from text live in ``classify``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class FailureClass(StrEnum):
    """Ordered by priority: when several match, the earlier one wins."""

    SCOPE_POLICY = "scope_policy"
    OOM = "oom"
    TIMEOUT = "timeout"
    MODEL_ERROR = "model_error"
    CONTEXT_LIMIT = "context_limit"
    DEPENDENCY_MISSING = "dependency_missing"
    FLAKY_TEST = "flaky_test"
    VALIDATION_FAILURE = "validation_failure"
    AWAITING_INPUT = "awaiting_input"
    TOOL_FAILURE = "tool_failure"
    INFRA_TOOLING = "infra_tooling"
    UNKNOWN = "unknown"

    @property
    def slug(self) -> str:
        return self.value.replace("_", "-")

    @property
    def priority(self) -> int:
        return list(FailureClass).index(self)


class Severity(StrEnum):
    NORMAL = "normal"
    SEVERE = "severe"


class ClassInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    harness_surface: str
    acceptance_criteria: tuple[str, ...]


_COMMON_CRITERIA = (
    "Future runs cover this failure class with a reviewed harness surface or a documented no-op decision.",
)

CLASS_INFO: dict[FailureClass, ClassInfo] = {
    FailureClass.SCOPE_POLICY: ClassInfo(
        title="Scope or permission policy refusal",
        harness_surface="agent scope rules, allowed-path lists, token permissions, workflow `permissions:`",
        acceptance_criteria=(
            "The actor's allowed scope and the task's needs agree, or the task is rejected before work starts.",
            *_COMMON_CRITERIA,
        ),
    ),
    FailureClass.OOM: ClassInfo(
        title="Out of memory",
        harness_surface="runner size, test parallelism, memory limits, data fixtures",
        acceptance_criteria=("The job completes within the runner's memory with headroom.", *_COMMON_CRITERIA),
    ),
    FailureClass.TIMEOUT: ClassInfo(
        title="Deadline exceeded",
        harness_surface="step and job `timeout-minutes`, test timeouts, agent turn budgets",
        acceptance_criteria=(
            "The slow step is made faster, split, or given a justified deadline.",
            *_COMMON_CRITERIA,
        ),
    ),
    FailureClass.MODEL_ERROR: ClassInfo(
        title="Model provider error",
        harness_surface="model client retries, backoff, quota and fallback configuration",
        acceptance_criteria=(
            "Transient provider errors are retried with backoff, and quota exhaustion is reported once.",
            *_COMMON_CRITERIA,
        ),
    ),
    FailureClass.CONTEXT_LIMIT: ClassInfo(
        title="Prompt exceeds the model's context",
        harness_surface="prompt assembly, context trimming, log excerpt sizes, task decomposition",
        acceptance_criteria=("Prompts are trimmed below the model's context window.", *_COMMON_CRITERIA),
    ),
    FailureClass.DEPENDENCY_MISSING: ClassInfo(
        title="Missing dependency",
        harness_surface="lock files, setup steps, container images, tool installation",
        acceptance_criteria=(
            "The dependency is declared and installed by the project's own setup.",
            *_COMMON_CRITERIA,
        ),
    ),
    FailureClass.FLAKY_TEST: ClassInfo(
        title="Flaky test",
        harness_surface="the test, its fixtures and ordering, retries policy",
        acceptance_criteria=(
            "The test passes deterministically, or is quarantined with an owner.",
            *_COMMON_CRITERIA,
        ),
    ),
    FailureClass.VALIDATION_FAILURE: ClassInfo(
        title="Project checks failed",
        harness_surface="tests, linters, type checks, compile steps, and the agent's pre-push checks",
        acceptance_criteria=(
            "The check passes, and the agent runs it before proposing a change.",
            *_COMMON_CRITERIA,
        ),
    ),
    FailureClass.AWAITING_INPUT: ClassInfo(
        title="Agent stopped to ask a human",
        harness_surface="WORKFLOW.md, task templates, approval policies, skills",
        acceptance_criteria=(
            "Tasks carry the information the agent asked for, or the policy pre-approves the action.",
            *_COMMON_CRITERIA,
        ),
    ),
    FailureClass.TOOL_FAILURE: ClassInfo(
        title="Tool or runtime crashed",
        harness_surface="tool definitions, protocol adapters, runtime versions",
        acceptance_criteria=("The tool call succeeds or fails with a handled error.", *_COMMON_CRITERIA),
    ),
    FailureClass.INFRA_TOOLING: ClassInfo(
        title="Environment, auth or network failure",
        harness_surface="credentials, runners, network access, service health checks",
        acceptance_criteria=(
            "The environment problem is fixed or detected before the job starts.",
            *_COMMON_CRITERIA,
        ),
    ),
    FailureClass.UNKNOWN: ClassInfo(
        title="Unclassified failure",
        harness_surface="logging: the failing step should say why it failed",
        acceptance_criteria=("The failing step prints an actionable error.", *_COMMON_CRITERIA),
    ),
}

# The aiops worker classes keep their plain cluster ids for v3 compatibility.
WORKER_CLASSES: dict[str, tuple[FailureClass, str, str]] = {
    "runner-timeout": (FailureClass.TIMEOUT, "Runner timeouts", "runner timeout"),
    "input-required": (FailureClass.AWAITING_INPUT, "Input required stops", "input required"),
    "tool-unsupported": (FailureClass.TOOL_FAILURE, "Unsupported tool calls", "tool unsupported"),
    "malformed-protocol": (FailureClass.TOOL_FAILURE, "Malformed protocol output", "malformed protocol output"),
    "runner-failure": (FailureClass.UNKNOWN, "Runner failures", "runner failure"),
}

RESERVED_IDS = frozenset({"approved", "in-progress", "regressed", "systemic", "dashboard", "rolling", "alert"})
