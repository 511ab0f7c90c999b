"""Problems only visible across partitions: a chunk split over partitions, a clip uuid in two
chunks. Pure: rows of (video, clip_chunk_index, partition, clip_uuids) in, messages out.

The writer's precheck feeds it the key columns before anything is written, one group of
rows at a time: :func:`check_rows` gives each partition's chunk rows and uuid rows in one
frame, with a ``group`` column (the video of a chunk row, the uuid of a uuid row) that the
rows are bucketed by, so that every problem falls inside one group, with one shuffle. The
reduction feeds it the writers' stats rows of each bucket (which carry the same four
columns): a last guard against chunks split across partitions when the precheck was turned
off; a uuid in two buckets' chunks only the precheck finds.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from .records import ClipRecord

#: The columns :func:`conflicts` reads, and their dtypes.
KEY_COLUMNS = {"video": "object", "clip_chunk_index": "int64", "partition": "int64", "clip_uuids": "object"}


#: :func:`check_rows`' columns: the key columns, the value the rows are grouped by, and
#: whether the row is a uuid row (one clip uuid) rather than a chunk row.
CHECK_COLUMNS = {**KEY_COLUMNS, "group": "object", "uuid_row": "bool"}


def check_rows(records: Iterable[ClipRecord], partition: int) -> pd.DataFrame:
    """A partition's rows for the precheck, in the shape of :data:`CHECK_COLUMNS`: one per
    (video, chunk), grouped by video, as :func:`partition_keys` gives them; and one per clip
    uuid (``uuid_row``; ``partition`` -1), grouped by the uuid, the shape
    :func:`uuid_conflicts` reads. One frame rather than two: one shuffle, half the tasks."""
    chunks: dict[tuple[str, int], list[str]] = {}
    for record in records:
        chunks.setdefault((record.video, record.clip_chunk_index), []).append(record.span_uuid)
    columns: dict[str, list] = {name: [] for name in CHECK_COLUMNS}
    for (video, index), clips in chunks.items():
        columns["video"].append(video)
        columns["clip_chunk_index"].append(index)
        columns["partition"].append(partition)
        columns["clip_uuids"].append("\n".join(clips))
        columns["group"].append(video)
        columns["uuid_row"].append(False)
    for (video, index), clips in chunks.items():
        for clip in clips:
            columns["video"].append(video)
            columns["clip_chunk_index"].append(index)
            columns["partition"].append(-1)
            columns["clip_uuids"].append(clip)
            columns["group"].append(clip)
            columns["uuid_row"].append(True)
    return pd.DataFrame({name: pd.Series(values, dtype=CHECK_COLUMNS[name]) for name, values in columns.items()})


def partition_keys(records: Iterable[ClipRecord], partition: int) -> pd.DataFrame:
    """One row per (video, chunk) of a partition's records: the shape ``conflicts`` reads."""
    rows = check_rows(records, partition)
    return rows[~rows["uuid_row"]][list(KEY_COLUMNS)].reset_index(drop=True)


def check_problems(rows: pd.DataFrame) -> list[str]:
    """The problems in one group of :func:`check_rows`' rows: chunks split across partitions
    (from the chunk rows) and uuids in two chunks (from the uuid rows alone, which hold every
    such pair: each problem is said once)."""
    uuid_row = rows["uuid_row"].astype(bool)
    return [message for message, _ in split_chunks(rows[~uuid_row])] + uuid_conflicts(rows[uuid_row])


def conflicts(rows: pd.DataFrame) -> list[tuple[str, set[tuple[str, int]]]]:
    """Each problem as (message naming chunks and partitions, the chunks involved)."""
    return split_chunks(rows) + shared_uuids(rows)


def split_chunks(rows: pd.DataFrame) -> list[tuple[str, set[tuple[str, int]]]]:
    """Chunks whose rows come from more than one partition, as :func:`conflicts` gives them."""
    problems = []
    split = rows[rows.duplicated(["video", "clip_chunk_index"], keep=False)]  # rare: look at those alone
    for (video, index), group in split.groupby(["video", "clip_chunk_index"], sort=True):
        parts = sorted(int(p) for p in group["partition"])
        problems.append((
            f"chunk {index} of video {video!r} is split across partitions {parts}; "
            "every clip of a (video, clip_chunk_index) must be in one partition",
            {(video, int(index))},
        ))
    return problems


def shared_uuids(rows: pd.DataFrame) -> list[tuple[str, set[tuple[str, int]]]]:
    """Clip uuids in more than one of these chunk rows, as :func:`conflicts` gives them."""
    problems = []
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


def uuid_conflicts(rows: pd.DataFrame) -> list[str]:
    """Messages for uuids that appear in more than one chunk (uuid rows of :func:`check_rows`)."""
    problems = []
    for clip, group in rows[rows.duplicated("clip_uuids", keep=False)].groupby("clip_uuids", sort=True):
        chunks = sorted({(v, int(i)) for v, i in zip(group["video"], group["clip_chunk_index"], strict=True)})
        if len(chunks) > 1:
            (video_a, a), (video_b, b) = chunks[:2]
            problems.append(f"clip uuid {clip} appears in chunk {a} of {video_a!r} and in chunk {b} of {video_b!r}")
    return problems
