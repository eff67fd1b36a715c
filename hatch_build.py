"""Hatchling build hook: compiles the optional native worker-log scanner (``src/trace_harness/_worker_native.c``).

Optional by design: where no C compiler or Python headers are at hand the wheel is pure Python, the build says
so, and ``report --worker-log`` runs its pure-Python scan (same reports, slower). An editable install puts the
module beside the sources (``src/trace_harness/``, git-ignored), since that is where the package is imported
from; a wheel carries it in the package.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE = Path("src/trace_harness")
MODULE = "trace_harness._worker_native"
SOURCES = ["_worker_native.c"]
HEADERS = ["_worker_heads.h"]


class NativeScannerHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        self._scratch = Path(tempfile.mkdtemp(prefix="trace-harness-native-"))
        try:
            built = compile_scanner(Path(self.root), self._scratch)
        except Exception as error:  # no compiler or headers: the pure-Python scan serves
            self.app.display_warning(f"trace-harness: native worker scanner not built ({error}); using pure Python")
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version == "editable":
            shutil.copy2(built, Path(self.root) / PACKAGE / built.name)
        else:
            build_data["force_include"][str(built)] = f"trace_harness/{built.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        shutil.rmtree(getattr(self, "_scratch", ""), ignore_errors=True)


def compile_scanner(root: Path, scratch: Path) -> Path:
    """Compile the extension with setuptools' build_ext (the platform's compiler and flags) into ``scratch``."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    package = root / PACKAGE
    extension = Extension(
        MODULE,
        [str(package / name) for name in SOURCES],
        depends=[str(package / name) for name in HEADERS],
        extra_compile_args=["-O2"],
    )
    command = build_ext(Distribution({"name": "trace-harness-native", "ext_modules": [extension]}))
    command.build_lib, command.build_temp = str(scratch / "lib"), str(scratch / "temp")
    command.ensure_finalized()
    command.run()
    return Path(command.get_ext_fullpath(MODULE))
