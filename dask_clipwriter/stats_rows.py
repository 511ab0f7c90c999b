"""The small statistics row of one chunk: what each writer partition returns.

A partition returns one row per chunk it wrote or resumed, never clip bytes. Per-directory
counters and error counts travel as JSON text, so the row's dtypes are plain (str, int,
float) and survive Dask's string conversion unchanged. summary.py adds rows up; the empty
frame :func:`stats_meta` is the writers' Dask meta. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pandas as pd

from .documents import COUNTER_KEYS, ChunkStats

#: Row columns and dtypes; the writer's ``map_partitions`` meta is built from this.
STATS_COLUMNS: dict[str, str] = {
    "video": "str",
    "clip_chunk_index": "int64",
    "partition": "int64",
    "status": "str",  # "written" or "resumed"
    **{key: "int64" for key in COUNTER_KEYS},
    "num_clips_filtered": "int64",
    "total_clip_duration": "float64",
    "max_clip_duration": "float64",
    "clip_uuids": "str",  # newline-separated, for the cross-partition duplicate check
    "errors": "str",  # JSON {error key: clip count}
    "missing": "str",  # JSON {what: count}
    "files_written": "str",  # JSON {directory: files}
    "bytes_written": "str",  # JSON {directory: bytes}
    "files_skipped": "str",  # JSON {directory: files}
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
    started: float,
    finished: float,
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
        started=started,
        finished=finished,
    )
    return row


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    # Column by column: a whole-frame astype costs ~15 ms per partition under pandas 3.
    return pd.DataFrame({name: pd.Series([row[name] for row in rows], dtype=dtype)
                         for name, dtype in STATS_COLUMNS.items()})


