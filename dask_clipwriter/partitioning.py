"""Problems only visible across partitions: a chunk split over partitions, a clip uuid in two
chunks. Pure: rows of (video, clip_chunk_index, partition, clip_uuids) in, messages out.

The writer's precheck feeds it the key columns before anything is written, one group of
rows at a time (:func:`uuid_rows` and ``bucket`` columns let the groups be formed so that
every problem falls inside one group). The reduction feeds it the writers' stats rows of
each bucket (which carry the same four columns): a last guard against chunks split across
partitions when the precheck was turned off; a uuid in two buckets' chunks only the
precheck finds.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .records import ClipRecord

#: The columns :func:`conflicts` reads, and their dtypes.
KEY_COLUMNS = {"video": "object", "clip_chunk_index": "int64", "partition": "int64", "clip_uuids": "object"}


def partition_keys(records: Iterable[ClipRecord], partition: int) -> pd.DataFrame:
    """One row per (video, chunk) of a partition's records: the shape ``conflicts`` reads."""
    chunks: dict[tuple[str, int], list[str]] = {}
    for record in records:
        chunks.setdefault((record.video, record.clip_chunk_index), []).append(record.span_uuid)
    rows = [{"video": video, "clip_chunk_index": index, "partition": partition, "clip_uuids": "\n".join(clips)}
            for (video, index), clips in chunks.items()]
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


def uuid_rows(keys: pd.DataFrame) -> pd.DataFrame:
    """One row per clip uuid of the key rows, in the shape ``conflicts`` reads (a chunk of
    one clip each): grouped by uuid, two chunks of one uuid meet in one group."""
    rows = [{"video": video, "clip_chunk_index": index, "partition": -1, "clip_uuids": clip}
            for video, index, uuids in zip(keys["video"].tolist(), keys["clip_chunk_index"].tolist(),
                                           keys["clip_uuids"].tolist(), strict=True)
            for clip in filter(None, uuids.split("\n"))]
    return pd.DataFrame({name: pd.Series([row[name] for row in rows], dtype=dtype)
                         for name, dtype in KEY_COLUMNS.items()})


def uuid_conflicts(rows: pd.DataFrame) -> list[str]:
    """Messages for uuids that appear in more than one chunk (rows from :func:`uuid_rows`)."""
    problems = []
    for clip, group in rows[rows.duplicated("clip_uuids", keep=False)].groupby("clip_uuids", sort=True):
        chunks = sorted({(v, int(i)) for v, i in zip(group["video"], group["clip_chunk_index"], strict=True)})
        if len(chunks) > 1:
            (video_a, a), (video_b, b) = chunks[:2]
            problems.append(f"clip uuid {clip} appears in chunk {a} of {video_a!r} and in chunk {b} of {video_b!r}")
    return problems
