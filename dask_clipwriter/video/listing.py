"""Listing the source videos under ``input_path`` (a local folder or any fsspec URL).

The returned strings are the ``video`` values of the records, so they must start with
``input_path`` exactly as the user wrote it: the writer derives ``<rel>`` (the names under
``processed_videos/``) by removing that prefix, and the clip uuids are made from the string.
fsspec hands back paths without protocol and (for local files) made absolute; we therefore
take only the part below the listed root from fsspec and glue it to ``input_path`` ourselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_VIDEO_EXTENSIONS = ("mp4", "mov", "mkv", "avi", "webm")


def _normalised_extensions(extensions: Iterable[str]) -> tuple[str, ...]:
    out = tuple("." + ext.lower().lstrip(".") for ext in extensions)
    if not out:
        raise ValueError("extensions is empty: no file could ever be listed")
    return out


def list_videos(
    input_path: str | os.PathLike,
    extensions: Iterable[str] = DEFAULT_VIDEO_EXTENSIONS,
    limit: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    skipped: list[tuple[str, str]] | None = None,
) -> list[str]:
    """Video files below ``input_path`` (recursively), sorted, at most ``limit`` of them.

    Extensions match case-insensitively (``a.MP4`` is a video). Only regular files are
    videos: a FIFO or a broken link named like one would hang or fail the job; such names
    are appended to ``skipped`` (when given) as (path, reason). ``input_path`` may also name
    one file. Raises FileNotFoundError when ``input_path`` does not exist.
    """
    import fsspec

    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    wanted = _normalised_extensions(extensions)
    spelled = os.fspath(input_path)
    fs, root = fsspec.core.url_to_fs(spelled, **dict(storage_options or {}))
    root = root.rstrip("/") or "/"
    if not fs.exists(root):
        raise FileNotFoundError(f"input_path {spelled!r} does not exist")

    if fs.isfile(root):
        found = [spelled] if spelled.lower().endswith(wanted) else []
    else:
        prefix = spelled.rstrip("/") + "/"
        found = []
        for path, info in fs.find(root, detail=True).items():
            relative = _below(root, path)
            if relative is None or not relative.lower().endswith(wanted):
                continue
            if info.get("type") == "file":
                found.append(prefix + relative)
            elif skipped is not None and info.get("type") != "directory":
                reason = "a broken symbolic link" if info.get("islink") else "not a regular file"
                skipped.append((prefix + relative, reason))
    found.sort()
    return found if limit is None else found[:limit]


def _below(root: str, path: str) -> str | None:
    """``path`` relative to ``root`` (both as fsspec gives them), or None if not below it."""
    base = root if root.endswith("/") else root + "/"
    if not path.startswith(base):
        return None
    return path[len(base):]
