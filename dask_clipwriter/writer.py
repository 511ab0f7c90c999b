"""The Dask plumbing of the clip writer: the per-partition task, the reduction, the graph.

``ClipWriter.write`` builds one Dask expression graph::

    clip records ──map_partitions(write_partition)──▶ stats rows (one per chunk)
    video records (one partition, broadcast) ──────────────┤
                              finish_run (one task) ── video JSONs + summary.json

Partition tasks run on the workers, write every file of their chunks and return only small
stats rows; ``finish_run`` is the reduction. Staying in expressions (no ``to_delayed``)
lets a user compute the summary together with their own work on the same records without
computing any partition twice. What is written is decided by the pure modules
(``chunk_files``, ``documents``, ``summary``); this module decides when and where.
"""

from __future__ import annotations

import json
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
    empty_video_marker,
    group_chunks,
    probe_clips,
)
from .documents import dumps, read_chunk_document, video_document
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
from .summary import run_summary, video_entry

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
    videos: pd.DataFrame | None = None,
    partition_info: dict | None = None,
) -> pd.DataFrame:
    """Write every chunk of one partition; return one stats row per chunk.

    The whole partition is validated before its first file is written, so bad input leaves
    nothing half-written."""
    partition = int((partition_info or {}).get("number", -1))
    chunks = group_chunks(normalise_clip_partition(df))
    rels = chunk_rels(chunks, settings.input_path)
    video_records = normalise_video_frame(videos)
    sink = make_sink(settings)
    return rows_frame([
        _write_chunk(sink, settings, video, index, clips, rels[(video, index)], video_records.get(video), partition)
        for (video, index), clips in chunks.items()
    ])


def _write_chunk(sink: FileSink, settings: WriterSettings, video: str, index: int, clips, rel: str,
                 source: VideoRecord | None, partition: int) -> dict[str, Any]:
    started = time.time()
    marker_path = layout.chunk_json_path(settings.output_path, rel, index)
    counts = SinkCounts()
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
    if settings.verbose:
        log.info(
            "chunk %d of %s %s: %d passed, %d filtered, %d files written, %d skipped",
            index, video, status, stats.num_clips_passed, len(stats.filtered_clips),
            sum(counts.files_written.values()), sum(counts.files_skipped.values()),
        )
    return stats_row(stats, partition=partition, status=status, errors=errors, missing=missing,
                     files_written=counts.files_written, bytes_written=counts.bytes_written,
                     files_skipped=counts.files_skipped, started=started, finished=time.time())


# --------------------------------------------------------------------------------------
# Reduction (one task): video JSONs and summary.json


def finish_run(rows: pd.DataFrame, settings: WriterSettings, videos: pd.DataFrame | None = None) -> dict[str, Any]:
    """Write every video's JSON and summary.json from all stats rows; return the summary."""
    rows = rows.sort_values(["video", "clip_chunk_index"], kind="stable").reset_index(drop=True)
    sink = make_sink(settings)
    video_records = normalise_video_frame(videos)

    problems = conflicts(rows)
    if problems:
        # Those chunks' markers were written by partitions that each saw only part of the
        # chunk: remove them so nothing claims to be complete, then fail loudly.
        for video, index in set().union(*(chunks for _, chunks in problems)):
            sink.remove(layout.chunk_json_path(settings.output_path,
                                               layout.relative_video_path(video, settings.input_path), index))
        raise RecordError("; ".join(message for message, _ in problems))

    by_video = dict(tuple(rows.groupby("video", sort=False)))
    all_videos = sorted(set(by_video) | set(video_records))
    rels = {}
    for video in all_videos:
        try:
            rels[video] = layout.relative_video_path(video, settings.input_path)
        except layout.LayoutError as exc:
            raise RecordError(f"video record {video!r}: {exc}") from None

    counts = SinkCounts()
    entries = []
    for video in all_videos:
        chunk_rows = by_video.get(video, rows.iloc[:0])
        record = video_records.get(video)
        if record is not None and record.error:
            if not chunk_rows.empty:
                raise RecordError(f"video record {video!r} has an error ({record.error}) but also clip records")
            # [ours] An unreadable video gets an error entry in summary.json and no files.
            entries.append(video_entry(video, chunk_rows, error=record.error))
            continue
        entries.append(_finish_video(sink, settings, video, rels[video], record, chunk_rows, counts))

    started = float(rows["started"].min()) if len(rows) else time.time()
    summary = run_summary(rows, entries, settings=settings.public_dict(), reduction_counts=vars(counts),
                          started=started, finished=time.time())
    # summary.json describes this run, so it is always replaced.
    sink.put(layout.summary_path(settings.output_path), json.dumps(summary, indent=4).encode(), existing="overwrite")
    run_totals = summary["totals"]
    log.info(
        "clip writer finished: %d videos, %d chunks, %d clips passed, %d filtered, %d files written, %d skipped",
        run_totals["videos"], run_totals["chunks"], run_totals["num_clips_passed"], run_totals["num_clips_filtered"],
        sum(run_totals["files_written"].values()), sum(run_totals["files_skipped"].values()),
    )
    return summary


def _finish_video(sink: FileSink, settings: WriterSettings, video: str, rel: str, record: VideoRecord | None,
                  chunk_rows: pd.DataFrame, counts: SinkCounts) -> dict[str, Any]:
    """Write one video's processed_videos JSON; return its summary entry."""
    out = settings.output_path
    files = [] if len(chunk_rows) else [empty_video_marker(out, video, rel)]
    num_clips = int(chunk_rows["num_clips_passed"].sum() + chunk_rows["num_clips_filtered"].sum())
    doc = video_document(video, record, num_total_clips=num_clips,
                         num_clip_chunks=chunk_rows["clip_chunk_index"].nunique())
    files.append((layout.video_json_path(out, rel), dumps(doc)))
    counts.add(sink.put_many(files))
    # Complete: every chunk 0..num_clip_chunks-1 has its marker (from this run or before).
    seen = {int(i) for i in chunk_rows["clip_chunk_index"]}
    expected = range(int(doc["num_clip_chunks"] or 0))
    absent = [i for i in expected if i not in seen and not sink.exists(layout.chunk_json_path(out, rel, i))]
    return video_entry(video, chunk_rows, missing_chunks=absent)


# --------------------------------------------------------------------------------------
# Graph building


def video_collection(videos):
    """Video records as a one-partition Dask DataFrame (broadcast to every partition)."""
    import dask.dataframe as dd

    if videos is None:
        return None
    if isinstance(videos, pd.DataFrame):
        with dask.config.set({"dataframe.convert-string": False}):
            return dd.from_pandas(videos, npartitions=1, sort=False)
    return videos.repartition(npartitions=1) if videos.npartitions > 1 else videos


def stats_collection(clips, settings: WriterSettings, videos=None):
    """The per-partition writers: a collection of stats rows, one per chunk.

    ``videos`` is a one-partition collection (or None); Dask broadcasts it to each task."""
    check_clip_columns(clips.columns, dict(clips.dtypes))
    return clips.map_partitions(
        write_partition, settings, videos, meta=stats_meta(), enforce_metadata=False,
        align_dataframes=False,
    )


def _finish_partition(rows: pd.DataFrame, videos: pd.DataFrame | None = None, *,
                      settings: WriterSettings) -> pd.Series:
    return pd.Series([finish_run(rows, settings, videos)], dtype=object)


def summary_collection(stats, settings: WriterSettings, videos=None):
    """The reduction over all stats rows and the video records (both as they are): a
    one-element Dask Series whose value is the run summary. Computing it computes every
    writer partition. ``stats`` None: no clip records, only video records."""
    import dask.dataframe as dd

    rows = dd.from_pandas(stats_meta(), npartitions=1) if stats is None else stats.repartition(npartitions=1)
    inputs = (rows,) if videos is None else (rows, videos)
    return dd.map_partitions(_finish_partition, *inputs, settings=settings, meta=pd.Series([], dtype=object),
                             align_dataframes=False, token="clipwriter-summary")


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
