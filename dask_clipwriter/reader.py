"""``read_clip_dataset``: a written dataset (ours or the reference's, local or any fsspec URL)
as a lazy Dask DataFrame of clip rows, one partition per chunk::

    processed_clip_chunks/ listed once on the client ──dd.from_map(ChunkReader)──▶ partitions
        each: its chunk document, then only what the asked columns need
              (metas/v0, the chunk's embedding Parquet, clip and preview bytes)

Chunks are found through their documents, never by listing ``clips/``. What a row holds is
decided in ``dataset_rows.py``; this module fetches bytes and builds the collection. The
function given to ``from_map`` takes ``columns=``, so Dask pushes a column selection down to
it: ``df[["motion_score_global_mean"]]`` reads each chunk's document and metas, and nothing
else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dask
import fsspec
from fsspec.implementations.local import LocalFileSystem
import numpy as np
import pandas as pd

from . import layout
from .dataset_rows import (
    BYTES_COLUMNS,
    CHUNK_COLUMNS,
    ChunkContent,
    ChunkName,
    DatasetError,
    check_columns,
    chunk_rows,
    clip_file_path,
    clip_files,
    infer_caption_models,
    mixed_filters,
    parse_chunk_document,
    parse_meta,
    preview_file_path,
    read_columns,
    read_dtypes,
    read_meta,
    rows_frame,
    sorted_chunks,
)
from .manifest import ManifestError, read_manifest
from .parquet_bytes import read_parquet_bytes
from .records import video_records_frame
from .settings import EMBEDDING_ALGORITHMS

__all__ = ["DatasetError", "DatasetInfo", "dataset_info", "dataset_writer_settings", "read_clip_dataset",
           "read_video_records"]

#: Reads are batched this many files at a time (concurrent on object stores).
READ_BATCH = 1000
DEFAULT_ALGORITHM = "cosmos-embed1-224p"


@dataclass(frozen=True)
class DatasetInfo:
    """What every partition needs to know of the dataset, read once on the client."""

    root: str
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: the writer's settings from the manifest ({} for a dataset without one: the reference's)
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def caption_models(self) -> tuple[str, ...]:
        return tuple(self.settings.get("caption_models") or ())

    @property
    def enhanced_caption_models(self) -> tuple[str, ...]:
        return tuple(self.settings.get("enhanced_caption_models") or ())

    @property
    def embedding_dirs(self) -> tuple[str, str]:
        return EMBEDDING_ALGORITHMS[self.settings.get("embedding_algorithm") or DEFAULT_ALGORITHM]

    @property
    def dry_run(self) -> bool:
        return bool(self.settings.get("dry_run", False))

    def filesystem(self):
        fs, fs_root = fsspec.url_to_fs(self.root, **dict(self.storage_options))
        return fs, fs_root.rstrip("/")


def _root(path: str) -> str:
    if not isinstance(path, str) or not path.strip("/"):
        raise DatasetError(f"a dataset path must be a non-empty path or URL, got {path!r}")
    return path.rstrip("/") if "://" in path else os.path.abspath(path)


def dataset_info(path: str, storage_options: Mapping[str, Any] | None = None) -> DatasetInfo:
    """The dataset at ``path``, checked to be one (it has ``processed_clip_chunks/``), with
    the settings its manifest records. Raises DatasetError naming the path."""
    info = DatasetInfo(_root(path), dict(storage_options or {}))
    fs, fs_root = info.filesystem()
    if not fs.exists(fs_root):
        raise DatasetError(f"{info.root}: no such dataset (the path does not exist)")
    if not fs.isdir(f"{fs_root}/processed_clip_chunks"):
        raise DatasetError(f"{info.root} is not a clip dataset: it has no processed_clip_chunks/ folder")
    manifest_path = layout.manifest_path(info.root)
    try:
        data = fs.cat_file(f"{fs_root}/{layout.BOOKKEEPING_DIR}/manifest.json")
    except FileNotFoundError:
        data = None
    try:
        manifest = read_manifest(data, manifest_path)
    except ManifestError as exc:
        raise DatasetError(str(exc)) from None
    return DatasetInfo(info.root, info.storage_options, dict(manifest.settings))


def list_chunks(info: DatasetInfo) -> list[ChunkName]:
    """The dataset's chunk documents, in (video, chunk index) order: one listing."""
    fs, fs_root = info.filesystem()
    found = fs.find(f"{fs_root}/processed_clip_chunks")
    return sorted_chunks(p[len(fs_root) + 1:] for p in found)


def read_files(info: DatasetInfo, relatives: Sequence[str]) -> dict[str, bytes | None]:
    """The files at ``relatives`` (below the root), None where there is none. Other errors
    are raised with the path."""
    fs, fs_root = info.filesystem()
    if isinstance(fs, LocalFileSystem):
        # Plain reads: fsspec's open costs more than reading a meta of 1 KB (measured: 2x).
        return {r: _read_local(info, f"{fs_root}/{r}", r) for r in relatives}
    out: dict[str, bytes | None] = {}
    for start in range(0, len(relatives), READ_BATCH):
        batch = list(relatives[start:start + READ_BATCH])
        paths = [f"{fs_root}/{r}" for r in batch]
        data = fs.cat(paths, on_error="return") if len(paths) > 1 else {paths[0]: _cat_one(fs, paths[0])}
        for relative, fs_path in zip(batch, paths, strict=True):
            value = data.get(fs_path)
            if isinstance(value, FileNotFoundError) or value is None:
                out[relative] = None
            elif isinstance(value, BaseException):
                raise DatasetError(f"{info.root}/{relative}: cannot read: {value}") from value
            else:
                out[relative] = value
    return out


def _read_local(info: DatasetInfo, path: str, relative: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DatasetError(f"{info.root}/{relative}: cannot read: {exc}") from exc


def _cat_one(fs, path: str):
    try:
        return fs.cat_file(path)
    except Exception as exc:  # noqa: BLE001 - returned like fs.cat(on_error="return") does
        return exc


def read_chunk(info: DatasetInfo, name: ChunkName):
    """A chunk's document (ChunkStats); DatasetError naming it when missing or damaged."""
    data = read_files(info, [name.path])[name.path]
    if data is None:
        raise DatasetError(f"{info.root}/{name.path}: missing chunk document (listed, then gone)")
    return parse_chunk_document(data, f"{info.root}/{name.path}")


def read_metas(info: DatasetInfo, uuids: Sequence[str]) -> dict[str, tuple[bytes, dict]]:
    """{uuid: (stored bytes, document)} of the clips' metas; DatasetError naming a missing
    or damaged one."""
    paths = {u: f"metas/v0/{u}.json" for u in uuids}
    found = read_files(info, list(paths.values()))
    metas = {}
    for uuid, path in paths.items():
        if found[path] is None:
            raise DatasetError(f"{info.root}/{path}: missing clip meta (its chunk document lists it)")
        metas[uuid] = (found[path], parse_meta(found[path], f"{info.root}/{path}"))
    return metas


@dataclass(frozen=True)
class ChunkReader:
    """The ``from_map`` function: one chunk document in, its rows out. Its ``columns``
    argument (Dask's column projection) decides what is read beyond the chunk document."""

    info: DatasetInfo
    with_bytes: bool = False

    def __call__(self, name: ChunkName, columns: Sequence[str] | None = None) -> pd.DataFrame:
        columns = list(columns) if columns is not None else read_columns(self.with_bytes)
        content = self.read(name, set(columns))
        rows = chunk_rows(content, caption_models=self.info.caption_models,
                          enhanced_models=self.info.enhanced_caption_models)
        return rows_frame(rows, columns, read_dtypes(self.with_bytes))

    def read(self, name: ChunkName, wanted: set[str]) -> ChunkContent:
        info = self.info
        stats = read_chunk(info, name)
        clips = clip_files(stats)
        meta_wanted = wanted - set(CHUNK_COLUMNS) - {"embedding", *BYTES_COLUMNS, "filtered_by"}
        if "filtered_by" in wanted and mixed_filters(stats):
            meta_wanted.add("aesthetic_score")  # which filter a clip was taken by is guessed from it
        metas = self._metas(clips) if meta_wanted and not info.dry_run else None
        embeddings = self._embeddings(stats) if "embedding" in wanted else None
        clip_bytes = previews = None
        if self.with_bytes and "buffer" in wanted:
            found = read_files(info, [clip_file_path(u, f) for u, f in clips])
            clip_bytes = {u: found[clip_file_path(u, f)] for u, f in clips}
        if self.with_bytes and "windows" in wanted and metas is not None:
            keys = [(u, w["start_frame"], w["end_frame"]) for u, f in clips if not f
                    for w in metas[u].get("windows") or []]
            found = read_files(info, [preview_file_path(*k) for k in keys])
            previews = {k: found[preview_file_path(*k)] for k in keys if found[preview_file_path(*k)] is not None}
        return ChunkContent(name, stats, metas, embeddings, clip_bytes, previews)

    def _metas(self, clips: list[tuple[str, bool]]) -> dict[str, dict]:
        return {uuid: doc for uuid, (_, doc) in read_metas(self.info, [u for u, _ in clips]).items()}

    def _embeddings(self, stats) -> dict[str, np.ndarray]:
        return read_chunk_embeddings(self.info, stats.video, stats.clip_chunk_index)


def read_chunk_embeddings(info: DatasetInfo, video: str, chunk_index: int) -> dict[str, np.ndarray]:
    """{clip uuid: vector} from the chunk's embedding Parquet ({} when it has none)."""
    _, parquet_dir = info.embedding_dirs
    path = f"{parquet_dir}/{layout.chunk_uuid(video, chunk_index)}.parquet"
    data = read_files(info, [path])[path]
    if data is None:
        return {}
    try:
        table = read_parquet_bytes(data, columns=["id", "embedding"])
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise DatasetError(f"{info.root}/{path}: damaged embedding Parquet: {exc}") from None
    ids = table["id"].to_pylist()
    values = table["embedding"].combine_chunks()
    # float16 values widened to float64 in the file: float32 holds them exactly, in half the memory.
    flat = values.flatten().to_numpy().astype(np.float32)
    offsets = values.offsets.to_numpy()
    return {uuid: flat[offsets[i]:offsets[i + 1]] for i, uuid in enumerate(ids)}


def read_clip_dataset(path: str, storage_options: Mapping[str, Any] | None = None,
                      columns: Sequence[str] | None = None, with_bytes: bool = False):
    """The clips of the dataset at ``path`` as a lazy Dask DataFrame, one partition per chunk.

    Columns: every clip record column (spans, source and clip geometry, scores, ``windows``
    with captions per model, ``errors``, ``embedding`` from the chunk's Parquet), the chunk
    and video (``video``, ``clip_chunk_index``), ``filtered`` and ``filtered_by``, ``valid``,
    ``num_bytes`` and the file locations (``clip_location``, ``chunk_location``,
    ``meta_location``). ``buffer`` (the mp4 bytes) and the windows' ``webp`` are read only
    with ``with_bytes=True``. Only what the selected columns need is read: the scores alone
    read the chunk documents and metas, never a clip. Rows of a chunk: passed clips, then
    filtered ones, each in record order. Raises DatasetError for a path that is not a
    dataset or an unknown column; a damaged file is named when its partition is computed.
    """
    info = dataset_info(path, storage_options)
    wanted = check_columns(columns, with_bytes)
    meta = read_meta(with_bytes)
    chunks = list_chunks(info)
    import dask.dataframe as dd

    # Off while the collection is built: bytes, arrays and window lists must stay objects.
    with dask.config.set({"dataframe.convert-string": False}):
        if not chunks:
            return dd.from_pandas(meta[wanted], npartitions=1)
        frame = dd.from_map(ChunkReader(info, with_bytes), chunks, meta=meta, enforce_metadata=False,
                            label="read-clip-dataset")
        return frame if wanted == list(meta.columns) else frame[wanted]


def read_video_records(path: str, storage_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The dataset's video records (``processed_videos/``) as a pandas frame of video record
    columns, sorted by video: what ``ClipWriter.write`` takes to write them again."""
    info = dataset_info(path, storage_options)
    fs, fs_root = info.filesystem()
    try:
        names = sorted(p[len(fs_root) + 1:] for p in fs.find(f"{fs_root}/processed_videos") if p.endswith(".json"))
    except FileNotFoundError:
        names = []
    rows = []
    for name, data in read_files(info, names).items():
        doc = parse_video_document(data, f"{info.root}/{name}")
        rows.append({**{k: doc.get(k) for k in doc if k != "audio_format"}, "audio_codec": doc.get("audio_format")})
    frame = video_records_frame(rows)
    return frame.sort_values("video", kind="stable").reset_index(drop=True)


def parse_video_document(data: bytes | None, path: str) -> dict:
    import json

    try:
        doc = json.loads(data or b"")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: damaged video document: not JSON ({exc})") from None
    if not isinstance(doc, dict) or "video" not in doc:
        raise DatasetError(f"{path}: damaged video document: it names no video")
    return doc


def dataset_writer_settings(path: str, storage_options: Mapping[str, Any] | None = None,
                            sample_chunks: int = 8) -> dict[str, Any]:
    """The ``ClipWriter`` settings that write this dataset's files again: from its manifest,
    or, for a dataset without one (the reference's), inferred: ``input_path`` from a chunk
    document's video and path, the caption models from the windows of the metas of its
    first ``sample_chunks`` chunks."""
    info = dataset_info(path, storage_options)
    if info.settings:
        return dict(info.settings)
    chunks = list_chunks(info)
    if not chunks:
        raise DatasetError(f"{info.root} holds no chunk documents to infer its settings from")
    first = chunks[0]
    stats = read_chunk(info, first)
    if not stats.video.endswith("/" + first.rel):
        raise DatasetError(f"{info.root}/{first.path}: its video {stats.video!r} does not end with its path")
    caption_models, enhanced = sampled_caption_models(info, chunks[:sample_chunks])
    return {"input_path": stats.video[:-len(first.rel) - 1], "caption_models": caption_models,
            "enhanced_caption_models": enhanced}


def sampled_caption_models(info: DatasetInfo, chunks: Sequence[ChunkName]) -> tuple[list[str], list[str]]:
    """(caption models, enhanced-caption models) whose captions the metas of ``chunks`` hold."""
    reader = ChunkReader(info)
    metas = []
    for name in chunks:
        content = reader.read(name, {"windows"})
        metas += list((content.metas or {}).values())
    return infer_caption_models(metas)


def dataset_caption_models(info: DatasetInfo, sample_chunks: int = 8) -> tuple[list[str], list[str]]:
    """The dataset's (caption models, enhanced-caption models): its manifest's (the writer
    writes the captions of those models alone), or, for a dataset without one, those the
    metas of its first ``sample_chunks`` chunks hold."""
    if "caption_models" in info.settings:
        return list(info.caption_models), list(info.enhanced_caption_models)
    return sampled_caption_models(info, list_chunks(info)[:sample_chunks])
