"""The small statistics row of one chunk: what each writer partition returns.

A partition returns one row per chunk it wrote or resumed, never clip bytes. Per-directory
counters and error counts travel as JSON text, so the row's dtypes are plain (text as
Python objects, int, float): Dask keeps a ``map_partitions`` meta as it is given. summary.py adds rows up; the empty
frame :func:`stats_meta` is the writers' Dask meta. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from .documents import COUNTER_KEYS, ChunkStats

#: Row columns and dtypes; the writer's ``map_partitions`` meta is built from this.
STATS_COLUMNS: dict[str, str] = {
    "video": "object",
    "clip_chunk_index": "int64",
    "partition": "int64",
    "status": "object",  # "written" or "resumed"
    **{key: "int64" for key in COUNTER_KEYS},
    "num_clips_filtered": "int64",
    "total_clip_duration": "float64",
    "max_clip_duration": "float64",
    "clip_uuids": "object",  # newline-separated, for the cross-partition duplicate check
    "errors": "object",  # JSON {error key: clip count}
    "missing": "object",  # JSON {what: count}
    "files_written": "object",  # JSON {directory: files}
    "bytes_written": "object",  # JSON {directory: bytes}
    "files_skipped": "object",  # JSON {directory: files}
    "bytes": "object",  # JSON {directory: bytes of the chunk's files}, written or skipped alike
    "filtered": "object",  # JSON {reason: filtered clips} (filter_reasons.py)
    "started": "float64",
    "finished": "float64",
}


def stats_meta() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dt) for name, dt in STATS_COLUMNS.items()})


def stats_row(
    stats: ChunkStats,
    *,
    partition: int,
    status: str,
    errors: Counter,
    missing: Counter,
    files_written: Counter,
    bytes_written: Counter,
    files_skipped: Counter,
    chunk_bytes: Counter,
    started: float,
    finished: float,
    filtered: Counter | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "video": stats.video,
        "clip_chunk_index": stats.clip_chunk_index,
        "partition": partition,
        "status": status,
    }
    row.update({key: getattr(stats, key) for key in COUNTER_KEYS})
    row.update(
        num_clips_filtered=len(stats.filtered_clips),
        total_clip_duration=stats.total_clip_duration,
        max_clip_duration=stats.max_clip_duration,
        clip_uuids="\n".join(stats.clips + stats.filtered_clips),
        errors=json.dumps(dict(errors)),
        missing=json.dumps(dict(missing)),
        files_written=json.dumps(dict(files_written)),
        bytes_written=json.dumps(dict(bytes_written)),
        files_skipped=json.dumps(dict(files_skipped)),
        bytes=json.dumps(dict(chunk_bytes)),
        filtered=json.dumps(dict(filtered or {})),
        started=started,
        finished=finished,
    )
    return row


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    # From numpy arrays, column by column: every writer partition builds one of these, and
    # typed pandas Series cost ~2 ms per frame under pandas 3 (numpy arrays: ~0.4 ms).
    columns = {}
    for name, dtype in STATS_COLUMNS.items():
        values = np.empty(len(rows), dtype=dtype)
        values[:] = [row[name] for row in rows]
        columns[name] = values
    return pd.DataFrame(columns, copy=False)


