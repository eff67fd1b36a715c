"""The Forge implementations the contract test runs against, each with hooks to seed and inspect its state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from trace_harness.config import Permission
from trace_harness.forge.base import Forge
from trace_harness.forge.github import GitHubForge
from trace_harness.forge.local import LocalForge
from trace_harness.testing.clock import FakeClock
from trace_harness.testing.fake_github import FakeGitHub


@dataclass
class Backend:
    forge: Forge
    clock: FakeClock
    labels: Callable[[], dict[str, tuple[str, str]]]
    grant: Callable[[str, Permission], None]
    dispatches: Callable[[], list[tuple[str, str, dict[str, str]]]]


@contextmanager
def local_backend(tmp_path: Path, clock: FakeClock) -> Iterator[Backend]:
    with LocalForge(tmp_path / "forge.sqlite", clock=clock, local_user="me") as forge:
        yield Backend(
            forge=forge,
            clock=clock,
            labels=lambda: {s.name: (s.color, s.description) for s in forge.labels()},
            grant=forge.set_permission,
            dispatches=forge.dispatches,
        )


BACKENDS: list[Callable[[Path, FakeClock], AbstractContextManager[Backend]]] = [local_backend]


@contextmanager
def github_backend(tmp_path: Path, clock: FakeClock) -> Iterator[Backend]:
    with FakeGitHub("octo/demo", clock=clock) as fake:
        forge = GitHubForge("octo/demo", "test-token", clock=clock, sleep=clock.sleep)

        def grant(user: str, permission: Permission) -> None:
            fake.roles[user] = permission.value

        yield Backend(
            forge=forge,
            clock=clock,
            labels=lambda: {name: (v["color"], v["description"]) for name, v in fake.labels.items()},
            grant=grant,
            dispatches=lambda: fake.dispatches,
        )


BACKENDS.append(github_backend)
