"""Byte-compile what the benchmarked CLI imports, so a run measures the tool as installed, not a cold compile.

An environment with ``PYTHONDONTWRITEBYTECODE`` set (some CI images) otherwise recompiles ~200 modules from
source in every process: ~0.4 s of each CLI run on this machine. Installing with ``uv sync --compile-bytecode``
(the Makefile does) covers site-packages; the editable ``src/`` is compiled here.
"""

from __future__ import annotations

import compileall
import sysconfig
from pathlib import Path

import trace_harness


def compile_imports() -> None:
    """Write the .pyc files of our package and of site-packages (a no-op where they are current)."""
    for folder in (Path(trace_harness.__file__).parent, Path(sysconfig.get_paths()["purelib"])):
        compileall.compile_dir(folder, quiet=1, workers=0)
