"""The reduction: from the writers' stats rows to processed_videos/, the dataset index and
summary.json, as a tree whose every task holds a bounded number of rows::

    stats rows (one per chunk) ──set_index(bucket of the video)──▶ B buckets
        finish_bucket × B: the bucket's videos' JSONs and its index parts ──▶ SummaryPart
        parts added up SPLIT_EVERY at a time ──▶ write_summary: manifest + summary.json

Buckets are groups of videos (index.py): all rows of a video land in one bucket task, which
merges them into the bucket's part of the dataset index, so the documents describe the whole
dataset, not only this run. The bucket count grows with the run (about index.ROWS_PER_BUCKET chunk
rows per bucket), so no task's memory grows with the size of the run.
"""

from __future__ import annotations

import json
import logging
import math
import time

import pandas as pd

from . import layout
from .chunk_files import empty_video_marker
from .documents import dumps, read_chunk_document, video_document
from .events import report_end
from .index import (
    bucket_count,
    empty_chunks,
    in_bucket,
    marker_indices,
    merge_chunks,
    merge_videos,
    read_table,
    table_bytes,
)
from .manifest import Manifest, manifest_bytes
from .partitioning import conflicts
from .records import RecordError, VideoRecord, normalise_video_frame, video_records_meta
from .settings import WriterSettings
from .sink import FileSink, SinkCounts
from .stats_rows import packed_meta, rows_frame, stats_row, unpack_rows
from .summary import (
    DATASET_COUNTERS,
    RUN_COUNTERS,
    SummaryPart,
    Totals,
    sum_totals,
    summary_document,
    video_entry,
)
from .writer import by_bucket, make_sink

log = logging.getLogger(__name__)

#: Summary parts added up this many at a time.
SPLIT_EVERY = 8


# --------------------------------------------------------------------------------------
# One bucket of videos (runs on a worker)


def finish_bucket(rows: pd.DataFrame, videos: pd.DataFrame | None = None, run_start: bytes | None = None,
                  partition_info: dict | None = None, *, settings: WriterSettings, buckets: int,
                  old_buckets: int) -> pd.DataFrame:
    """Write the JSONs of this run's videos in one bucket, merge the run into the bucket's
    index parts, and return the bucket's :class:`SummaryPart` (in a one-row frame).
    ``rows`` are the writers' packed stats rows; ``run_start`` is the run's start task (a
    dependency, for a run without clip records)."""
    bucket = int((partition_info or {}).get("number", 0))
    sink = make_sink(settings)
    rows = unpack_rows(rows)
    records = normalise_video_frame(None if videos is None else videos.reset_index(drop=True))
    _refuse_conflicts(sink, settings, rows)

    old_chunks, old_videos = _read_index(sink, settings.output_path, bucket, buckets, old_buckets)
    chunks = merge_chunks(old_chunks, rows)
    known_videos = merge_videos(old_videos, records)
    video_records = normalise_video_frame(known_videos)
    chunk_videos_in_run = set(rows["video"])
    in_run = chunk_videos_in_run | set(records)

    part = SummaryPart(run=Totals.of_rows(rows, RUN_COUNTERS),
                       started=float(rows["started"].min()) if len(rows) else None)
    per_video = Totals.per_video(chunks, DATASET_COUNTERS)
    indices: dict[str, set[int]] = {}
    for video, index in zip(chunks["video"], chunks["clip_chunk_index"], strict=True):
        indices.setdefault(video, set()).add(int(index))
    counts = SinkCounts()
    recovered = []
    for video in sorted(set(per_video) | set(video_records)):
        record = video_records.get(video)
        if record is not None and record.error and video in chunk_videos_in_run:
            raise RecordError(f"video record {video!r} has an error ({record.error}) but also clip records")
        per_video[video], found = _finish_video(
            sink, settings, video, record, per_video.get(video) or Totals(), indices.get(video, set()),
            in_run=video in in_run, counts=counts, part=part)
        recovered.extend(found)
    if recovered:
        chunks = merge_chunks(chunks, pd.concat(recovered, ignore_index=True))

    sink.put_many([(layout.index_part_path(settings.output_path, "chunks", buckets, bucket), table_bytes(chunks)),
                   (layout.index_part_path(settings.output_path, "videos", buckets, bucket), table_bytes(known_videos))],
                  existing="overwrite")
    part.dataset = sum_totals(per_video.values())
    part.run.add(Totals(counters={"files_written": counts.files_written, "bytes_written": counts.bytes_written,
                                  "files_skipped": counts.files_skipped}))
    part.trim_entries()
    return _part_frame(part)


def _finish_video(sink: FileSink, settings: WriterSettings, video: str, record: VideoRecord | None,
                  totals: Totals, have: set[int], *, in_run: bool, counts: SinkCounts,
                  part: SummaryPart) -> tuple[Totals, list[pd.DataFrame]]:
    """One video: its entry goes into ``part``; returns its totals (with chunks found by
    their markers alone) and those chunks' rows. Its documents are (re)written when this run
    gave it chunks or a record."""
    if record is not None and record.error:
        # [ours] An unreadable video gets an error entry in summary.json and no files.
        part.add_entry(video_entry(video, totals, error=record.error), in_run=in_run)
        return totals, []
    rel = _rel(video, settings.input_path)
    # Chunks are numbered 0..n-1: n from the video record, else from the highest chunk seen.
    expected = record.num_clip_chunks if record is not None and record.num_clip_chunks is not None else (
        max(have, default=-1) + 1)
    absent = [i for i in range(expected) if i not in have]
    found = _markers_of_missing_chunks(sink, settings.output_path, video, rel, absent) if absent else []
    for row in found:
        totals = Totals().add(totals).add(Totals.of_rows(row, DATASET_COUNTERS))
        have = have | {int(row["clip_chunk_index"].iloc[0])}
    expected = max(expected, max(have, default=-1) + 1)
    doc = video_document(video, record, num_total_clips=totals.counts["num_clips_passed"] + totals.counts[
        "num_clips_filtered"], num_clip_chunks=expected)
    if in_run:
        # A video whose record says it has no chunks gets its empty chunk 0 document; one
        # whose chunks are only missing must not (that would mark chunk 0 complete).
        says_none = record is not None and record.num_clip_chunks == 0 and not have
        files = [empty_video_marker(settings.output_path, video, rel)] if says_none else []
        files.append((layout.video_json_path(settings.output_path, rel), dumps(doc)))
        # Under the skip policy a video's documents are still replaced when the dataset
        # changed under them (chunks added by a later run); identical ones are skipped.
        counts.add(sink.put_many(files, existing="update" if settings.existing == "skip" else None))
    missing = [i for i in range(int(doc["num_clip_chunks"] or 0)) if i not in have]
    part.add_entry(video_entry(video, totals, missing_chunks=missing), in_run=in_run)
    return totals, found


def _refuse_conflicts(sink: FileSink, settings: WriterSettings, rows: pd.DataFrame) -> None:
    problems = conflicts(rows)
    if problems:
        # Those chunks' markers were written by partitions that each saw only part of the
        # chunk: remove them so nothing claims to be complete, then fail loudly.
        for video, index in set().union(*(chunks for _, chunks in problems)):
            sink.remove(layout.chunk_json_path(settings.output_path, _rel(video, settings.input_path), index))
        raise RecordError("; ".join(message for message, _ in problems))


def _rel(video: str, input_path: str) -> str:
    try:
        return layout.relative_video_path(video, input_path)
    except layout.LayoutError as exc:
        raise RecordError(f"video record {video!r}: {exc}") from None


class IndexPartError(RuntimeError):
    """A part of the dataset index that is missing or damaged; the message names it and says
    how to rebuild the index."""


def _read_index(sink: FileSink, output_path: str, bucket: int, buckets: int, old_buckets: int):
    """The bucket's rows of the index as the last complete run left it (empty tables for a
    new dataset). After the bucket count grew, a bucket's rows come from the old bucket it
    was part of. Every part of an index must be there: one that is not would silently drop
    its videos from the dataset's totals."""
    if not old_buckets:
        return empty_chunks(), video_records_meta()
    source = bucket % old_buckets
    tables = []
    for table, template in (("chunks", empty_chunks()), ("videos", video_records_meta())):
        path = layout.index_part_path(output_path, table, old_buckets, source)
        data = sink.read_if_exists(path)
        try:
            if data is None:
                raise FileNotFoundError("missing")
            part = read_table(data, template)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a damaged file
            raise IndexPartError(
                f"cannot read the dataset index part {path}: {exc}; to rebuild the index, remove "
                f"{layout.output_subpath(output_path, layout.BOOKKEEPING_DIR)} and run again with resume "
                "(complete chunks are read from their markers, not written again)") from exc
        tables.append(in_bucket(part, bucket, buckets) if buckets != old_buckets else part)
    return tuple(tables)


def _markers_of_missing_chunks(sink: FileSink, output_path: str, video: str, rel: str,
                               missing: list[int]) -> list[pd.DataFrame]:
    """Chunks the index does not know but whose markers exist (written by a run that did not
    finish): one listing of the video's markers, then the markers found are read."""
    prefix = layout.chunk_marker_prefix(output_path, rel)
    present = marker_indices(sink.names_starting(prefix), prefix) & set(missing)
    found = []
    for index in sorted(present):
        stats = read_chunk_document(sink.read(layout.chunk_json_path(output_path, rel, index)))
        row = stats_row(stats, partition=-1, status="recovered", errors={}, missing={}, files_written={},
                        bytes_written={}, files_skipped={}, chunk_bytes={}, started=math.nan, finished=math.nan)
        found.append(rows_frame([row]))
    return found


# --------------------------------------------------------------------------------------
# Adding the parts up, and summary.json


def _part_frame(part: SummaryPart) -> pd.DataFrame:
    cells = pd.Series([part], dtype=object)
    return pd.DataFrame({"part": cells})


def _part_meta() -> pd.DataFrame:
    return pd.DataFrame({"part": pd.Series([], dtype=object)})


def combine_parts(frame: pd.DataFrame) -> pd.DataFrame:
    total = SummaryPart()
    for part in frame["part"]:
        total.add(part)
    return _part_frame(total)


def write_summary(frame: pd.DataFrame, *, settings: WriterSettings, manifest: Manifest,
                  run: str | None = None) -> pd.Series:
    """The last task: the manifest (with the index's size now), then summary.json; then the
    run's progress listeners are told it ended."""
    part = combine_parts(frame)["part"].iloc[0]
    sink = make_sink(settings)
    finished = time.time()
    summary = summary_document(part, settings=settings.public_dict(),
                               started=part.started if part.started is not None else finished, finished=finished)
    manifest = manifest.with_index(manifest.index_buckets, part.dataset.chunks)
    sink.put(layout.manifest_path(settings.output_path), manifest_bytes(manifest), existing="overwrite")
    # summary.json describes the dataset after this run, so it is always replaced.
    sink.put(layout.summary_path(settings.output_path), json.dumps(summary, indent=4).encode(), existing="overwrite")
    totals, this_run = summary["totals"], summary["run"]
    log.info(
        "clip writer finished: %d videos (%d in this run), %d chunks, %d clips passed, %d filtered; "
        "this run: %d chunks, %d files written, %d skipped",
        totals["videos"], this_run["videos"], totals["chunks"], totals["num_clips_passed"], totals["num_clips_filtered"],
        this_run["chunks"], sum(this_run["files_written"].values()), sum(this_run["files_skipped"].values()),
    )
    report_end(run)
    return pd.Series([summary], dtype=object)


# --------------------------------------------------------------------------------------
# The graph


def summary_collection(stats, settings: WriterSettings, videos=None, manifest: Manifest = Manifest(), run_start=None,
                       *, chunks: int | None = None, run: str | None = None):
    """The reduction over the writers' stats rows (``stats``; None: video records alone) and
    the video records: a one-element Dask Series whose value is the summary. ``manifest`` is
    the run's (its bucket count: the index as the run starts); ``run_start`` the run's start
    task, which the reduction waits for when there are no writers; ``chunks`` how many
    chunks the run brings (default: one per partition of ``stats``)."""
    import dask
    import dask.dataframe as dd

    if stats is None:
        with dask.config.set({"dataframe.convert-string": False}):  # the rows are pickled bytes
            rows = dd.from_pandas(packed_meta(), npartitions=1)
    else:
        rows = stats
    # The dataset's chunks and the run's: a bucket holds both.
    if chunks is None:
        chunks = 0 if stats is None else stats.npartitions
    buckets = bucket_count(manifest.index_chunks + chunks, manifest.index_buckets)
    inputs = [by_bucket(rows, buckets), None if videos is None else by_bucket(videos, buckets), run_start]
    parts = dd.map_partitions(finish_bucket, *inputs, settings=settings, buckets=buckets,
                              old_buckets=manifest.index_buckets, meta=_part_meta(), clear_divisions=True,
                              token="clipwriter-bucket")
    while parts.npartitions > 1:
        parts = parts.repartition(npartitions=math.ceil(parts.npartitions / SPLIT_EVERY)).map_partitions(
            combine_parts, meta=_part_meta(), token="clipwriter-parts")
    return parts.map_partitions(write_summary, settings=settings, manifest=manifest.with_index(buckets, 0), run=run,
                                meta=pd.Series([], dtype=object), token="clipwriter-summary")
