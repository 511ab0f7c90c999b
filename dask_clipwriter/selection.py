"""A selection of a dataset's clips, made writable as a smaller dataset of its own.

Rows filtered out of ``read_clip_dataset`` leave gaps the writer must not copy: a chunk
whose every clip was dropped would leave its video's chunk numbers with a hole (the spec
calls a video complete when chunks ``0..num_clip_chunks-1`` are all there), and the video
records' counts would still be the old dataset's. :func:`consistent_selection` renumbers
each video's remaining chunks ``0..n-1`` (in their old order; a video that lost none keeps
its numbers, so its chunk files keep their names), lets the writer count each video's clips
and chunks again, and leaves out the videos with no clip left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import dask
import pandas as pd

ChunkKey = tuple[str, int]


def renumbered_chunks(keys: Iterable[ChunkKey]) -> dict[ChunkKey, int]:
    """{(video, old index): new index} for the chunks whose index changes when each video's
    remaining chunks are numbered 0..n-1 in their old order."""
    by_video: dict[str, set[int]] = defaultdict(set)
    for video, index in keys:
        by_video[video].add(int(index))
    moves = {}
    for video, indices in by_video.items():
        for new, old in enumerate(sorted(indices)):
            if new != old:
                moves[(video, old)] = new
    return moves


def selected_video_records(videos: pd.DataFrame, keys: Iterable[ChunkKey]) -> pd.DataFrame:
    """The video records of the videos that keep a chunk, with their clip and chunk counts
    cleared: the writer counts them from the selection's records."""
    kept = {video for video, _ in keys}
    out = videos[videos["video"].isin(kept)].copy()
    for name in ("num_total_clips", "num_clip_chunks"):
        if name in out.columns:
            out[name] = float("nan")
    return out.reset_index(drop=True)


def _chunk_keys(df: pd.DataFrame) -> pd.DataFrame:
    return df[["video", "clip_chunk_index"]].drop_duplicates()


def _renumber(df: pd.DataFrame, moves: dict[ChunkKey, int]) -> pd.DataFrame:
    if not moves or not len(df):
        return df
    index = [moves.get((v, int(i)), int(i)) for v, i in zip(df["video"], df["clip_chunk_index"], strict=True)]
    return df.assign(clip_chunk_index=pd.Series(index, index=df.index, dtype="int64"))


def consistent_selection(clips, videos: pd.DataFrame | None = None):
    """(clips, videos) to write a selection of a dataset's clips as a dataset of its own.

    ``clips``: rows of ``read_clip_dataset`` (filtered as you like, read with
    ``with_bytes=True`` to write them); ``videos``: the dataset's ``read_video_records``.
    The chunks that remain are found first (one pass over the key columns and whatever the
    selection's condition reads; no clip bytes), then the clips stay lazy."""
    meta = pd.DataFrame({"video": pd.Series([], dtype=object), "clip_chunk_index": pd.Series([], dtype="int64")})
    found = clips[["video", "clip_chunk_index"]].map_partitions(_chunk_keys, meta=meta).compute()
    keys = set(zip(found["video"], found["clip_chunk_index"].astype(int), strict=True))
    moves = renumbered_chunks(keys)
    # The moves travel once, as one shared object, not copied into every partition's task.
    renumbered = clips.map_partitions(_renumber, dask.delayed(moves, pure=True), meta=clips._meta)
    return renumbered, None if videos is None else selected_video_records(videos, keys)
