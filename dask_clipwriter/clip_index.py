"""The writer's optional per-chunk outputs [ours], off by default (the reference layout stays
byte for byte the same):

* ``metas_jsonl/v0/<video uuid>_<chunk index>.jsonl``: the metas of a chunk's passed clips,
  one compact JSON line each, in the layout the Cosmos converters read
  (``<video uuid>`` = ``uuid5(NAMESPACE_URL, video)``): one file per chunk, not per clip;
* ``clip_index/<chunk uuid>.parquet``: one row of scalar metas per clip of the chunk (passed
  and filtered), queryable with Dask or DuckDB without opening a JSON file.

Both are made from the clip meta documents alone, so the writer (from the documents it is
writing) and ``backfill.py`` (from the documents a dataset holds) give the same bytes. Pure:
documents in, bytes out.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .probe import PROBE_KEYS

#: The clip index's columns, pinned: a chunk whose clips all lack a value still gets its type.
CLIP_INDEX_SCHEMA = pa.schema([
    ("span_uuid", pa.string()),
    ("video", pa.string()),
    ("clip_chunk_index", pa.int64()),
    ("filtered", pa.bool_()),
    ("source_video", pa.string()),
    ("span_start", pa.float64()),
    ("span_end", pa.float64()),
    ("width_source", pa.int64()),
    ("height_source", pa.int64()),
    ("framerate_source", pa.float64()),
    ("clip_location", pa.string()),
    ("width", pa.int64()),
    ("height", pa.int64()),
    ("framerate", pa.float64()),
    ("num_frames", pa.int64()),
    ("video_codec", pa.string()),
    ("num_bytes", pa.int64()),
    ("motion_score_global_mean", pa.float64()),
    ("motion_score_per_patch_min_256", pa.float64()),
    ("aesthetic_score", pa.float64()),
    ("errors", pa.list_(pa.string())),
    ("num_windows", pa.int64()),
    ("valid", pa.bool_()),
])
CLIP_INDEX_COLUMNS = tuple(CLIP_INDEX_SCHEMA.names)


def clip_index_row(doc: Mapping[str, Any], *, video: str, chunk_index: int, filtered: bool) -> dict[str, Any]:
    """One clip's row: the scalar keys of its meta document."""
    motion = doc.get("motion_score") or {}
    start, end = doc["duration_span"]
    row = {"span_uuid": doc["span_uuid"], "video": video, "clip_chunk_index": chunk_index, "filtered": filtered,
           "source_video": doc.get("source_video"), "span_start": start, "span_end": end,
           "width_source": doc.get("width_source"), "height_source": doc.get("height_source"),
           "framerate_source": doc.get("framerate_source"), "clip_location": doc.get("clip_location"),
           "num_bytes": doc.get("num_bytes"), "motion_score_global_mean": motion.get("global_mean"),
           "motion_score_per_patch_min_256": motion.get("per_patch_min_256"),
           "aesthetic_score": doc.get("aesthetic_score"), "errors": list(doc.get("errors") or []),
           "num_windows": len(doc.get("windows") or []), "valid": doc.get("valid")}
    row.update((key, doc.get(key)) for key in PROBE_KEYS)
    return row


def clip_index_bytes(video: str, chunk_index: int, metas: Sequence[tuple[Mapping[str, Any], bool]]) -> bytes:
    """A chunk's clip index part from its (meta document, filtered) pairs: passed clips, then
    filtered ones, each in record order (the chunk document's order, the one a dataset read
    back has: the writer and backfill give the same bytes)."""
    ordered = [m for m in metas if not m[1]] + [m for m in metas if m[1]]
    rows = [clip_index_row(doc, video=video, chunk_index=chunk_index, filtered=filtered) for doc, filtered in ordered]
    table = pa.Table.from_pylist(rows, schema=CLIP_INDEX_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def metas_jsonl_bytes(metas: Sequence[tuple[Mapping[str, Any], bool]]) -> bytes:
    """A chunk's passed clips' metas, one compact JSON line each (ASCII, as the metas are)."""
    return b"".join(json.dumps(doc).encode("ascii") + b"\n" for doc, filtered in metas if not filtered)
