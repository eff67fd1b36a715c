"""One canonical spelling of a failing test's id, whichever tool printed it.

The same failure reaches us in several spellings: pytest's console prints the node id
(``tests/test_api.py::TestCart::test_count[1]``), its JUnit XML the dotted module as classname
(``tests.test_api.TestCart`` + ``test_count[1]``, read as ``classname::name``), vitest prints
``src/a.test.ts > Suite > case`` where its JUnit has ``src/a.test.ts`` + ``Suite > case``, jest prints
``describe › case`` where jest-junit writes ``describe case`` as both classname and name, and
go-junit-report puts the import path (never printed beside ``--- FAIL:``) in the classname.

Canonical form: parametrize ids dropped, the pytest ``.py`` suffix dropped, every separator
(``/``, ``\\``, ``::``, `` > ``) written as ``.``, jest's `` › `` as a space (jest-junit's default
ancestor separator), a trailing ``()`` (JUnit 5 method names) dropped.
"""

from __future__ import annotations

import re

# pytest parametrize ids: `test_x[1-2]`, `test_x[a[0]]` (one level of nesting).
PARAM_ID_RE = re.compile(r"(\btest\w*)\[(?:[^\[\]]|\[[^\[\]]*\])*\]")
_SOURCE_FILE_RE = re.compile(r"\.(?:py|[cm]?[jt]sx?|rb|java|kt|go|rs|cs|swift|php)$")
_GO_TEST_RE = re.compile(r"^(?:Test|Benchmark|Example|Fuzz)(?![a-z])")
_PY_MODULE_RE = re.compile(r"\.py(?=::|$)")
_SEPARATOR_RE = re.compile(r"\s+>\s+|::|[/\\]")


def canonical_test_id(test_id: str) -> str:
    """The tool-independent spelling of ``test_id`` (see the module docstring)."""
    text = _drop_redundant_owner(PARAM_ID_RE.sub(r"\1", test_id.strip()))
    text = _PY_MODULE_RE.sub("", text.replace(" › ", " "))
    return _SEPARATOR_RE.sub(".", text).removesuffix("()")


def _drop_redundant_owner(test_id: str) -> str:
    """`classname::name` where the classname is a repeat (jest-junit) or a Go import path: the name."""
    owner, separator, name = test_id.partition("::")
    if not separator:
        return test_id
    # jest-junit writes "describe case" as both; `test_a::test_a` (module test_a) is a real pytest id.
    if (owner == name and " " in name) or _is_go_package(owner, name):
        return name
    return test_id


def _is_go_package(owner: str, name: str) -> bool:
    # An import path has slashes but is no source file; the console `--- FAIL:` line never prints it.
    return "/" in owner and not _SOURCE_FILE_RE.search(owner) and bool(_GO_TEST_RE.match(name))
