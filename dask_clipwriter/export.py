"""``export_webdataset``: a dataset's clips as WebDataset tar shards, written in parallel::

    read_clip_dataset (key columns) ──map_partitions(plan_partition)──▶ one size per sample
        (metas, embeddings and clip sizes checked; no clip read)      │  on the client:
                                                  plan_shards ◀───────┘  shards of a size
        write_shard × shards (one task each): read, tar, one atomic put ──▶ DEST/shard-*.tar
        then DEST/index.parquet (clip → shard) and, last, DEST/index.json

What a sample holds and the tar bytes are decided in ``shards.py``. Every problem of the
dataset (a missing or damaged meta, a clip file missing or of another size than its meta
says) is found by the planning pass, before the first shard is written; so is an export with
nothing to write (every clip filtered, an empty selection): refused, DEST untouched. A clip
larger than the shard size gets a shard of its own, larger than the size, and a warning
names it: a trainer reads a shard of any size, and refusing would leave no way to export
the clip but a larger size for every shard. ``index.json`` is removed first and written
last: its presence means every shard it lists is complete.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import dask
import pandas as pd

from .dataset_rows import DatasetError, clip_file_path
from .reader import (
    DatasetInfo,
    dataset_caption_models,
    dataset_info,
    read_chunk_embeddings,
    read_clip_dataset,
    read_files,
    read_metas,
)
from .shards import (
    INDEX_JSON,
    INDEX_PARQUET,
    SHARD_NAME,
    ShardRecord,
    index_document,
    parse_size,
    plan_shards,
    sample_members,
    sample_size,
    shard_record,
    tar_bytes,
)
from .layout import BOOKKEEPING_DIR
from .sink import TEMPORARY_DIR, FileSink

FORMATS = ("webdataset",)
#: The columns of the clip rows the export needs (a selection passed in must have them).
KEY_COLUMNS = ["span_uuid", "video", "clip_chunk_index", "chunk_location", "filtered"]
NO_CLIP_BYTES = "no clip bytes"
#: Oversized shards named in the warning, at most.
WARN_SHARDS = 5

log = logging.getLogger(__name__)


class ExportError(ValueError):
    """An export that cannot be made as asked; the message names the path or value."""


def _plan_meta() -> pd.DataFrame:
    return pd.DataFrame({"span_uuid": pd.Series([], dtype=object), "video": pd.Series([], dtype=object),
                         "clip_chunk_index": pd.Series([], dtype="int64"),
                         "chunk_location": pd.Series([], dtype=object), "filtered": pd.Series([], dtype=bool),
                         "sample_bytes": pd.Series([], dtype="int64"), "skipped": pd.Series([], dtype=object)})


def _chunk_samples(info: DatasetInfo, rows: pd.DataFrame, *, with_clips: bool):
    """For the rows of one chunk: (row, meta bytes, meta, embedding, mp4 bytes or size).
    A clip without bytes (no ``num_bytes``) gets None for its mp4."""
    first = rows.iloc[0]
    metas = read_metas(info, rows["span_uuid"].tolist())
    embeddings = read_chunk_embeddings(info, first["video"], int(first["clip_chunk_index"]))
    out = []
    for row in rows.itertuples(index=False):
        meta_bytes, meta = metas[row.span_uuid]
        out.append([row, meta_bytes, meta, embeddings.get(row.span_uuid), meta.get("num_bytes") is not None])
    clip_paths = [clip_file_path(s[0].span_uuid, bool(s[0].filtered)) for s in out if s[4]]
    found = _clip_sizes(info, clip_paths) if not with_clips else read_files(info, clip_paths)
    for sample in out:
        if not sample[4]:
            sample[4] = None
            continue
        path = clip_file_path(sample[0].span_uuid, bool(sample[0].filtered))
        value = found.get(path)
        size = value if isinstance(value, int) or value is None else len(value)
        if size is None:
            raise DatasetError(f"{info.root}/{path}: missing clip file (its meta says {sample[2]['num_bytes']} bytes)")
        if size != sample[2]["num_bytes"]:
            raise DatasetError(f"{info.root}/{path}: has {size} bytes, its meta says {sample[2]['num_bytes']}")
        sample[4] = value
    return out


def _clip_sizes(info: DatasetInfo, paths: list[str]) -> dict[str, int | None]:
    fs, fs_root = info.filesystem()
    sizes = {}
    for path in paths:
        try:
            sizes[path] = fs.size(f"{fs_root}/{path}")
        except FileNotFoundError:
            sizes[path] = None
    return sizes


def plan_partition(df: pd.DataFrame, info: DatasetInfo, models: tuple[str, ...] | None) -> pd.DataFrame:
    """One size per sample of a partition (rows of read_clip_dataset), every file it needs
    checked: metas parsed, clip files there and of their meta's size. No clip is read."""
    out = []
    for _, rows in df.groupby("chunk_location", sort=False):
        for row, meta_bytes, meta, embedding, mp4 in _chunk_samples(info, rows, with_clips=False):
            skipped = NO_CLIP_BYTES if mp4 is None else None
            size = 0 if mp4 is None else sample_size(sample_members(
                row.span_uuid, meta_bytes, meta, embedding, mp4=mp4, models=models,
                caption_models=info.caption_models, enhanced_models=info.enhanced_caption_models))
            out.append({**row._asdict(), "sample_bytes": size, "skipped": skipped})
    meta = _plan_meta()
    return pd.DataFrame(out, columns=meta.columns).astype(meta.dtypes.to_dict()) if out else meta


def write_shard(samples: pd.DataFrame, info: DatasetInfo, models: tuple[str, ...] | None, dest: str,
                dest_options: Mapping[str, Any], name: str) -> ShardRecord:
    """Read one shard's clips, build its tar bytes and put them in one atomic write."""
    members = []
    for _, rows in samples.groupby("chunk_location", sort=False):
        for row, meta_bytes, meta, embedding, mp4 in _chunk_samples(info, rows, with_clips=True):
            members += sample_members(row.span_uuid, meta_bytes, meta, embedding, mp4=mp4, models=models,
                                      caption_models=info.caption_models,
                                      enhanced_models=info.enhanced_caption_models)
    data = tar_bytes(members)
    FileSink(dest, storage_options=dest_options).put(f"{dest}/{name}", data, existing="overwrite")
    return shard_record(name, samples["span_uuid"].tolist(), data)


def _dest_root(dest: str) -> str:
    if not isinstance(dest, str) or not dest.strip("/"):
        raise ExportError(f"the export destination must be a non-empty path or URL, got {dest!r}")
    return dest.rstrip("/") if "://" in dest else os.path.abspath(dest)


def _check_dataset(info: DatasetInfo, dest: str) -> None:
    if dest == info.root or dest.startswith(info.root + "/"):
        raise ExportError(f"the export destination {dest} is inside the dataset {info.root}: choose a folder "
                          "outside it")
    if info.settings and (info.dry_run or not info.settings.get("upload_clips", True)):
        raise ExportError(f"{info.root} holds no clip files to export: it was written with "
                          f"{'dry_run' if info.dry_run else 'upload_clips=False'}")


def _check_caption_models(info: DatasetInfo, models: Sequence[str] | None) -> None:
    """Every model asked for is one whose captions the dataset holds."""
    if models is None:
        return
    plain, enhanced = dataset_caption_models(info)
    unknown = [m for m in models if m not in plain and m not in enhanced]
    if unknown:
        has = ", ".join([*plain, *(f"{m} (enhanced)" for m in enhanced)]) or "none"
        where = "" if "caption_models" in info.settings else " (found in the metas of its first chunks)"
        raise ExportError(f"{info.root} has no captions of the caption model(s) {', '.join(map(repr, unknown))}: "
                          f"its caption models are {has}{where}")


def check_export(path: str, dest: str, storage_options: Mapping[str, Any] | None, shard_size: str | int,
                 caption_models: Sequence[str] | None = None):
    """(dataset, destination root, shard size in bytes) of an export that can be made: the
    checks made before any work starts (the command makes them before a cluster starts)."""
    limit = parse_size(shard_size)
    info = dataset_info(path, storage_options)
    dest = _dest_root(dest)
    _check_dataset(info, dest)
    _check_caption_models(info, caption_models)
    return info, dest, limit


def _nothing_to_export(info: DatasetInfo, selected, plan: pd.DataFrame, selection: bool) -> str:
    """Why an export has no sample to write (on this rare path the clips are counted again)."""
    what = "the selection of clips" if selection else info.root
    if len(plan):
        return (f"nothing to export from {what}: none of the {len(plan)} clips to export has clip bytes "
                "(their metas give no num_bytes)")
    total = len(selected)  # none planned: every clip is filtered (and they were left out), or none is there
    if not total:
        return f"nothing to export: {what} holds no clips"
    return (f"nothing to export from {what}: all {total} of its clips are filtered "
            "(--include-filtered, or include_filtered=True, exports them)")


def _warn_oversized(records: Sequence[ShardRecord], limit: int) -> None:
    """A warning naming the shards over the size: each is one clip larger than it."""
    over = [r for r in records if r.bytes > limit]
    if not over:
        return
    named = ", ".join(f"{r.name} (clip {r.first}, {r.bytes} bytes)" for r in over[:WARN_SHARDS])
    more = f" and {len(over) - WARN_SHARDS} more" if len(over) > WARN_SHARDS else ""
    log.warning("%d shard(s) larger than the shard size of %d bytes, each a single clip larger than that: %s%s",
                len(over), limit, named, more)


def export_webdataset(path: str, dest: str, *, storage_options: Mapping[str, Any] | None = None,
                      dest_storage_options: Mapping[str, Any] | None = None, shard_size: str | int = "1GB",
                      include_filtered: bool = False, caption_models: Sequence[str] | None = None,
                      clips=None) -> dict[str, Any]:
    """Write the dataset at ``path`` as WebDataset shards under ``dest`` (local or URL) and
    return the shard index (``index.json``'s content).

    Passed clips only, unless ``include_filtered``. ``caption_models``: whose captions
    become ``.txt`` members (None: every model found; a model the dataset has no captions
    of is refused). ``clips``: a selection of ``read_clip_dataset(path)``'s rows (any filter)
    to export instead of the whole dataset. A clip larger than ``shard_size`` gets a shard of
    its own (larger than the size; a warning names it). Runs on the current Dask client if
    there is one. Raises ExportError or DatasetError naming the value or path before
    anything is written: also when there is no clip to export."""
    models = None if caption_models is None else tuple(caption_models)
    info, dest, limit = check_export(path, dest, storage_options, shard_size, models)
    selected = read_clip_dataset(path, storage_options, columns=KEY_COLUMNS) if clips is None else clips
    missing = [c for c in KEY_COLUMNS if c not in selected.columns]
    if missing:
        raise ExportError(f"the clips to export lack the column(s) {missing}: pass rows of read_clip_dataset")
    frame = selected if include_filtered else selected[~selected["filtered"]]
    plan = frame[KEY_COLUMNS].map_partitions(plan_partition, info, models, meta=_plan_meta()).compute()
    skipped = Counter(plan["skipped"].dropna())
    kept = plan[plan["skipped"].isna()].reset_index(drop=True)
    if kept.empty:  # refused before DEST is touched
        raise ExportError(_nothing_to_export(info, selected, plan, clips is not None))
    ranges = plan_shards(kept["sample_bytes"].tolist(), limit)
    names = [SHARD_NAME.format(i) for i in range(len(ranges))]

    dest_options = dict(dest_storage_options or {})
    sink = FileSink(dest, storage_options=dest_options, existing="overwrite")
    old = _old_shards(sink, dest)
    sink.remove(f"{dest}/{INDEX_JSON}")  # from here on, DEST holds no complete export until the end
    sink.clear_temporary()
    tasks = [dask.delayed(write_shard, pure=False)(kept.iloc[r.start:r.stop], info, models, dest, dest_options, name)
             for r, name in zip(ranges, names, strict=True)]
    records = list(dask.compute(*tasks))
    _warn_oversized(records, limit)
    for stale in sorted(set(old) - set(names)):
        sink.remove(f"{dest}/{stale}")
    sink.put(f"{dest}/{INDEX_PARQUET}", _sample_index(kept, ranges, names), existing="overwrite")
    document = index_document(records, dataset=info.root, shard_limit=limit, skipped=skipped)
    sink.put(f"{dest}/{INDEX_JSON}", json.dumps(document, indent=2).encode(), existing="overwrite")
    _remove_empty_temporary(sink, dest)
    return document


def _remove_empty_temporary(sink: FileSink, dest: str) -> None:
    """The sink's temporary folder (local only), once empty: DEST keeps only the export."""
    if not sink.local:
        return
    for folder in (TEMPORARY_DIR, BOOKKEEPING_DIR):
        try:
            os.rmdir(os.path.join(dest, folder))
        except OSError:
            return  # not empty (a user's file, another run's), or not there


def _old_shards(sink: FileSink, dest: str) -> list[str]:
    """The shards an earlier export into ``dest`` listed (removed if this one has fewer)."""
    data = sink.read_if_exists(f"{dest}/{INDEX_JSON}")
    try:
        return [s["name"] for s in json.loads(data)["shards"]] if data else []
    except (ValueError, KeyError, TypeError):
        return []


def _sample_index(kept: pd.DataFrame, ranges: Sequence[range], names: Sequence[str]) -> bytes:
    """``index.parquet``: one row per exported clip, its shard and position there."""
    shard = [""] * len(kept)
    position = [0] * len(kept)
    for r, name in zip(ranges, names, strict=True):
        for i, p in enumerate(r):
            shard[p], position[p] = name, i
    table = pd.DataFrame({
        "span_uuid": pd.Series(kept["span_uuid"].tolist(), dtype="str"),
        "shard": pd.Series(shard, dtype="str"),
        "position": pd.Series(position, dtype="int64"),
        "video": pd.Series(kept["video"].tolist(), dtype="str"),
        "clip_chunk_index": kept["clip_chunk_index"].astype("int64"),
        "filtered": kept["filtered"].astype(bool),
        "sample_bytes": kept["sample_bytes"].astype("int64"),
    })
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    return buf.getvalue()
