"""trace-harness: turn recurring CI and agent failures into deduplicated, human-gated tracking issues."""

__version__ = "0.1.0"
