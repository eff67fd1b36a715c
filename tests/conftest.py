"""Shared test setup: make `tests/` helpers importable and keep hypothesis deterministic in CI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))
# The real sample data lives beside the checkout (`../shared`); tests that read it skip when it is absent.
SHARED = Path(os.environ.get("TRACE_HARNESS_SHARED", Path(__file__).resolve().parents[2] / "shared"))

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("ci")
