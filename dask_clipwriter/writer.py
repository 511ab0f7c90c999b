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

import json
import logging
import math
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import dask
import pandas as pd

from . import layout
from .batching import batched_collection, batches_of
from .chunk_files import (
    chunk_files,
    chunk_rels,
    group_chunks,
    probe_clips,
)
from .documents import ChunkStats, read_chunk_document
from .events import report
from .filter_reasons import filter_reason
from .index import COMPACT_EVERY, with_bucket
from .manifest import RunStart, manifest_bytes
from .put_groups import GroupWriteError, PutGroups
from .records import (
    VideoRecord,
    check_clip_columns,
    normalise_clip_partition,
    normalise_video_frame,
)
from .settings import WriterSettings
from .sink import FileSink, SinkCounts, SinkError
from .stats_rows import pack_rows, packed_meta, row_values, stats_row

log = logging.getLogger(__name__)


class ChunkWriteError(RuntimeError):
    """Writing a chunk failed; the message names the chunk, the path and the cause."""


_sinks: dict[tuple, FileSink] = {}
_sinks_lock = threading.Lock()


def make_sink(settings: WriterSettings) -> FileSink:
    """The process's sink for these settings. A worker runs thousands of partitions, and a
    sink made per partition would check its folders again each time (a realpath and a
    makedirs per folder, about a third of a small chunk's cost: measured)."""
    key = (settings.output_path, json.dumps(settings.storage_options or {}, sort_keys=True, default=repr),
           settings.existing, settings.max_workers, settings.write_retries, settings.verbose)
    with _sinks_lock:
        sink = _sinks.get(key)
        if sink is None:
            if len(_sinks) >= 16:
                _sinks.clear()  # a long-lived process writing many datasets
            sink = _sinks[key] = FileSink(
                settings.output_path,
                storage_options=settings.storage_options,
                existing=settings.existing,
                max_workers=settings.max_workers,
                retries=settings.write_retries,
                verbose=settings.verbose,
            )
        return sink


def _forget_sinks_in_child() -> None:
    # A forked child makes its own sinks: a store's client (s3fs's event loop thread) does
    # not survive a fork, and the lock may have been held by a thread that is not there.
    global _sinks_lock
    _sinks.clear()
    _sinks_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_sinks_in_child)


# --------------------------------------------------------------------------------------
# Per-partition task (runs on a worker)


def start_run(settings: WriterSettings, start: RunStart) -> bytes:
    """Before the first partition writes: remove what the run replaces and the temporary
    files killed writers left. Every writer task depends on it; for a new dataset each gets
    the run's manifest to record before its first file (so bad input writes nothing at all,
    and a run that dies has still recorded what made the dataset)."""
    sink = make_sink(settings)
    manifest = manifest_bytes(start.manifest)
    for name in start.remove:
        sink.remove_tree(layout.output_subpath(settings.output_path, name))
    if start.remove:
        sink.put(layout.manifest_path(settings.output_path), manifest, existing="overwrite")
    cleared = sink.clear_temporary()
    if cleared:
        log.warning("removed %d temporary files left by writers that were stopped", cleared)
    # The partitions record the manifest only where the dataset has none yet.
    return manifest if start.record else None


def write_partition(
    df: pd.DataFrame,
    settings: WriterSettings,
    sources: pd.DataFrame | None = None,
    run: str | None = None,
    manifest: bytes | None = None,
    partition_info: dict | None = None,
) -> pd.DataFrame:
    """Write every chunk of one partition; return one stats row per chunk, packed
    (``stats_rows.pack_rows``).

    ``sources``: the video records' source values indexed by video (see
    :func:`source_values`), for clip records that lack their own; ``run`` names the write
    whose listeners hear of the partition when it is done (events.py); ``manifest`` comes
    from :func:`start_run`, recorded before the partition's first file if the dataset has
    none yet. The whole partition is validated before its first file is written, so bad
    input leaves nothing half-written."""
    partition = int((partition_info or {}).get("number", -1))
    return write_partitions([df], [partition], settings, sources, run, manifest)


def write_partitions(frames, numbers, settings: WriterSettings, sources: pd.DataFrame | None = None,
                     run: str | None = None, manifest: bytes | None = None) -> pd.DataFrame:
    """:func:`write_partition` for several partitions in one task (``numbers``: theirs in
    the collection), their chunks' files streaming into the sink's threads (put_groups.py):
    the task waits once, at its end, not for each chunk. Each partition is reported to the
    run's listeners as soon as all its chunks are in."""
    sink = make_sink(settings)
    groups = PutGroups(sink)
    chunks: list[_PendingChunk] = []
    partitions: list[tuple[int, int]] = []  # (first chunk, end) of each partition
    reported = 0
    try:
        for frame, partition in zip(frames, numbers, strict=True):
            partition_chunks = group_chunks(normalise_clip_partition(frame))
            rels = chunk_rels(partition_chunks, settings.input_path)
            video_records = _sources_of(sources, {video for video, _ in partition_chunks})
            first = len(chunks)
            for (video, index), clips in partition_chunks.items():
                try:
                    chunks.append(_start_chunk(sink, groups, settings, video, index, clips, rels[(video, index)],
                                               video_records.get(video), partition,
                                               manifest=None if chunks else manifest))
                except SinkError as exc:  # reading its marker, or the manifest
                    groups.raise_failure()  # an earlier chunk's failure comes first
                    raise _chunk_error((video, index), exc) from exc
            partitions.append((first, len(chunks)))
            while reported < len(partitions) and _partition_in(groups, chunks, partitions[reported]):
                _partition_done(run, groups, settings, chunks, partitions[reported])
                reported += 1
        groups.wait()
    except GroupWriteError as exc:
        groups.abandon()
        if isinstance(exc.error, SinkError):
            raise _chunk_error(exc.label, exc.error) from exc.error
        raise exc.error  # not the store's failure but a bug: as it is
    except BaseException:
        groups.abandon()
        raise
    for span in partitions[reported:]:
        _partition_done(run, groups, settings, chunks, span)
    return pack_rows([chunk.row(groups) for chunk in chunks])


def chunk_marker(sink: FileSink, path: str, video: str, index: int, clips: set[str]):
    """The chunk's completion record, when it is there, whole, and lists exactly ``clips``
    (the chunk's clip uuids): ChunkStats; otherwise None, and the chunk is written again (a
    damaged marker, or one left by other input, is reported)."""
    data = sink.read_if_exists(path)
    if data is None:
        return None
    try:
        stats = read_chunk_document(data, video, index)
    except ValueError as exc:
        log.warning("chunk marker %s is damaged (%s); the chunk is written again", path, exc)
        return None
    if set(stats.clips + stats.filtered_clips) != clips:
        log.warning("chunk marker %s lists other clips than the records; the chunk is written again", path)
        return None
    return stats


@dataclass
class _PendingChunk:
    """A chunk whose files were handed to the sink's threads (``group``), or one that was
    already whole (``group`` None, resumed): what its stats row needs once its files are in."""

    key: tuple[str, int]
    stats: ChunkStats
    status: str
    partition: int
    started: float
    group: int | None = None
    missing: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    filtered: Counter = field(default_factory=Counter)
    chunk_bytes: Counter = field(default_factory=Counter)
    finished: float | None = None  # a resumed chunk's; a written one's is its group's
    _row: dict[str, Any] | None = None

    def row(self, groups: PutGroups) -> dict[str, Any]:
        """The stats row, once the chunk's group is written (made once)."""
        if self._row is None:
            self._row = self._make_row(groups)
        return self._row

    def counts(self, groups: PutGroups) -> SinkCounts:
        """What its files counted: written, skipped (none for a resumed chunk)."""
        return groups.counts(self.group) if self.group is not None else SinkCounts()

    def _make_row(self, groups: PutGroups) -> dict[str, Any]:
        written = self.counts(groups)
        finished = groups.finished(self.group) if self.group is not None else self.finished
        return stats_row(self.stats, partition=self.partition, status=self.status, errors=self.errors,
                         missing=self.missing, files_written=written.files_written,
                         bytes_written=written.bytes_written, files_skipped=written.files_skipped,
                         chunk_bytes=self.chunk_bytes, started=self.started, finished=finished,
                         filtered=self.filtered)


def _start_chunk(sink: FileSink, groups: PutGroups, settings: WriterSettings, video: str, index: int, clips,
                 rel: str, source: VideoRecord | None, partition: int, *, manifest: bytes | None) -> _PendingChunk:
    started = time.time()
    if manifest is not None:
        # What made the dataset is on record before its first chunk file: a later run
        # with other settings is refused even if this one never finishes.
        sink.put(layout.manifest_path(settings.output_path), manifest, existing="skip")
    marker_path = layout.chunk_json_path(settings.output_path, rel, index)
    marker = chunk_marker(sink, marker_path, video, index, {clip.span_uuid for clip in clips})
    if settings.resume and marker is not None:
        return _PendingChunk((video, index), marker, "resumed", partition, started, finished=time.time())
    planned = chunk_files(video, index, rel, clips, settings=settings, source=source, probes=probe_clips(clips))
    chunk = _PendingChunk(
        (video, index), planned.stats, "written", partition, started, missing=planned.missing,
        errors=Counter(key for clip in clips for key in clip.errors),
        filtered=Counter(filter_reason(clip.filtered_by, clip.errors) for clip in clips if not clip.passed))
    for path, data in (*planned.files, planned.marker):
        chunk.chunk_bytes[layout.directory_of(settings.output_path, path)] += len(data)
    # Without a whole marker, files already there are left from a run that did not finish
    # the chunk (or from other input): they are replaced, never trusted. The marker goes
    # last: its presence means every file of the chunk is there.
    chunk.group = groups.put_group((video, index), planned.files, planned.marker,
                                   existing=None if marker is not None else "overwrite")
    return chunk


def _partition_in(groups: PutGroups, chunks: list[_PendingChunk], span: tuple[int, int]) -> bool:
    """Whether every chunk of the partition is whole: resumed, or all its files written."""
    return all(chunk.group is None or groups.written(chunk.group) for chunk in chunks[span[0]:span[1]])


def _partition_done(run: str | None, groups: PutGroups, settings: WriterSettings, chunks: list[_PendingChunk],
                    span: tuple[int, int]) -> None:
    """Log (verbose) and tell the run's listeners of a partition whose chunks are whole: as
    soon as they are, not when the task ends."""
    mine = chunks[span[0]:span[1]]
    if settings.verbose:
        for chunk in mine:
            written = chunk.counts(groups)
            log.info("chunk %d of %s %s: %d passed, %d filtered, %d files written, %d skipped", chunk.key[1],
                     chunk.key[0], chunk.status, chunk.stats.num_clips_passed, len(chunk.stats.filtered_clips),
                     sum(written.files_written.values()), sum(written.files_skipped.values()))
    report(run, [row_values(chunk.row(groups)) for chunk in mine])


def _chunk_error(key: tuple[str, int], exc: BaseException) -> ChunkWriteError:
    video, index = key
    return ChunkWriteError(f"chunk {index} of video {video!r}: {exc}")


# --------------------------------------------------------------------------------------
# Graph building


def _sources_of(sources: pd.DataFrame | None, videos: set[str]) -> dict[str, VideoRecord]:
    """The source values of ``videos`` only: a lookup in the shared index, not a pass over
    every video record (there may be millions)."""
    if sources is None or not len(sources):
        return {}
    # get_indexer uses the index's hash table, built once per worker for the shared frame.
    positions = sources.index.get_indexer(sorted(videos))
    return normalise_video_frame(sources.iloc[positions[positions >= 0]].reset_index())


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


def stats_collection(clips, settings: WriterSettings, videos=None, run: str | None = None, run_start=None):
    """The per-partition writers: a collection of stats rows, one per chunk.

    ``videos`` is a one-partition collection of video records (or None); only its source
    values reach the writers, one small shared partition that each task looks up."""
    check_clip_columns(clips.columns, dict(clips.dtypes))
    sources = None
    if videos is not None:
        meta = source_values(videos._meta)
        sources = videos.map_partitions(source_values, meta=meta, token="clipwriter-sources")
    batches = batches_of(clips)
    if batches is not None:
        return batched_collection(batches, write_partitions, settings, sources, run, run_start, meta=packed_meta(),
                                  name="clipwriter-write")
    return clips.map_partitions(
        write_partition, settings, sources, run, run_start, meta=packed_meta(), enforce_metadata=False,
        align_dataframes=False, token="clipwriter-write",
    )


def by_bucket(frame, buckets: int, column: str = "video"):
    """``frame``'s rows moved to the partition of their ``column`` value's bucket: partition b
    holds bucket b (known divisions, so two frames bucketed alike line up, and a bucket
    without rows is still a partition). Many small partitions are joined first, and the
    rows (stats rows, keys, video records: small) move with Dask's task shuffle, without the
    fixed cost of a peer-to-peer shuffle."""
    if frame.npartitions > COMPACT_EVERY:
        frame = frame.repartition(npartitions=math.ceil(frame.npartitions / COMPACT_EVERY))
    meta = frame._meta.assign(bucket=pd.Series([], dtype="int64"))
    if buckets == 1:
        # One bucket: join the rows first, then one task labels them (not one per partition).
        joined = frame.repartition(npartitions=1).map_partitions(with_bucket, buckets, column, meta=meta)
        return joined.set_index("bucket", sorted=True, divisions=(0, 0))
    bucketed = frame.map_partitions(with_bucket, buckets, column, meta=meta)
    return bucketed.set_index("bucket", divisions=(*range(buckets), buckets - 1), shuffle_method="tasks")
