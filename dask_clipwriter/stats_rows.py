"""The small statistics row of one chunk: what each writer partition returns.

A partition returns one row per chunk it wrote or resumed, never clip bytes. Per-directory
counters and error counts travel as JSON text, so the row's dtypes are plain (text as
Python objects, int, float). summary.py adds rows up. Pure: no I/O.

Between the writers and the reduction the rows travel packed (:func:`pack_rows`): a frame of
two columns, the chunk's video (by which the rows are grouped into buckets) and the whole row
as one pickled tuple. Dask sizes, stores and moves every partition's result; for a frame of
thirty columns that cost more than writing a small chunk's files (measured: sizing alone was
17% of a worker's time). The reduction unpacks a bucket's rows at once
(:func:`unpack_rows`); :func:`packed_meta` is the writers' Dask meta.
"""

from __future__ import annotations

import json
import pickle
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


def packed_meta() -> pd.DataFrame:
    return pack_rows([])


def row_values(row: dict[str, Any]) -> tuple:
    """A row's values in column order (as the progress events carry them too)."""
    return tuple(row[name] for name in STATS_COLUMNS)


_PACKED_COLUMNS = pd.Index(["video", "row"], dtype=object)


def pack_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    cells = np.empty((len(rows), 2), dtype=object)
    for i, row in enumerate(rows):
        cells[i, 0] = row["video"]
        cells[i, 1] = pickle.dumps(row_values(row), protocol=pickle.HIGHEST_PROTOCOL)
    # One 2-D object block: a frame from a dict of columns cost three times as much.
    return pd.DataFrame(cells, columns=_PACKED_COLUMNS, copy=False)


def unpack_rows(packed: pd.DataFrame) -> pd.DataFrame:
    """The stats rows of a packed frame, as a frame of :data:`STATS_COLUMNS`."""
    return frame_of_values([pickle.loads(data) for data in packed["row"]])


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
    return frame_of_values([row_values(row) for row in rows])


def frame_of_values(rows: list[tuple]) -> pd.DataFrame:
    """Rows given as tuples in column order, as a frame of :data:`STATS_COLUMNS`."""
    # From numpy arrays, column by column: typed pandas Series cost several times as much.
    columns = {}
    for position, (name, dtype) in enumerate(STATS_COLUMNS.items()):
        values = np.empty(len(rows), dtype=dtype)
        values[:] = [row[position] for row in rows]
        columns[name] = values
    return pd.DataFrame(columns, copy=False)


