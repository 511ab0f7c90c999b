"""The Dask plumbing of the clip writer: per-partition task, run reduction, compute.

``ClipWriter.write`` builds one Dask expression graph::

    clip records ──map_partitions(write_partition)──▶ stats rows (one per chunk)
    video records (one partition, broadcast) ─────────────┤
                              reduction: finish_run (one task) ── video JSONs + summary.json

Partition tasks run on the workers, write every file of their chunks and return only small
stats rows; ``finish_run`` is the reduction. Staying in expressions (no ``to_delayed``)
lets a user compute the summary together with their own work on the same records without
computing any partition twice. The documents themselves are built in ``documents.py`` and
``stats_rows.py``; this module decides when and where they are written.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter, defaultdict
from typing import Any

import dask
import pandas as pd

from . import layout
from .chunk_files import chunk_files
from .documents import (
    EXTRACT_METADATA_ERROR,
    ChunkStats,
    chunk_document,
    chunk_stats_from_document,
    dumps,
    video_document,
)
from .probe import ProbeError, probe_clip_bytes
from .records import (
    ClipRecord,
    RecordError,
    check_clip_columns,
    normalise_clip_partition,
    normalise_video_frame,
)
from .settings import WriterSettings
from .sink import FileSink, SinkError
from .stats_rows import (
    conflicts,
    rows_frame,
    run_summary,
    split_video_rows,
    stats_meta,
    stats_row,
    video_entry,
    video_record_rows,
)

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


def group_chunks(records: list[ClipRecord]) -> dict[tuple[str, int], list[ClipRecord]]:
    """Records grouped by (video, chunk), chunks in order of first appearance."""
    chunks: dict[tuple[str, int], list[ClipRecord]] = defaultdict(list)
    for record in records:
        chunks[(record.video, record.clip_chunk_index)].append(record)
    return dict(chunks)


def validate_partition(records: list[ClipRecord], settings: WriterSettings) -> dict[tuple[str, int], str]:
    """Checks that need the whole partition; returns ``<rel>`` per chunk. Raises RecordError."""
    seen: dict[str, tuple[str, int]] = {}
    for record in records:
        key = (record.video, record.clip_chunk_index)
        if record.span_uuid in seen:
            first = seen[record.span_uuid]
            raise RecordError(
                f"clip record {record.span_uuid}: duplicate clip uuid (in chunk {first[1]} of "
                f"{first[0]!r} and in chunk {key[1]} of {key[0]!r})"
            )
        seen[record.span_uuid] = key
    rels = {}
    for video, index in {(r.video, r.clip_chunk_index) for r in records}:
        try:
            rels[(video, index)] = layout.relative_video_path(video, settings.input_path)
        except layout.LayoutError as exc:
            raise RecordError(f"chunk {index} of video {video!r}: {exc}") from None
    return rels


def probe_clips(clips: list[ClipRecord]) -> dict[str, dict[str, Any] | None]:
    """Probe values per clip uuid: the record's own, else probed from the bytes in-process.

    A clip whose bytes cannot be probed gets ``extract_metadata`` in its errors (the
    reference crashes the chunk instead)."""
    probes: dict[str, dict[str, Any] | None] = {}
    for clip in clips:
        if not clip.has_bytes:
            probes[clip.span_uuid] = None
            continue
        values = clip.probe_values()
        if values is None:
            try:
                values = probe_clip_bytes(clip.buffer).__dict__
            except ProbeError as exc:
                clip.errors.setdefault(EXTRACT_METADATA_ERROR, str(exc))
                log.error("clip %s from %s: cannot probe clip bytes: %s", clip.span_uuid, clip.source_video, exc)
                values = None
        probes[clip.span_uuid] = values
    return probes


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
    records = normalise_clip_partition(df)
    video_records = normalise_video_frame(videos)
    rels = validate_partition(records, settings)
    sink = make_sink(settings)
    rows = []
    for (video, index), clips in group_chunks(records).items():
        started = time.time()
        rel = rels[(video, index)]
        marker_path = layout.chunk_json_path(settings.output_path, rel, index)
        before = _snapshot(sink)
        if settings.resume and sink.exists(marker_path):
            stats = chunk_stats_from_document(json.loads(sink.read(marker_path)))
            status, missing, errors = "resumed", Counter(), Counter()
        else:
            probes = probe_clips(clips)
            planned = chunk_files(video, index, rel, clips, settings=settings,
                                  source=video_records.get(video), probes=probes)
            try:
                sink.put_many(planned.files)
                # The marker goes last: its presence means every file of the chunk is there.
                sink.put(*planned.marker)
            except SinkError as exc:
                raise ChunkWriteError(f"chunk {index} of video {video!r}: {exc}") from exc
            stats, status, missing = planned.stats, "written", planned.missing
            errors = Counter(key for clip in clips for key in clip.errors)
        written, nbytes, skipped = _delta(before, sink)
        if settings.verbose:
            log.info(
                "chunk %d of %s %s: %d passed, %d filtered, %d files written, %d skipped",
                index, video, status, stats.num_clips_passed, len(stats.filtered_clips),
                sum(written.values()), sum(skipped.values()),
            )
        rows.append(stats_row(stats, partition=partition, status=status, errors=errors, missing=missing,
                              files_written=written, bytes_written=nbytes, files_skipped=skipped,
                              started=started, finished=time.time()))
    return rows_frame(rows)


def _snapshot(sink: FileSink) -> tuple[Counter, Counter, Counter]:
    c = sink.counts
    return Counter(c.files_written), Counter(c.bytes_written), Counter(c.files_skipped)


def _delta(before, sink: FileSink) -> tuple[Counter, Counter, Counter]:
    now = _snapshot(sink)
    return tuple(n - b for n, b in zip(now, before, strict=True))  # type: ignore[return-value]


# --------------------------------------------------------------------------------------
# Reduction (one task): video JSONs and summary.json


def finish_run(
    parts: list[pd.DataFrame], settings: WriterSettings, videos: pd.DataFrame | None = None
) -> dict[str, Any]:
    rows = pd.concat([stats_meta(), *parts], ignore_index=True)
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

    all_videos = sorted(set(rows["video"]) | set(video_records))
    rels = {}
    for video in all_videos:
        try:
            rels[video] = layout.relative_video_path(video, settings.input_path)
        except layout.LayoutError as exc:
            raise RecordError(f"video record {video!r}: {exc}") from None

    video_entries = []
    for video in all_videos:
        chunk_rows = rows[rows["video"] == video]
        record = video_records.get(video)
        if record is not None and record.error:
            if not chunk_rows.empty:
                raise RecordError(f"video record {video!r} has an error ({record.error}) but also clip records")
            # [ours] An unreadable video gets an error entry in summary.json and no files.
            video_entries.append(video_entry(video, chunk_rows, error=record.error))
            continue
        video_entries.append(_finish_video(sink, settings, video, rels[video], record, chunk_rows))

    started = float(rows["started"].min()) if len(rows) else time.time()
    summary = run_summary(rows, video_entries, settings=settings.public_dict(), reduction_counts=sink.counts,
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


def _finish_video(sink: FileSink, settings: WriterSettings, video: str, rel: str,
                  record, chunk_rows: pd.DataFrame) -> dict[str, Any]:
    """Write one video's processed_videos JSON; return its summary entry."""
    out = settings.output_path
    if chunk_rows.empty:
        # A video with no clips still gets its chunk 0 document, with zero counts.
        empty = ChunkStats(video=video, clip_chunk_index=0)
        sink.put(layout.chunk_json_path(out, rel, 0), dumps(chunk_document(empty)))
    num_clips = int(chunk_rows["num_clips_passed"].sum() + chunk_rows["num_clips_filtered"].sum())
    doc = video_document(video, record, num_total_clips=num_clips,
                         num_clip_chunks=chunk_rows["clip_chunk_index"].nunique())
    sink.put(layout.video_json_path(out, rel), dumps(doc))
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


def _identity(df: pd.DataFrame) -> pd.DataFrame:
    return df


def _finish_aggregate(rows: pd.DataFrame, settings: WriterSettings) -> pd.Series:
    chunk_rows, videos = split_video_rows(rows)
    return pd.Series([finish_run([chunk_rows], settings, videos)], dtype=object)


def summary_collection(stats, settings: WriterSettings, videos=None):
    """The reduction over all stats rows (and the video records): a one-element Dask Series
    whose value is the run summary. Computing it computes every writer partition."""
    import dask.dataframe as dd

    rows = stats if videos is None else dd.concat([stats, videos.map_partitions(video_record_rows, meta=stats_meta())])
    return rows.reduction(
        chunk=_identity, aggregate=_finish_aggregate, aggregate_kwargs={"settings": settings},
        meta=pd.Series([], dtype=object), split_every=False, token="clipwriter-summary",
    )


def _partition_keys(df: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
    """One row per (video, chunk) of a partition: the shape ``conflicts`` reads."""
    partition = int((partition_info or {}).get("number", -1))
    groups = df.groupby(["video", "clip_chunk_index"], sort=False)["span_uuid"]
    return pd.DataFrame(
        [{"video": str(v), "clip_chunk_index": int(i), "partition": partition,
          "clip_uuids": "\n".join(str(u).lower() for u in uuids)} for (v, i), uuids in groups],
        columns=["video", "clip_chunk_index", "partition", "clip_uuids"],
    )


def check_partitioning(clips) -> None:
    """Refuse, before anything is written, a chunk split across partitions or a clip uuid in
    two chunks. Computes only the three key columns: cheap when the source can read columns
    alone (Parquet); a computed source (``from_map``) builds its partitions twice."""
    check_clip_columns(clips.columns, dict(clips.dtypes))
    meta = pd.DataFrame({"video": pd.Series([], dtype="str"), "clip_chunk_index": pd.Series([], dtype="int64"),
                         "partition": pd.Series([], dtype="int64"), "clip_uuids": pd.Series([], dtype="str")})
    keys = clips[["video", "clip_chunk_index", "span_uuid"]].map_partitions(_partition_keys, meta=meta).compute()
    problems = conflicts(keys)
    if problems:
        raise RecordError("; ".join(message for message, _ in problems))


def build_graph(clips, settings: WriterSettings, videos=None):
    """(stats collection, summary collection): one expression graph, so a user's own work on
    ``clips`` computed together with it shares the partitions instead of recomputing them."""
    videos = video_collection(videos)
    stats = stats_collection(clips, settings, videos)
    return stats, summary_collection(stats, settings, videos)
