"""Shared test setup: make `tests/` helpers importable and keep hypothesis deterministic in CI."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))
SHARED = Path(__file__).resolve().parents[2] / "shared"

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("ci")
