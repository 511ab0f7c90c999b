"""The baselines the writer is measured against: the very same files, written with nothing
but plain calls (no checks, no atomic rename, no bookkeeping, no Dask), from memory.

In a module of its own so that the S3 floor's task is sent to the workers by reference.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def read_tree(root: str | Path) -> list[tuple[str, bytes]]:
    """Every file below ``root`` as (path relative to root, bytes), in a stable order."""
    root = Path(root)
    files = []
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            path = Path(folder) / name
            files.append((str(path.relative_to(root)), path.read_bytes()))
    return sorted(files)


def write_local(root: str | Path, files: list[tuple[str, bytes]], threads: int = 8) -> int:
    """The local floor: ``files`` written below ``root`` by a pool of ``threads`` threads with
    plain open/write, each folder made once. Returns the bytes written."""
    root = str(root)
    for folder in sorted({os.path.dirname(rel) for rel, _ in files}):
        os.makedirs(os.path.join(root, folder), exist_ok=True)

    def put(item: tuple[str, bytes]) -> int:
        rel, data = item
        with open(os.path.join(root, rel), "wb") as fh:
            fh.write(data)
        return len(data)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(put, files, chunksize=64))


def put_objects(prefix: str, files: list[tuple[str, bytes]], storage_options: dict, threads: int) -> int:
    """The S3 floor's task: PUT ``files`` below ``prefix``, ``threads`` at a time, one PUT
    each (as the writer does below 5 GiB). Returns the bytes sent."""
    import fsspec

    fs = fsspec.filesystem("s3", **storage_options)

    def put(item: tuple[str, bytes]) -> int:
        rel, data = item
        fs.pipe_file(f"{prefix}/{rel}", data)
        return len(data)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(put, files))
