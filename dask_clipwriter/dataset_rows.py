"""A written dataset read back as clip rows: one chunk document and its clips' metas in,
plain Python rows out (the columns of :func:`read_columns`). Pure: no filesystem, no Dask;
``reader.py`` fetches the bytes and builds the collection.

The rows are clip records the writer takes (clip-records.md), so a dataset read back with
its bytes is written again byte for byte; a few columns only a reader needs are added
(:data:`EXTRA_COLUMNS`). What the layout does not hold is rebuilt from what it does:

* record order: a chunk document lists passed clips, then filtered ones, each in record
  order; that is all the writer's documents depend on, so rows come in that order;
* ``filtered_by``: no file names the filter of one clip, the chunk document counts them
  (:func:`filtered_reasons` rebuilds an assignment that keeps the counts);
* captions per model: a window's ``<model>_caption`` / ``<model>_enhanced_caption`` keys
  (:func:`window_record`), resolved with the dataset's model lists when its manifest has them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import layout
from .documents import ChunkStats, read_chunk_document
from .probe import PROBE_KEYS
from .records import CLIP_COLUMNS, clip_records_meta

#: Columns a reader adds to the clip record columns.
EXTRA_COLUMNS: dict[str, str] = {
    "filtered": "bool",  # the clip is in its chunk's filtered_clips
    "valid": "object",  # the meta's ``valid`` (None without a meta: a dry run)
    "num_bytes": "float64",  # the meta's ``num_bytes`` (an integer with gaps)
    "clip_location": "object",  # the meta's ``clip_location``, as the writer wrote it
    "chunk_location": "object",  # path of the chunk document, below the dataset root
    "meta_location": "object",  # path of the clip's meta, below the dataset root
}
#: Columns known from the chunk document alone: asking for these alone reads no meta.
CHUNK_COLUMNS = ("video", "clip_chunk_index", "span_uuid", "filtered", "chunk_location", "meta_location")
#: What the clip bytes and preview bytes are read for.
BYTES_COLUMNS = ("buffer",)
ENHANCED_SUFFIX, CAPTION_SUFFIX = "_enhanced_caption", "_caption"
#: The name given to a filtered clip whose filter the chunk's counters do not name.
UNNAMED_FILTER = "other"


class DatasetError(ValueError):
    """A dataset that cannot be read as asked; the message names the path, column or value."""


def read_columns(with_bytes: bool) -> list[str]:
    """Every column of a dataset read back, in order: the record columns (without ``buffer``
    unless the bytes are read), then :data:`EXTRA_COLUMNS`."""
    return [c for c in CLIP_COLUMNS if with_bytes or c != "buffer"] + list(EXTRA_COLUMNS)


def read_meta(with_bytes: bool) -> pd.DataFrame:
    """The empty frame of :func:`read_columns`, with the writer's dtypes for record columns."""
    meta = clip_records_meta(EXTRA_COLUMNS)
    return meta[read_columns(with_bytes)]


@functools.lru_cache(maxsize=2)
def read_dtypes(with_bytes: bool) -> dict[str, Any]:
    """:func:`read_meta`'s dtypes, made once per process: building the empty frame costs
    more than reading a chunk's metas (measured: 15 of 24 ms for 32 clips)."""
    return read_meta(with_bytes).dtypes.to_dict()


def check_columns(columns: Sequence[str] | None, with_bytes: bool) -> list[str]:
    """The columns asked for, in the order asked; an unknown one is refused by name."""
    known = read_columns(with_bytes)
    if columns is None:
        return known
    if isinstance(columns, str):
        columns = [columns]
    for name in columns:
        if name not in known:
            hint = " (clip bytes are read only with with_bytes=True)" if name == "buffer" else ""
            raise DatasetError(f"unknown column {name!r}{hint}; the columns are: {', '.join(known)}")
    return list(dict.fromkeys(columns))


# --------------------------------------------------------------------------------------
# Chunk documents


@dataclass(frozen=True)
class ChunkName:
    """A chunk document's path below ``processed_clip_chunks/``: ``<rel>_<index>.json``."""

    rel: str
    index: int

    @property
    def path(self) -> str:
        return f"processed_clip_chunks/{self.rel}_{self.index}.json"


def chunk_name(relative: str) -> ChunkName | None:
    """The chunk a path below the dataset root names, or None for any other file."""
    if not relative.startswith("processed_clip_chunks/") or not relative.endswith(".json"):
        return None
    stem = relative[len("processed_clip_chunks/"):-len(".json")]
    rel, sep, index = stem.rpartition("_")
    if not sep or not rel or not index.isdigit():
        return None
    return ChunkName(rel, int(index))


def sorted_chunks(relatives: Iterable[str]) -> list[ChunkName]:
    """The chunk documents among ``relatives``, by video path then chunk index (numbers as
    numbers: chunk 10 after chunk 9)."""
    names = (chunk_name(r) for r in relatives)
    return sorted((n for n in names if n is not None), key=lambda n: (n.rel, n.index))


def parse_chunk_document(data: bytes, path: str) -> ChunkStats:
    try:
        return read_chunk_document(data)
    except ValueError as exc:
        raise DatasetError(f"{path}: damaged chunk document: {exc}") from None


def filtered_reasons(stats: ChunkStats, aesthetic_scores: Sequence[float | None] | None = None) -> list[str]:
    """A filter name for each filtered clip of a chunk that keeps its document's counters.

    One filter named by the counters is every clip's. A chunk of both kinds cannot say which
    clip was which: clips with an aesthetic score are taken as the aesthetic filter's (the
    motion filter runs first, so its clips were never scored), then the rest in order. The
    chunk documents written again are the same either way, since they hold only the counts.
    """
    n = len(stats.filtered_clips)
    motion, aesthetic = stats.num_clips_filtered_by_motion, stats.num_clips_filtered_by_aesthetic
    reasons = [UNNAMED_FILTER] * n
    if not aesthetic:
        return ["motion"] * motion + [UNNAMED_FILTER] * (n - motion)
    if not motion:
        return ["aesthetic"] * aesthetic + [UNNAMED_FILTER] * (n - aesthetic)
    scores = list(aesthetic_scores or [None] * n)
    order = sorted(range(n), key=lambda i: scores[i] is None)  # scored clips first, stable
    for i in order[:aesthetic]:
        reasons[i] = "aesthetic"
    for i in [i for i in range(n) if reasons[i] == UNNAMED_FILTER][:motion]:
        reasons[i] = "motion"
    return reasons


def mixed_filters(stats: ChunkStats) -> bool:
    return bool(stats.num_clips_filtered_by_motion and stats.num_clips_filtered_by_aesthetic)


# --------------------------------------------------------------------------------------
# Metas


def parse_meta(data: bytes, path: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: damaged clip meta: not JSON ({exc})") from None
    if not isinstance(doc, dict) or "span_uuid" not in doc or "duration_span" not in doc:
        raise DatasetError(f"{path}: damaged clip meta: not a clip meta document")
    return doc


def split_caption_key(key: str, caption_models: Sequence[str], enhanced_models: Sequence[str]) -> tuple[str, bool] | None:
    """(model, enhanced) of a window key, or None for a key that is no caption. The dataset's
    model lists decide where they know the key; otherwise the suffix does."""
    for model in caption_models:
        if key == f"{model}{CAPTION_SUFFIX}":
            return model, False
    for model in enhanced_models:
        if key == f"{model}{ENHANCED_SUFFIX}":
            return model, True
    if key.endswith(ENHANCED_SUFFIX) and len(key) > len(ENHANCED_SUFFIX):
        return key[:-len(ENHANCED_SUFFIX)], True
    if key.endswith(CAPTION_SUFFIX) and len(key) > len(CAPTION_SUFFIX):
        return key[:-len(CAPTION_SUFFIX)], False
    return None


def window_record(entry: Mapping[str, Any], caption_models: Sequence[str] = (),
                  enhanced_models: Sequence[str] = ()) -> dict[str, Any]:
    """A meta's window object as a record's window struct (captions per model, no webp)."""
    window: dict[str, Any] = {"start_frame": entry["start_frame"], "end_frame": entry["end_frame"],
                              "caption": {}, "enhanced_caption": {}, "webp": None}
    for key, text in entry.items():
        found = split_caption_key(key, caption_models, enhanced_models)
        if found is not None:
            model, enhanced = found
            window["enhanced_caption" if enhanced else "caption"][model] = text
    return window


def meta_values(doc: Mapping[str, Any], caption_models: Sequence[str] = (),
                enhanced_models: Sequence[str] = ()) -> dict[str, Any]:
    """The record columns one clip meta holds."""
    start, end = doc["duration_span"]
    motion = doc.get("motion_score") or {}
    values: dict[str, Any] = {
        "span_start": start,
        "span_end": end,
        "source_video": doc.get("source_video"),
        "width_source": doc.get("width_source"),
        "height_source": doc.get("height_source"),
        "framerate_source": doc.get("framerate_source"),
        "clip_location": doc.get("clip_location"),
        "num_bytes": doc.get("num_bytes"),
        "motion_score_global_mean": motion.get("global_mean"),
        "motion_score_per_patch_min_256": motion.get("per_patch_min_256"),
        "aesthetic_score": doc.get("aesthetic_score"),
        "errors": list(doc.get("errors") or []),
        "windows": [window_record(w, caption_models, enhanced_models) for w in doc.get("windows") or []],
        "valid": doc.get("valid"),
    }
    values.update((key, doc.get(key)) for key in PROBE_KEYS)
    return values


def infer_caption_models(metas: Iterable[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """Caption and enhanced-caption model names in the order the metas' windows give them
    (a window lists its models in the writer's priority order)."""
    plain: dict[str, None] = {}
    enhanced: dict[str, None] = {}
    for doc in metas:
        for window in doc.get("windows") or []:
            for key in window:
                found = split_caption_key(key, (), ())
                if found is not None:
                    (enhanced if found[1] else plain)[found[0]] = None
    return list(plain), list(enhanced)


# --------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True)
class ChunkContent:
    """What was read of one chunk: its document and whatever of its clips was asked for."""

    name: ChunkName
    stats: ChunkStats
    metas: Mapping[str, Mapping[str, Any]] | None = None  # uuid -> meta document
    embeddings: Mapping[str, np.ndarray] | None = None  # uuid -> vector
    clip_bytes: Mapping[str, bytes | None] | None = None  # uuid -> mp4 bytes
    previews: Mapping[tuple[str, int, int], bytes] | None = None  # (uuid, start, end) -> webp


def clip_files(stats: ChunkStats) -> list[tuple[str, bool]]:
    """(uuid, filtered) of a chunk's clips in row order: passed, then filtered."""
    return [(u, False) for u in stats.clips] + [(u, True) for u in stats.filtered_clips]


def chunk_rows(content: ChunkContent, *, caption_models: Sequence[str] = (),
               enhanced_models: Sequence[str] = ()) -> list[dict[str, Any]]:
    """One row per clip of the chunk (columns of :func:`read_columns`; those not read are None)."""
    stats = content.stats
    clips = clip_files(stats)
    metas = content.metas or {}
    parsed = {u: meta_values(metas[u], caption_models, enhanced_models) for u, _ in clips if u in metas}
    filtered = [u for u, f in clips if f]
    reasons = dict(zip(filtered, filtered_reasons(
        stats, [parsed.get(u, {}).get("aesthetic_score") for u in filtered]), strict=True))
    rows = []
    for uuid, is_filtered in clips:
        row: dict[str, Any] = {
            "video": stats.video,
            "clip_chunk_index": stats.clip_chunk_index,
            "span_uuid": uuid,
            "filtered_by": reasons.get(uuid),
            "filtered": is_filtered,
            "chunk_location": content.name.path,
            "meta_location": f"metas/v0/{uuid}.json",
        }
        row.update(parsed.get(uuid, {}))
        if content.embeddings is not None:
            row["embedding"] = content.embeddings.get(uuid)
        if content.clip_bytes is not None:
            row["buffer"] = content.clip_bytes.get(uuid)
        if content.previews is not None:
            for window in row.get("windows") or []:
                window["webp"] = content.previews.get((uuid, window["start_frame"], window["end_frame"]))
        rows.append(row)
    return rows


def clip_file_path(uuid: str, filtered: bool) -> str:
    """The clip's mp4 below the dataset root (its meta's clip_location may name another root)."""
    return layout.clip_path("", uuid, filtered=filtered).lstrip("/")


def preview_file_path(uuid: str, start: int, end: int) -> str:
    return layout.preview_path("", uuid, start, end).lstrip("/")


def rows_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], dtypes: Mapping[str, Any]) -> pd.DataFrame:
    """Rows as a frame of ``columns`` with these ``dtypes``. Object cells are placed one by
    one: pandas would otherwise turn text into its string dtype, or stack equal-length
    arrays into a 2-D block."""
    data = {}
    for name in columns:
        dtype = dtypes[name]
        values = [row.get(name) for row in rows]
        if dtype == object:
            data[name] = pd.Series(_placed(values), dtype=object)
        elif dtype == bool:
            data[name] = pd.Series([bool(v) for v in values], dtype=bool)
        else:
            data[name] = pd.Series([np.nan if v is None else v for v in values], dtype=dtype)
    return pd.DataFrame(data, columns=list(columns))


def _placed(values: list) -> np.ndarray:
    cells = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        cells[i] = value
    return cells
