"""The Dask plumbing of the clip writer's partitions: one task per partition of clip records
writes every file of its chunks and returns one small stats row per chunk::

    clip records ──map_partitions(write_partition)──▶ stats rows ──▶ reduction.py
    video records' source values (one small partition, shared) ──┘

What is written is decided by the pure modules (``chunk_files``, ``documents``); this module
decides when and where. Staying in Dask expressions (no ``to_delayed``) lets a user compute
the writer together with their own work on the same records without computing any
partition twice.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import dask
import pandas as pd

from . import layout
from .chunk_files import (
    chunk_files,
    chunk_rels,
    group_chunks,
    probe_clips,
)
from .documents import read_chunk_document
from .events import report
from .partitioning import KEY_COLUMNS, conflicts, partition_keys
from .records import (
    RecordError,
    VideoRecord,
    check_clip_columns,
    normalise_clip_partition,
    normalise_video_frame,
)
from .settings import WriterSettings
from .sink import FileSink, SinkCounts, SinkError
from .stats_rows import rows_frame, stats_meta, stats_row

log = logging.getLogger(__name__)


class ChunkWriteError(RuntimeError):
    """Writing a chunk failed; the message names the chunk, the path and the cause."""


def make_sink(settings: WriterSettings) -> FileSink:
    return FileSink(
        settings.output_path,
        storage_options=settings.storage_options,
        existing=settings.existing,
        max_workers=settings.max_workers,
        retries=settings.write_retries,
        verbose=settings.verbose,
    )


# --------------------------------------------------------------------------------------
# Per-partition task (runs on a worker)


def write_partition(
    df: pd.DataFrame,
    settings: WriterSettings,
    sources: pd.DataFrame | None = None,
    run: str | None = None,
    partition_info: dict | None = None,
) -> pd.DataFrame:
    """Write every chunk of one partition; return one stats row per chunk.

    ``sources``: the video records' source values indexed by video (see
    :func:`source_values`), for clip records that lack their own; ``run`` names the write
    whose listeners hear of the partition when it is done (events.py). The whole partition
    is validated before its first file is written, so bad input leaves nothing half-written."""
    partition = int((partition_info or {}).get("number", -1))
    chunks = group_chunks(normalise_clip_partition(df))
    rels = chunk_rels(chunks, settings.input_path)
    video_records = _sources_of(sources, {video for video, _ in chunks})
    sink = make_sink(settings)
    rows = rows_frame([
        _write_chunk(sink, settings, video, index, clips, rels[(video, index)], video_records.get(video), partition)
        for (video, index), clips in chunks.items()
    ])
    report(run, rows)
    return rows


def _write_chunk(sink: FileSink, settings: WriterSettings, video: str, index: int, clips, rel: str,
                 source: VideoRecord | None, partition: int) -> dict[str, Any]:
    started = time.time()
    marker_path = layout.chunk_json_path(settings.output_path, rel, index)
    counts = SinkCounts()
    chunk_bytes: Counter = Counter()
    if settings.resume and sink.exists(marker_path):
        stats, status, missing, errors = read_chunk_document(sink.read(marker_path)), "resumed", Counter(), Counter()
    else:
        planned = chunk_files(video, index, rel, clips, settings=settings, source=source, probes=probe_clips(clips))
        try:
            counts.add(sink.put_many(planned.files))
            # The marker goes last: its presence means every file of the chunk is there.
            counts.add(sink.put_many([planned.marker]))
        except SinkError as exc:
            raise ChunkWriteError(f"chunk {index} of video {video!r}: {exc}") from exc
        stats, status, missing = planned.stats, "written", planned.missing
        errors = Counter(key for clip in clips for key in clip.errors)
        for path, data in (*planned.files, planned.marker):
            chunk_bytes[layout.directory_of(settings.output_path, path)] += len(data)
    if settings.verbose:
        log.info(
            "chunk %d of %s %s: %d passed, %d filtered, %d files written, %d skipped",
            index, video, status, stats.num_clips_passed, len(stats.filtered_clips),
            sum(counts.files_written.values()), sum(counts.files_skipped.values()),
        )
    return stats_row(stats, partition=partition, status=status, errors=errors, missing=missing,
                     files_written=counts.files_written, bytes_written=counts.bytes_written,
                     files_skipped=counts.files_skipped, chunk_bytes=chunk_bytes, started=started,
                     finished=time.time())


# --------------------------------------------------------------------------------------
# Graph building


def _sources_of(sources: pd.DataFrame | None, videos: set[str]) -> dict[str, VideoRecord]:
    """The source values of ``videos`` only: a lookup in the shared index, not a pass over
    every video record (there may be millions)."""
    if sources is None or not len(sources):
        return {}
    present = sources.index.intersection(sorted(videos))
    return normalise_video_frame(sources.loc[present].reset_index())


def source_values(videos: pd.DataFrame) -> pd.DataFrame:
    """What the writer partitions need of the video records: width, height and frame rate,
    indexed by video (clip metas fall back to them for the source keys 4-6)."""
    columns = [c for c in ("width", "height", "framerate") if c in videos.columns]
    return videos[["video", *columns]].set_index("video")


def video_collection(videos):
    """Video records as a one-partition Dask DataFrame."""
    import dask.dataframe as dd

    if videos is None:
        return None
    if isinstance(videos, pd.DataFrame):
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_pandas(videos, npartitions=1, sort=False)
    return videos.repartition(npartitions=1) if videos.npartitions > 1 else videos


def stats_collection(clips, settings: WriterSettings, videos=None, run: str | None = None):
    """The per-partition writers: a collection of stats rows, one per chunk.

    ``videos`` is a one-partition collection of video records (or None); only its source
    values reach the writers, one small shared partition that each task looks up."""
    check_clip_columns(clips.columns, dict(clips.dtypes))
    sources = None
    if videos is not None:
        meta = source_values(videos._meta)
        sources = videos.map_partitions(source_values, meta=meta, token="clipwriter-sources")
    return clips.map_partitions(
        write_partition, settings, sources, run, meta=stats_meta(), enforce_metadata=False,
        align_dataframes=False, token="clipwriter-write",
    )


def _partition_keys(df: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
    return partition_keys(df, int((partition_info or {}).get("number", -1)))


def check_partitioning(clips) -> None:
    """Refuse, before anything is written, a chunk split across partitions or a clip uuid in
    two chunks. Computes only the three key columns: cheap when the source can read columns
    alone (Parquet); a computed source (``from_map``) builds its partitions twice."""
    check_clip_columns(clips.columns, dict(clips.dtypes))
    meta = pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in KEY_COLUMNS.items()})
    keys = clips[["video", "clip_chunk_index", "span_uuid"]].map_partitions(_partition_keys, meta=meta).compute()
    problems = conflicts(keys)
    if problems:
        raise RecordError("; ".join(message for message, _ in problems))
