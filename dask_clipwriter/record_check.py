"""The check of every clip record before the first file is written (``ClipWriter.write``'s
``check_records``): the Dask plumbing around the pure rules of ``records.py`` (each cell) and
``partitioning.py`` (what only shows across partitions).

Each partition's keys and problems are found where the partition is; the rows are then
grouped by bucket (``writer.by_bucket``), so no task holds more than a bucket's worth.
"""

from __future__ import annotations

import functools

import pandas as pd

from .batching import batched_collection, batches_of, each_partition
from .chunk_files import chunk_rels, group_chunks
from .index import bucket_count
from .partitioning import CHECK_COLUMNS, check_problems, check_rows
from .records import RecordError, check_clip_columns, normalise_clip_partition
from .writer import by_bucket


def check_records(clips, input_path: str) -> int:
    """Refuse bad records before anything is written: every check a writer partition makes
    before its first file (each cell, uuids, output names, embedding lengths), on every
    partition, then what only shows across partitions: a chunk split across partitions, one
    clip uuid in two chunks. Cheap where the source reads columns alone (Parquet: the clip
    bytes of a binary column are not read); a source computed by a function (``from_map``)
    is computed once more. Chunk rows are grouped by video and uuid rows by uuid, so no
    task holds more than a bucket's worth of them. Returns how many chunks the records
    hold (the reduction sizes its buckets by it)."""
    check_clip_columns(clips.columns, dict(clips.dtypes))
    meta = pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in CHECK_COLUMNS.items()})
    # The clip bytes are left unread where the column can hold nothing else (a binary
    # column, as stored records have): reading them would double the run's input.
    binary = isinstance(clips.dtypes.get("buffer"), pd.ArrowDtype)
    columns = [c for c in clips.columns if not (binary and c == "buffer")]
    # Records in memory: several partitions per task, whatever their size (the check reads
    # them where they are, and never their clip bytes).
    batches = batches_of(clips, max_bytes=None)
    if batches is not None:
        keys = batched_collection(batches, functools.partial(each_partition, _checked_keys), input_path, meta=meta,
                                  name="clipwriter-check")
    else:
        keys = clips[columns].map_partitions(_checked_keys, input_path, meta=meta)
    groups = bucket_count(keys.npartitions, 0)
    problem_meta = pd.DataFrame({"problem": pd.Series([], dtype=object), "chunk_rows": pd.Series([], dtype="int64")})
    # Chunk rows are grouped by video, uuid rows by uuid: one shuffle brings every problem
    # into one group.
    found = by_bucket(keys, groups, "group").map_partitions(_group_problems, meta=problem_meta).compute()
    chunks = found["chunk_rows"].sum()
    problems = [problem for problem in found["problem"].tolist() if isinstance(problem, str)]
    if problems:
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise RecordError("; ".join(problems[:5]) + more)
    return int(chunks)


def _checked_keys(df: pd.DataFrame, input_path: str, partition_info: dict | None = None) -> pd.DataFrame:
    """Every check a partition's writer would make before its first file (each cell but the
    clip bytes, uuids, output names, embedding lengths), then its chunk and uuid rows."""
    records = normalise_clip_partition(df)
    chunk_rels(group_chunks(records), input_path)
    return check_rows(records, int((partition_info or {}).get("number", -1)))


def _group_problems(rows: pd.DataFrame) -> pd.DataFrame:
    """Chunks split across partitions and uuids in two chunks, in one group of check rows;
    the group's count of chunk rows rides along in one more row (problem None), so that the
    check needs no second pass over the partitions to count the chunks."""
    problems = check_problems(rows)
    chunk_rows = int((~rows["uuid_row"].astype(bool)).sum())
    return pd.DataFrame({"problem": pd.Series([*problems, None], dtype=object),
                         "chunk_rows": pd.Series([0] * len(problems) + [chunk_rows], dtype="int64")})
