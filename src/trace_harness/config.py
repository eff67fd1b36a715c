"""The one configuration model, loaded from `.github/trace-harness.yml` (every key optional).

Built from a mapping, never from ``os.environ``: the CLI resolves environment fallbacks and passes
them in. Every problem in a file is reported at once through one ``ConfigError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic.json_schema import GenerateJsonSchema

from .errors import ConfigError
from .taxonomy import FailureClass

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Accept `90s`, `15m`, `1h`, `7d`, `2w`, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"not a duration: {value!r} (must not be negative)")
        return timedelta(seconds=value)
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30m, 1h, 7d)")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def format_duration(value: timedelta) -> str | float:
    """The inverse of ``parse_duration``: the largest whole unit (`7d`, `90m`), else seconds."""
    seconds = value.total_seconds()
    if seconds != int(seconds):
        return seconds
    unit = next(u for u in "dhms" if int(seconds) % _UNIT_SECONDS[u] == 0)
    return f"{int(seconds) // _UNIT_SECONDS[unit]}{unit}"


# Editors validate against this, so it must accept exactly what ``parse_duration`` accepts.
_DURATION_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": _DURATION_RE.pattern},
        {"type": "number", "minimum": 0},
    ],
    "description": "A duration: `90s`, `15m`, `1h`, `7d`, `2w`, or a number of seconds.",
}

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, when_used="json"),  # JSON dumps load back through parse_duration
    WithJsonSchema(_DURATION_JSON_SCHEMA, mode="validation"),
]


class Mode(StrEnum):
    NOTIFY_ONLY = "notify-only"
    ISSUE = "issue"
    DRAFT_PR = "draft-pr"


class Permission(StrEnum):
    NONE = "none"
    READ = "read"
    TRIAGE = "triage"
    WRITE = "write"
    MAINTAIN = "maintain"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Permission).index(self)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Recurrence(Section):
    min_occurrences: int = Field(2, ge=1)
    severe_classes: tuple[FailureClass, ...] = (FailureClass.SCOPE_POLICY,)


class Systemic(Section):
    min_jobs: int = Field(10, ge=2)
    within: Duration = timedelta(hours=1)


class Labels(Section):
    namespace: str = Field("trace-harness", pattern=r"^[A-Za-z0-9._-]{1,13}$")


class Redaction(Section):
    extra_patterns: tuple[str, ...] = ()
    allow_raw_excerpts_in_public: bool = False

    @field_validator("extra_patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        return patterns


class ClassRule(Section):
    """A config-supplied classification rule: a regex over the root-cause line, mapped to a class."""

    pattern: str
    failure_class: FailureClass
    severe: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        return pattern


class ActionsEvidence(Section):
    workflows: tuple[str, ...] = ("ci.yml",)
    artifacts: tuple[str, ...] = ("worker-logs*",)


class Evidence(Section):
    paths: tuple[str, ...] = ("logs/**/*.log",)
    events: dict[str, FailureClass | None] = Field(
        default_factory=lambda: {
            "quota_event": FailureClass.MODEL_ERROR,
            "credential_invalid": FailureClass.INFRA_TOOLING,
            "watch_error": FailureClass.INFRA_TOOLING,
            "self_healing_repeated_block": None,
            "executor_quality_warning": None,
            "scope_violation": FailureClass.SCOPE_POLICY,
        }
    )
    actions: ActionsEvidence = ActionsEvidence()
    rules: tuple[ClassRule, ...] = ()


class State(Section):
    branch: str = "trace-harness/state"


class Approvers(Section):
    min_permission: Permission = Permission.WRITE
    allow_bots: tuple[str, ...] = ()


class FollowThrough(Section):
    """The workflow that drafts a fix PR for an approved cluster (dispatched at once in `draft-pr` mode)."""

    workflow: str = Field("trace-harness-fix.yml", pattern=r"^[A-Za-z0-9._-]+\.ya?ml$")
    ref: str = "main"


class Config(Section):
    enabled: bool = True
    repo: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    mode: Mode = Mode.ISSUE
    window: Duration = timedelta(days=7)
    recurrence: Recurrence = Recurrence()
    max_new_issues_per_run: int = Field(5, ge=0)
    systemic: Systemic = Systemic()
    regression_grace: Duration = timedelta(days=2)
    durable_after: Duration = timedelta(days=14)
    cooldown: Duration = timedelta(days=1)
    mute: tuple[str, ...] = ()
    labels: Labels = Labels()
    redaction: Redaction = Redaction()
    worker_log_tz: str = "UTC"
    evidence: Evidence = Evidence()
    templates: Path | None = None
    state: State = State()
    approvers: Approvers = Approvers()
    follow_through: FollowThrough = FollowThrough()
    public_repo: bool | None = None  # None: ask the forge; bodies omit raw excerpts when public

    @field_validator("mute")
    @classmethod
    def _mute_compiles(cls, entries: tuple[str, ...]) -> tuple[str, ...]:
        for entry in entries:
            try:
                re.compile(entry)
            except re.error as exc:
                raise ValueError(f"bad mute regex {entry!r}: {exc}") from None
        return entries


def config_from_mapping(data: Mapping[str, Any] | None, source: str = "config") -> Config:
    """Validate a mapping into a Config, raising one ConfigError that lists every problem."""
    try:
        return Config.model_validate(dict(data or {}))
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()], source) from None


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key"
    return f"{where}: {error['msg']}"


def load_config(path: Path | None) -> Config:
    """Load a YAML config file; a missing file means the defaults."""
    if path is None or not path.exists():
        return Config()
    from ruamel.yaml import YAML  # imported only when a file exists: it costs ~0.1 s of every CLI start
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError([f"not valid YAML: {exc}".splitlines()[0]], str(path)) from None
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(["the top level must be a mapping of keys"], str(path))
    return config_from_mapping(data, str(path))


class _SchemaGenerator(GenerateJsonSchema):
    def encode_default(self, dft: Any) -> Any:
        """Durations as the config spells them (`7d`), not ISO 8601, which the loader refuses."""
        return format_duration(dft) if isinstance(dft, timedelta) else super().encode_default(dft)


JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config, for editors."""
    schema = Config.model_json_schema(mode="validation", schema_generator=_SchemaGenerator)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        **schema,
        "title": "trace-harness configuration (.github/trace-harness.yml)",
        "description": "Every key is optional; a missing file means the defaults.",
    }


def json_schema_text() -> str:
    """The schema exactly as committed in ``docs/trace-harness.schema.json``."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
