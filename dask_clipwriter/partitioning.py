"""Problems only visible across partitions: a chunk split over partitions, a clip uuid in two
chunks. Pure: rows of (video, clip_chunk_index, partition, clip_uuids) in, messages out.

The writer's precheck feeds it the key columns before anything is written; the reduction
feeds it the writers' stats rows (which carry the same four columns) as a last guard.
"""

from __future__ import annotations

import pandas as pd

#: The columns :func:`conflicts` reads, and their dtypes.
KEY_COLUMNS = {"video": "str", "clip_chunk_index": "int64", "partition": "int64", "clip_uuids": "str"}


def partition_keys(df: pd.DataFrame, partition: int) -> pd.DataFrame:
    """One row per (video, chunk) of a partition of clip records: the shape ``conflicts`` reads."""
    groups = df.groupby(["video", "clip_chunk_index"], sort=False)["span_uuid"]
    rows = [{"video": str(v), "clip_chunk_index": int(i), "partition": partition,
             "clip_uuids": "\n".join(str(u).lower() for u in uuids)} for (v, i), uuids in groups]
    return pd.DataFrame({name: pd.Series([row[name] for row in rows], dtype=dtype)
                         for name, dtype in KEY_COLUMNS.items()})


def conflicts(rows: pd.DataFrame) -> list[tuple[str, set[tuple[str, int]]]]:
    """Each problem as (message naming chunks and partitions, the chunks involved)."""
    problems = []
    split = rows[rows.duplicated(["video", "clip_chunk_index"], keep=False)]  # rare: look at those alone
    for (video, index), group in split.groupby(["video", "clip_chunk_index"], sort=True):
        parts = sorted(int(p) for p in group["partition"])
        problems.append((
            f"chunk {index} of video {video!r} is split across partitions {parts}; "
            "every clip of a (video, clip_chunk_index) must be in one partition",
            {(video, int(index))},
        ))
    owner: dict[str, tuple[str, int]] = {}
    for video, index, uuids in zip(rows["video"].tolist(), rows["clip_chunk_index"].tolist(), rows["clip_uuids"].tolist(),
                                   strict=True):
        chunk = (video, int(index))
        for clip in filter(None, uuids.split("\n")):
            first = owner.setdefault(clip, chunk)
            if first != chunk:
                problems.append((
                    f"clip uuid {clip} appears in chunk {first[1]} of {first[0]!r} and in chunk {index} of {video!r}",
                    {first, chunk},
                ))
    return problems
