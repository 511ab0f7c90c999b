"""The writer's optional outputs (``clip_index/``, ``metas_jsonl/v0/``) built afterwards for a
dataset that was written without them, ours or the reference's: one task per chunk reads its
chunk document and metas and writes the same bytes the writer would have written
(``clip_index.py`` makes them from the meta documents in both cases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask

from . import layout
from .clip_index import clip_index_bytes, metas_jsonl_bytes
from .dataset_rows import ChunkName, DatasetError, clip_files
from .reader import DatasetInfo, dataset_info, list_chunks, read_chunk, read_metas
from .sink import FileSink


def chunk_outputs(info: DatasetInfo, name: ChunkName, *, clip_index: bool, metas_jsonl: bool) -> list[tuple[str, bytes]]:
    """The optional files of one chunk, as (path, bytes)."""
    stats = read_chunk(info, name)
    clips = clip_files(stats)
    if not clips:
        return []
    docs = read_metas(info, [u for u, _ in clips])
    metas = [(docs[uuid][1], filtered) for uuid, filtered in clips]
    files = []
    if metas_jsonl and stats.clips:
        files.append((layout.metas_jsonl_path(info.root, stats.video, stats.clip_chunk_index), metas_jsonl_bytes(metas)))
    if clip_index:
        chunk_id = layout.chunk_uuid(stats.video, stats.clip_chunk_index)
        files.append((layout.clip_index_path(info.root, chunk_id),
                      clip_index_bytes(stats.video, stats.clip_chunk_index, metas)))
    return files


def _backfill_chunk(info: DatasetInfo, name: ChunkName, clip_index: bool, metas_jsonl: bool) -> int:
    files = chunk_outputs(info, name, clip_index=clip_index, metas_jsonl=metas_jsonl)
    # "update": a file that already holds these bytes is left alone, a stale one replaced.
    counts = FileSink(info.root, storage_options=info.storage_options).put_many(files, existing="update")
    return sum(counts.files_written.values())


def backfill(path: str, storage_options: Mapping[str, Any] | None = None, *, clip_index: bool = True,
             metas_jsonl: bool = False) -> int:
    """Write ``clip_index/`` and/or ``metas_jsonl/v0/`` for every chunk of the dataset at
    ``path``, on the current Dask client if there is one; returns how many files were written."""
    if not (clip_index or metas_jsonl):
        raise DatasetError("nothing to build: ask for the clip index, the JSONL metas, or both")
    info = dataset_info(path, storage_options)
    tasks = [dask.delayed(_backfill_chunk, pure=False)(info, name, clip_index, metas_jsonl)
             for name in list_chunks(info)]
    return int(sum(dask.compute(*tasks))) if tasks else 0


def read_clip_index(path: str, storage_options: Mapping[str, Any] | None = None, columns=None):
    """The clip index as a Dask DataFrame (pyarrow dtypes), one partition per chunk file."""
    import dask.dataframe as dd

    info = dataset_info(path, storage_options)
    fs, fs_root = info.filesystem()
    if not fs.isdir(f"{fs_root}/{layout.CLIP_INDEX_DIR}"):
        raise DatasetError(f"{info.root} has no {layout.CLIP_INDEX_DIR}/: write it with clip_index=True, or build "
                           "it with `dask-clipwriter backfill`")
    return dd.read_parquet(f"{info.root}/{layout.CLIP_INDEX_DIR}", storage_options=dict(info.storage_options),
                           columns=columns, dtype_backend="pyarrow")


__all__ = ["backfill", "chunk_outputs", "read_clip_index"]
