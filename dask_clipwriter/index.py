"""The dataset index [ours]: what the dataset holds, kept beside the reference's layout.

Two tables, each split into buckets of videos (``bucket_of``), one Parquet file per bucket
under ``.clipwriter/index/`` (layout.py):

* ``chunks``: one row per chunk in the dataset, its counters (the stats row of the run that
  last wrote or resumed it, without that run's own file counts);
* ``videos``: one row per video record the dataset was given (video-level values, errors).

A run merges its own rows into the buckets it touches and re-adds every bucket, so
``processed_videos/`` and ``summary.json`` describe the whole dataset after every run, not
just the last one, without reading a single chunk JSON of an earlier run. Pure: tables and
bytes in, tables and bytes out.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict

import pandas as pd

from .parquet_bytes import read_parquet_bytes
from .records import VideoRecord, video_records_frame
from .stats_rows import STATS_COLUMNS

#: The chunk table's columns: a stats row without the run's own bookkeeping.
CHUNK_COLUMNS: dict[str, str] = {
    name: dtype for name, dtype in STATS_COLUMNS.items()
    if name not in ("partition", "status", "clip_uuids", "files_written", "bytes_written", "files_skipped", "started")
}
KEY = ["video", "clip_chunk_index"]
#: About this many rows per bucket: a task that holds a bucket's rows stays small.
ROWS_PER_BUCKET = 10_000
#: Many small partitions (one chunk each) are joined this many at a time before their rows
#: are moved into buckets: far fewer, larger pieces for the shuffle to move.
COMPACT_EVERY = 100


def bucket_of(video: str, buckets: int) -> int:
    """The bucket of a video among ``buckets`` (a power of two): the same on every machine,
    and a video in bucket b of B is in bucket b % B' of any B' dividing B."""
    return zlib.crc32(video.encode("utf-8", "surrogatepass")) % buckets


def buckets_of(videos: Iterable[str], buckets: int) -> list[int]:
    return [bucket_of(v, buckets) for v in videos]


def with_bucket(df: pd.DataFrame, buckets: int, column: str = "video") -> pd.DataFrame:
    """``df`` with a ``bucket`` column: the bucket of each row's ``column`` value."""
    return df.assign(bucket=pd.Series(buckets_of(df[column], buckets), index=df.index, dtype="int64"))


def bucket_count(chunks: int, existing: int, rows_per_bucket: int | None = None) -> int:
    """Buckets for a run of ``chunks`` chunks into a dataset indexed with ``existing``
    buckets (0: none yet): a power of two, never fewer than before, about
    ``rows_per_bucket`` of the run's chunks per bucket."""
    count, rows_per_bucket = max(existing, 1), rows_per_bucket or ROWS_PER_BUCKET
    while count * rows_per_bucket < chunks:
        count *= 2
    return count


def empty_chunks() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in CHUNK_COLUMNS.items()})


def chunk_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Stats rows as chunk-table rows (one per chunk)."""
    return rows[list(CHUNK_COLUMNS)].astype(CHUNK_COLUMNS).reset_index(drop=True)


#: What a chunk's marker does not hold, so a run that only resumes the chunk keeps it from
#: the chunk's earlier row: its clips' error keys, what was missing, its files' sizes.
NOT_IN_MARKER = ("errors", "missing", "bytes", "filtered")
#: Columns added since the first index format, and what a part written before holds instead.
ADDED_COLUMNS = {"filtered": "{}"}


def merge_chunks(old: pd.DataFrame, run_rows: pd.DataFrame) -> pd.DataFrame:
    """The chunk table after a run: the run's rows replace earlier rows of the same chunk.

    A chunk the run only resumed (its marker existed, its files were not looked at) keeps
    what its earlier row knew beyond the marker (:data:`NOT_IN_MARKER`)."""
    new = chunk_table(run_rows)
    resumed = (run_rows["status"] == "resumed").to_numpy()
    if resumed.any() and len(old):
        earlier = old.set_index(KEY)[list(NOT_IN_MARKER)]
        keys = pd.MultiIndex.from_frame(new.loc[resumed, KEY])
        known = earlier.reindex(keys)
        for name in NOT_IN_MARKER:
            values = known[name].to_numpy()
            mine = new.loc[resumed, name].to_numpy()
            new.loc[resumed, name] = [k if isinstance(k, str) else m for k, m in zip(values, mine, strict=True)]
    merged = pd.concat([old, new], ignore_index=True) if len(old) else new
    merged = merged.drop_duplicates(KEY, keep="last")
    return merged.sort_values(KEY, kind="stable").reset_index(drop=True)


def video_table(records: Iterable[VideoRecord]) -> pd.DataFrame:
    return video_records_frame([asdict(r) for r in records])


def merge_videos(old: pd.DataFrame, records: Mapping[str, VideoRecord]) -> pd.DataFrame:
    """The video table after a run: the run's video records replace earlier ones."""
    new = video_table(records.values())
    merged = pd.concat([old, new], ignore_index=True) if len(old) else new
    return merged.drop_duplicates("video", keep="last").sort_values("video", kind="stable").reset_index(drop=True)


def in_bucket(table: pd.DataFrame, bucket: int, buckets: int) -> pd.DataFrame:
    """The rows of ``table`` whose video falls in ``bucket`` of ``buckets``."""
    if not len(table):
        return table
    return table[[b == bucket for b in buckets_of(table["video"], buckets)]].reset_index(drop=True)


def table_bytes(table: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    table.to_parquet(sink, index=False, compression="zstd")
    return sink.getvalue()


def read_table(data: bytes, template: pd.DataFrame) -> pd.DataFrame:
    """A stored part, with the columns and dtypes of ``template`` (the empty table)."""
    table = read_parquet_bytes(data).to_pandas()
    for name, value in ADDED_COLUMNS.items():
        if name in template.columns and name not in table.columns:
            table[name] = value
    missing = [c for c in template.columns if c not in table.columns]
    if missing:
        raise ValueError(f"index part lacks column(s) {missing}")
    out = table[list(template.columns)]
    for name, dtype in template.dtypes.items():
        if dtype == object:  # text/bytes read back as pandas' string type: keep Python objects
            out[name] = pd.Series(out[name].to_numpy(dtype=object), index=out.index, dtype=object)
        else:
            out[name] = out[name].astype(dtype)
    return out.reset_index(drop=True)


def marker_indices(paths: Iterable[str], prefix: str) -> set[int]:
    """Chunk indices of the markers among ``paths`` that belong to the video whose marker
    paths start with ``prefix`` (``.../<rel>_``); other videos sharing the prefix are skipped."""
    pattern = re.compile(re.escape(prefix.rstrip("/").split("/")[-1]) + r"(\d+)\.json$")
    found = set()
    for path in paths:
        match = pattern.fullmatch(path.rstrip("/").split("/")[-1])
        if match:
            found.add(int(match.group(1)))
    return found
