"""Reading what ``report.html`` needs from a dataset (local or any fsspec URL), frugally.

Nothing is listed: every path comes from the layout's rules and the documents already read,
so a dataset of a billion files costs the same few reads as a small one. What is read:

1. ``summary.json`` (the totals, and the first 10,000 videos) and ``.clipwriter/manifest.json``;
2. at most ``max_index_parts`` parts of the dataset index (``.clipwriter/index/``), spread
   over its buckets: the chunks to sample, ``max_chunks`` of them evenly;
3. those chunks' ``processed_clip_chunks`` documents: their passed and filtered clips;
4. at most ``max_metas`` clip metas (``metas/v0``) of those clips, taken across the chunks;
5. at most ``max_previews`` previews (``previews/``): the first window of passed clips of
   different videos.

Small files are read in batches, concurrently on object stores (``fs.cat`` of many paths).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import fsspec

from . import layout
from .documents import read_chunk_document
from .index import KEY
from .manifest import read_manifest
from .options import check_options, option
from .parquet_bytes import read_parquet_bytes
from .report_figures import Preview
from .settings import SettingsError

BATCH = 2000


class ReportError(ValueError):
    """A dataset the report cannot be made of; the message names the path."""


@dataclass(frozen=True)
class ReportSettings:
    """How much of a dataset the report reads (its cost does not grow with the dataset)."""

    max_chunks: int = option(200, "chunks whose clips are sampled (from the dataset index)", minimum=1,
                             maximum=100_000)
    max_metas: int = option(2000, "clip metas read for the histograms", minimum=1, maximum=1_000_000)
    max_previews: int = option(12, "previews in the strip", minimum=0, maximum=200)
    max_index_parts: int = option(4, "parts of the dataset index read to choose the chunks", minimum=1,
                                  maximum=4096)

    def __post_init__(self) -> None:
        problems = check_options(self)
        if problems:
            raise SettingsError("; ".join(problems))


@dataclass
class DatasetSample:
    summary: dict[str, Any]
    metas: list[dict[str, Any]]
    previews: list[Preview]
    chunks_total: int = 0
    chunks_read: int = 0
    reads: int = 0

    def describe(self) -> str:
        return (f"histograms from {len(self.metas):,} clip metas of {self.chunks_read:,} of "
                f"{self.chunks_total:,} chunks; {len(self.previews)} previews; {self.reads:,} files read")


def cat_many(fs, paths: Iterable[str], batch: int = BATCH) -> dict[str, bytes]:
    """The bytes of each of ``paths`` that could be read (missing ones are left out), read
    ``batch`` at a time (concurrently where the filesystem can)."""
    paths = list(paths)
    out: dict[str, bytes] = {}
    for start in range(0, len(paths), batch):
        chunk = paths[start:start + batch]
        data = fs.cat(chunk, on_error="return")
        for path in chunk:
            value = data.get(path)
            if isinstance(value, bytes):
                out[path] = value
    return out


def spread(items: list, n: int) -> list:
    """``n`` of ``items`` evenly spaced (all of them when there are fewer), order kept."""
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


class _Reader:
    def __init__(self, output_path: str, storage_options: Mapping[str, Any] | None):
        self.root = output_path.rstrip("/")
        self.fs, fs_root = fsspec.url_to_fs(self.root, **dict(storage_options or {}))
        self.fs_root = fs_root.rstrip("/")
        self.reads = 0

    def _fs_path(self, path: str) -> str:
        return self.fs_root + path[len(self.root):]

    def read_many(self, paths: list[str]) -> dict[str, bytes]:
        """{dataset path: bytes} of those of ``paths`` that exist."""
        self.reads += len(paths)
        found = cat_many(self.fs, [self._fs_path(p) for p in paths])
        return {p: found[self._fs_path(p)] for p in paths if self._fs_path(p) in found}


def _json(data: bytes | None, path: str) -> Any:
    try:
        return json.loads(data) if data is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(f"{path} does not parse as JSON ({exc})") from None


def read_sample(output_path: str, storage_options: Mapping[str, Any] | None = None,
                settings: ReportSettings | None = None) -> DatasetSample:
    """summary.json and a bounded sample of the dataset's metas and previews (see above)."""
    settings = settings or ReportSettings()
    reader = _Reader(output_path, storage_options)
    summary_file, manifest_file = layout.summary_path(output_path), layout.manifest_path(output_path)
    first = reader.read_many([summary_file, manifest_file])
    summary = _json(first.get(summary_file), summary_file)
    if not isinstance(summary, dict):
        raise ReportError(f"no summary.json at {summary_file}: not a dataset, or its first run has not finished "
                          "(run it again with --resume)")
    manifest = read_manifest(first.get(manifest_file), manifest_file)
    input_path = (summary.get("settings") or {}).get("input_path") or ""
    chunks, total = _sample_chunks(reader, output_path, manifest.index_buckets, settings)
    markers = _chunk_clips(reader, output_path, input_path, chunks)
    metas = _metas(reader, output_path, markers, settings.max_metas)
    previews = _previews(reader, output_path, metas, settings.max_previews)
    return DatasetSample(summary=summary, metas=[m for _, m in metas], previews=previews,
                         chunks_total=int(summary.get("totals", {}).get("chunks", total)), chunks_read=len(markers),
                         reads=reader.reads)


def _sample_chunks(reader: _Reader, output_path: str, buckets: int, settings: ReportSettings):
    """(video, chunk index) of up to max_chunks chunks from a few index parts, and the rows seen."""
    parts = [layout.index_part_path(output_path, "chunks", buckets, b)
             for b in spread(list(range(buckets)), settings.max_index_parts)] if buckets else []
    rows = []
    for path, data in sorted(reader.read_many(parts).items()):
        try:
            table = read_parquet_bytes(data, columns=KEY).to_pandas()
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a damaged part
            raise ReportError(f"cannot read the dataset index part {path}: {exc}") from None
        rows += list(zip(table["video"].tolist(), table["clip_chunk_index"].astype(int).tolist(), strict=True))
    return spread(sorted(rows), settings.max_chunks), len(rows)


def _chunk_clips(reader: _Reader, output_path: str, input_path: str, chunks) -> list[tuple[list[str], list[str]]]:
    """(passed, filtered) clip uuids of each sampled chunk whose document could be read."""
    paths = {}
    for video, index in chunks:
        try:
            paths[layout.chunk_json_path(output_path, layout.relative_video_path(video, input_path), index)] = (
                video, index)
        except layout.LayoutError:
            continue
    found = reader.read_many(list(paths))
    out = []
    for path, data in found.items():
        try:
            stats = read_chunk_document(data, *paths[path])
        except ValueError:
            continue  # verify names damaged documents; the report samples the others
        out.append((list(stats.clips), list(stats.filtered_clips)))
    return out


def _metas(reader: _Reader, output_path: str, markers, limit: int) -> list[tuple[bool, dict]]:
    """(passed, meta) of up to ``limit`` clips, taken in turn from each chunk."""
    queues = [[(True, c) for c in passed] + [(False, c) for c in filtered] for passed, filtered in markers]
    chosen: list[tuple[bool, str]] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(q) for q in queues):
        chosen += [q[depth] for q in queues if depth < len(q)][:limit - len(chosen)]
        depth += 1
    paths = {layout.meta_path(output_path, clip): passed for passed, clip in chosen}
    found = reader.read_many(list(paths))
    metas = []
    for path, data in found.items():
        try:
            meta = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(meta, dict):
            metas.append((paths[path], meta))
    return metas


def _previews(reader: _Reader, output_path: str, metas, limit: int) -> list[Preview]:
    """The first window's preview of passed clips, one video at a time, up to ``limit``."""
    picked, videos = [], set()
    for second_round in (False, True):
        for passed, meta in metas:
            windows = meta.get("windows") or []
            taken = {m["span_uuid"] for m in picked}
            if len(picked) >= limit or not passed or not windows or meta["span_uuid"] in taken:
                continue
            if second_round or meta.get("source_video") not in videos:
                picked.append(meta)
                videos.add(meta.get("source_video"))
    paths = {layout.preview_path(output_path, m["span_uuid"], m["windows"][0]["start_frame"],
                                 m["windows"][0]["end_frame"]): m for m in picked}
    found = reader.read_many(list(paths)) if paths else {}
    return [Preview(clip=m["span_uuid"], video=str(m.get("source_video", "")),
                    span=tuple(m.get("duration_span") or (0.0, 0.0)), data=found[path])
            for path, m in paths.items() if path in found]


__all__ = ["DatasetSample", "ReportError", "ReportSettings", "cat_many", "read_sample"]
