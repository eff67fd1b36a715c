"""The request/reply vocabulary shared by the fake GitHub's route modules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

API = "https://api.github.com"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    json: Any
    headers: dict[str, str]


@dataclass
class Req:
    """One decoded request as a route handler sees it."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class Reply:
    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


Handler = Callable[[re.Match[str], Req], Reply]


def not_found(message: str = "Not Found") -> Reply:
    return Reply(404, {"message": message, "documentation_url": "https://docs.github.com/rest"})


def invalid(field_name: str, code: str, message: str = "") -> Reply:
    error = {"resource": "Issue", "field": field_name, "code": code, "message": message}
    return Reply(422, {"message": "Validation Failed", "errors": [error]})
