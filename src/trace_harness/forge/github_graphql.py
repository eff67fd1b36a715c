"""The one GraphQL read the state branch makes per run: named blobs and whole folders of a branch.

Pure functions: the query text (paths travel as variables, never spliced into the query) and the parsing
of its answer. ``GitHubForge.read_snapshot`` sends it through the counted request funnel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ForgeError, ForgeNotFound
from ..redact import mask

_BLOB = "... on Blob { text oid byteSize isTruncated }"
_TREE = "... on Tree { entries { name type oid object { ... on Blob { text byteSize isTruncated } } } }"
FolderBlobs = dict[str, tuple[bytes | None, str]]  # path -> (text when GraphQL gave it whole, blob sha)


def snapshot_query(files: int, folders: int) -> str:
    """Aliased ``object(expression:)`` lookups: ``f<i>`` for the named files, ``t<j>`` for the folders."""
    names = [*(f"e{i}" for i in range(files)), *(f"t{j}" for j in range(folders))]
    declared = "".join(f", ${name}: String!" for name in names)
    blobs = [f"f{i}: object(expression: $e{i}) {{ {_BLOB} }}" for i in range(files)]
    trees = [f"t{j}: object(expression: $t{j}) {{ {_TREE} }}" for j in range(folders)]
    lookup = f"repository(owner: $owner, name: $name) {{ {' '.join(blobs + trees)} }}"
    return f"query($owner: String!, $name: String!{declared}) {{ {lookup} }}"


def snapshot_variables(repo: str, branch: str, files: Sequence[str], folders: Sequence[str]) -> dict[str, str]:
    owner, name = repo.split("/", 1)
    named = {f"e{i}": f"{branch}:{path}" for i, path in enumerate(files)}
    return {"owner": owner, "name": name, **named, **{f"t{j}": f"{branch}:{path}" for j, path in enumerate(folders)}}


def graphql_rate_limited(data: Any) -> bool:
    """Whether a GraphQL answer (HTTP 200) is a primary rate limit, which its headers time."""
    errors = data.get("errors") if isinstance(data, dict) else None
    return isinstance(errors, list) and any(isinstance(e, dict) and e.get("type") == "RATE_LIMITED" for e in errors)


def graphql_repository(data: Any) -> dict[str, Any]:
    """The ``repository`` object; GraphQL reports failures as ``errors`` inside a 200."""
    errors = data.get("errors") if isinstance(data, dict) else None
    repository = (data.get("data") or {}).get("repository") if isinstance(data, dict) else None
    if errors and any(isinstance(e, dict) and e.get("type") == "NOT_FOUND" for e in errors):
        raise ForgeNotFound(mask(f"GraphQL: {errors[0].get('message', 'not found')}"))
    if errors or not isinstance(repository, dict):
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        raise ForgeError(mask(f"GraphQL: {first.get('message', 'no repository in the answer')}"))
    return repository


def folder_blobs(folder: str, tree: Any) -> FolderBlobs:
    """The blobs directly in ``folder``; a missing folder (or a file of that name) has none."""
    entries = tree.get("entries") if isinstance(tree, dict) else None
    blobs: FolderBlobs = {}
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("type") == "blob" and entry.get("name") and entry.get("oid"):
            blobs[f"{folder}/{entry['name']}"] = (_whole_text(entry.get("object")), str(entry["oid"]))
    return blobs


def split_folders(
    listed: dict[str, FolderBlobs],
) -> tuple[dict[str, tuple[bytes, str] | None], dict[str, dict[str, str]]]:
    """The folder blobs that came whole (path -> text, sha), and every folder's listing (path -> sha)."""
    whole: dict[str, tuple[bytes, str] | None] = {}
    for blobs in listed.values():
        whole.update({path: (text, sha) for path, (text, sha) in blobs.items() if text is not None})
    return whole, {folder: {path: sha for path, (_text, sha) in blobs.items()} for folder, blobs in listed.items()}


def _whole_text(blob: Any) -> bytes | None:
    if not isinstance(blob, dict) or blob.get("isTruncated") or blob.get("text") is None:
        return None  # truncated or binary: read through the Contents API when wanted
    return str(blob["text"]).encode()
