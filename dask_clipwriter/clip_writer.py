"""``ClipWriter``: the public face of the writer (alias ``ClipWriterStage``), and the one way a
write graph is built and computed: the library call, the batch job and the command line all
come through :meth:`ClipWriter.write`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import dask
import pandas as pd

from . import layout
from ._version import __version__
from .chunk_files import check_video_records
from .events import Listener, ProgressHook, listening
from .manifest import (
    Manifest,
    RunStart,
    content_settings,
    plan_run_start,
    read_manifest,
)
from .progress import ChunkProgress
from .records import normalise_video_frame
from .reduction import summary_collection
from .settings import EMBEDDING_ALGORITHMS, WriterSettings
from .record_check import check_records as precheck_records
from .writer import make_sink, start_run, stats_collection, video_collection

log = logging.getLogger(__name__)


class ClipWriter:
    """Writes a NeMo-Curator-compatible clip dataset from a Dask DataFrame of clip records.

    Parameters keep the reference writer's names (``output_path``, ``input_path``,
    ``upload_clips``, ``dry_run``, ``generate_embeddings``, ``generate_previews``,
    ``generate_captions``, ``embedding_algorithm``, ``caption_models``,
    ``enhanced_caption_models``, ``verbose``, ``max_workers``, ``log_stats``) and add:

    storage_options
        fsspec options for ``output_path`` (e.g. s3fs credentials and ``endpoint_url``).
        Never logged and never written to summary.json.
    existing
        ``"skip"`` (default: keep files that already exist, like the reference) or
        ``"overwrite"``.
    resume
        Skip chunks whose ``processed_clip_chunks`` marker already exists.
    write_retries
        Retries of a failed file write before its chunk fails.
    metas_jsonl, clip_index
        Also write ``metas_jsonl/v0/`` (one JSONL of passed clips' metas per chunk) and
        ``clip_index/`` (one Parquet of scalar metas per chunk); off by default.

    Every option's meaning and range is in :class:`~dask_clipwriter.settings.WriterSettings`.
    Invalid settings raise :class:`~dask_clipwriter.settings.SettingsError` here, at
    construction, not on the workers.
    """

    # The reference's static path helpers, same names and results.
    get_output_path_processed_videos = staticmethod(layout.get_output_path_processed_videos)
    get_output_path_processed_clip_chunks = staticmethod(layout.get_output_path_processed_clip_chunks)
    get_output_path_clips = staticmethod(layout.get_output_path_clips)
    get_output_path_previews = staticmethod(layout.get_output_path_previews)
    get_output_path_metas = staticmethod(layout.get_output_path_metas)
    get_output_path_ce1_embd = staticmethod(layout.get_output_path_ce1_embd)
    get_output_path_ce1_embd_parquet = staticmethod(layout.get_output_path_ce1_embd_parquet)

    def __init__(
        self,
        output_path: str,
        input_path: str,
        upload_clips: bool = True,
        dry_run: bool = False,
        generate_embeddings: bool = False,
        generate_previews: bool = False,
        generate_captions: bool = False,
        embedding_algorithm: str = "cosmos-embed1-224p",
        caption_models: Sequence[str] | None = None,
        enhanced_caption_models: Sequence[str] | None = None,
        verbose: bool = False,
        max_workers: int = 6,
        log_stats: bool = False,
        *,
        storage_options: Mapping[str, Any] | None = None,
        existing: str = "skip",
        resume: bool = False,
        write_retries: int = 3,
        metas_jsonl: bool = False,
        clip_index: bool = False,
    ):
        self.settings = WriterSettings(
            output_path=output_path,
            input_path=input_path,
            upload_clips=upload_clips,
            dry_run=dry_run,
            generate_embeddings=generate_embeddings,
            generate_previews=generate_previews,
            generate_captions=generate_captions,
            embedding_algorithm=embedding_algorithm,
            caption_models=caption_models,
            enhanced_caption_models=enhanced_caption_models,
            verbose=verbose,
            max_workers=max_workers,
            log_stats=log_stats,
            storage_options=storage_options,
            existing=existing,
            resume=resume,
            write_retries=write_retries,
            metas_jsonl=metas_jsonl,
            clip_index=clip_index,
        )

    @classmethod
    def from_settings(cls, settings: WriterSettings) -> ClipWriter:
        """A writer for settings already resolved (the job's config, the command line)."""
        writer = cls.__new__(cls)
        writer.settings = settings
        return writer

    def __repr__(self) -> str:
        return f"ClipWriter({self.settings!r})"

    def write(self, clips, videos=None, *, compute: bool = True, progress: bool | ProgressHook = False,
              check_records: bool = True, producer: Mapping[str, Any] | None = None,
              check_partitioning: bool | None = None):
        """Write the dataset for ``clips`` (a Dask DataFrame of clip records, or None when
        only video records are given).

        ``videos`` is an optional table of video records (pandas or Dask). Returns the run
        summary (the content of summary.json). With ``compute=False`` returns the lazy
        collection instead: a one-element Dask Series whose value is the summary, to compute
        together with other work in one graph (partitions shared, never computed twice)::

            result, other = dask.compute(writer.write(clips, compute=False), other)
            summary = result.iloc[0]

        ``progress=True`` prints a progress line (partitions done, clips, MB written); any
        object with ``update(rows, partitions)`` and ``close()`` (:class:`ProgressHook`) is
        told about the writer partitions as they finish instead (their stats rows). With
        ``compute=False`` the progress is that of the caller's own ``dask.compute`` of the
        returned collection, on the distributed client current now (or Dask's local
        schedulers when there is none), and the hook is closed when the summary is written.

        Bad records are refused before anything is written: ``check_records`` (on by
        default) reads every partition once (all columns but the clip bytes) and makes each
        check a writer would, then what only shows across partitions (a chunk split across
        partitions, one clip uuid in two chunks), and raises
        :class:`~dask_clipwriter.records.RecordError` naming the record and column. That is
        cheap for records read from Parquet; records computed by a function (``from_map``)
        are computed once more for it, so pass ``check_records=False`` where records are
        right by construction (the batch job does). Without it each partition is still
        checked before its own first file. ``check_partitioning`` is its former name.

        ``producer``: the settings of whatever made the records that decide their contents
        (the job passes its stages' settings). They are recorded in the dataset's manifest
        beside the writer's own, and a later run into the same dataset with other values is
        refused (:class:`~dask_clipwriter.manifest.SettingsChangedError`) unless
        ``existing="overwrite"``, which replaces the dataset. A real run after a dry run
        replaces the dry run's documents.
        """
        start = self.check_dataset(producer)
        if start.remove:
            log.warning("replacing the dataset at %s: its settings differ and existing='overwrite' was asked for",
                        self.settings.output_path)
        if check_partitioning is not None:
            check_records = check_partitioning
        # Chunks in the run: counted by the check, else one per partition (as the job makes them).
        chunks = 0 if clips is None else clips.npartitions
        if check_records and clips is not None:
            chunks = precheck_records(clips, self.settings.input_path)
        run_start = dask.delayed(start_run, pure=False)(self.settings, start)
        if videos is not None:
            # Video records are small: checked here, on the client, before any task runs.
            videos = videos if isinstance(videos, pd.DataFrame) else videos.compute()
            check_video_records(normalise_video_frame(videos), self.settings.input_path)
        hook = _progress_hook(progress, clips)
        run = uuid.uuid4().hex if hook is not None else None
        videos = video_collection(videos)
        stats = None if clips is None else stats_collection(clips, self.settings, videos, run, run_start)
        summary = summary_collection(stats, self.settings, videos, start.manifest, run_start, chunks=chunks, run=run)
        client = _current_client()
        if not compute:
            if hook is not None:
                # Computed later, by the caller: the listener is closed by the run's last task.
                Listener(run, hook, client)
            return summary
        with listening(run, hook, client) if hook is not None else contextlib.nullcontext():
            result = client.compute(summary).result() if client is not None else summary.compute()
        return result.iloc[0]

    def check_dataset(self, producer: Mapping[str, Any] | None = None) -> RunStart:
        """How a run with these settings (and ``producer``'s) would start on the dataset at
        output_path, from its manifest; raises SettingsChangedError for a run that would mix
        two datasets. ``write`` calls it first; a job can call it before it starts a cluster."""
        path = layout.manifest_path(self.settings.output_path)
        old = read_manifest(make_sink(self.settings).read_if_exists(path), path)
        # As JSON gives them back (tuples become lists), so a later run compares like with like.
        producer = json.loads(json.dumps(dict(producer or {})))
        new = Manifest(settings=content_settings(self.settings.public_dict()), producer=producer,
                       written_by=f"dask_clipwriter {__version__}")
        return plan_run_start(old, new, output_path=self.settings.output_path, existing=self.settings.existing,
                              all_outputs=layout.dataset_outputs(d for pair in EMBEDDING_ALGORITHMS.values() for d in pair))


ClipWriterStage = ClipWriter


def _progress_hook(progress: bool | ProgressHook, clips) -> ProgressHook | None:
    if progress is True:
        return ChunkProgress(clips.npartitions, unit="partitions") if clips is not None else None
    return progress or None


def _current_client():
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None
