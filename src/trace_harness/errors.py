"""The error tree. Every error trace-harness raises on purpose derives from one base::

    TraceHarnessError
    ├── UsageError            bad flags, a missing or wrong-kind input file      -> exit 2
    │   ├── ConfigError       the config file is invalid (lists every problem)   -> exit 2
    │   └── InputFormatError  a file is not what the flag says (wrong schema)    -> exit 2
    ├── BoundsError           a body or artifact cannot be fitted in its bound   -> exit 1
    ├── ForgeError            the forge failed after retries                     -> exit 1
    │   ├── ForgeAuthError    401/403 that is not a rate limit
    │   ├── ForgeNotFound     404 on something that must exist
    │   ├── ForgeConflict     409/422 on a write (e.g. a stale sha)
    │   └── ForgeOutcomeUnknown  a create/comment failed ambiguously; re-list and adopt, never resend
    └── StateError            the state store failed                             -> exit 1
        └── StateConflict     a sha-checked write lost a race; re-read and merge

Bad *evidence* is never an exception: readers count it as an EvidenceProblem in the report.
Every message is redacted before it is shown (see ``cli``).
"""

from __future__ import annotations


class TraceHarnessError(Exception):
    """Root of every error trace-harness raises on purpose."""

    exit_code = 1


class UsageError(TraceHarnessError):
    exit_code = 2


class ConfigError(UsageError):
    """Invalid configuration. ``problems`` holds every problem found, not just the first."""

    def __init__(self, problems: list[str], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n{lines}")


class InputFormatError(UsageError):
    """An input file is not of the kind its flag promises (e.g. a report given as a manifest)."""


class BoundsError(TraceHarnessError):
    pass


class ForgeError(TraceHarnessError):
    pass


class ForgeAuthError(ForgeError):
    pass


class ForgeNotFound(ForgeError):
    pass


class ForgeConflict(ForgeError):
    pass


class ForgeOutcomeUnknown(ForgeError):
    """A non-idempotent write (create, comment) may have been applied although its response was lost."""


class StateError(TraceHarnessError):
    pass


class StateConflict(StateError):
    pass
